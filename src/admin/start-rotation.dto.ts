import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';
import { BATCH_SIZE_LIMITS } from '../rotation/key-rotation-job.entity';

export class StartRotationDto {
  @ApiPropertyOptional({ description: 'Open every candidate and report, writing nothing to accounts' })
  @IsOptional()
  @IsBoolean()
  dryRun?: boolean;

  @ApiPropertyOptional({
    minimum: BATCH_SIZE_LIMITS.min,
    maximum: BATCH_SIZE_LIMITS.max,
    description: 'Accounts per batch (default ROTATION_BATCH_SIZE)',
  })
  @IsOptional()
  @IsInt()
  @Min(BATCH_SIZE_LIMITS.min)
  @Max(BATCH_SIZE_LIMITS.max)
  batchSize?: number;
}
