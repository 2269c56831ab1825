import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';

export class StartRotationDto {
  @ApiPropertyOptional({ description: 'Open every candidate and report, writing nothing to accounts' })
  @IsOptional()
  @IsBoolean()
  dryRun?: boolean;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 10000,
    description: 'Accounts per batch (default ROTATION_BATCH_SIZE)',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10000)
  batchSize?: number;
}
