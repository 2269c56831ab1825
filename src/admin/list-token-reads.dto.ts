import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Matches, Max, Min } from 'class-validator';
import { TOKEN_READ_OUTCOMES, type TokenReadOutcome } from '../audit/token-read.entity';
import { IsAuditTime, toInteger } from './list-audit.dto';

const SLUG = /^[a-z][a-z0-9_-]{1,63}$/;
const ID = /^[1-9][0-9]{0,9}$/;
const MAX_ID = 2 ** 31 - 1;
const toId = ({ value }: { value: unknown }) =>
  typeof value === 'string' && ID.test(value) && Number(value) <= MAX_ID ? Number(value) : value;

export class ListTokenReadsDto {
  @ApiPropertyOptional({ description: 'Reads of this account' })
  @IsOptional()
  @Transform(toId)
  @IsInt({ message: 'must be an account id' })
  accountId?: number;

  @ApiPropertyOptional({ description: "Reads of this user's accounts" })
  @IsOptional()
  @Transform(toId)
  @IsInt({ message: 'must be a user id' })
  userId?: number;

  @ApiPropertyOptional({
    description: 'Reads by this caller (`connectors-api-token` for CONNECTORS_API_TOKEN)',
  })
  @IsOptional()
  @Matches(SLUG, { message: 'must be a caller name' })
  caller?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @Matches(SLUG, { message: 'must be a provider slug' })
  provider?: string;

  @ApiPropertyOptional({ enum: TOKEN_READ_OUTCOMES })
  @IsOptional()
  @IsIn(TOKEN_READ_OUTCOMES, { message: `must be one of ${TOKEN_READ_OUTCOMES.join(', ')}` })
  outcome?: TokenReadOutcome;

  @ApiPropertyOptional({ description: 'ISO 8601 time: reads at or after it' })
  @IsOptional()
  @IsAuditTime()
  since?: string;

  @ApiPropertyOptional({ description: 'ISO 8601 time: reads before it' })
  @IsOptional()
  @IsAuditTime()
  until?: string;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page' })
  @IsOptional()
  @Matches(/^[1-9][0-9]{0,17}$/, { message: 'must be a cursor returned by this route' })
  cursor?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer from 1 to 1000' })
  @Min(1, { message: 'must be an integer from 1 to 1000' })
  @Max(1000, { message: 'must be an integer from 1 to 1000' })
  limit?: number;
}
