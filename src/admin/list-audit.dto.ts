import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  isISO8601,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateBy,
} from 'class-validator';
import { AUDIT_OUTCOMES, type AuditOutcome } from '../audit/admin-audit-event.entity';

/**
 * An ISO 8601 time that JavaScript reads as a time: week dates (`2009-W01-1`), ordinal dates
 * (`2009-123`) and the basic format (`20200101T000000Z`) are ISO 8601 but would reach the
 * database as an invalid date.
 */
export function IsAuditTime(): PropertyDecorator {
  return ValidateBy({
    name: 'isAuditTime',
    validator: {
      validate: (value: unknown) =>
        typeof value === 'string' && isISO8601(value, { strict: true }) && !Number.isNaN(Date.parse(value)),
      defaultMessage: () => 'must be an ISO 8601 date or date-time such as 2026-01-31T12:00:00Z',
    },
  });
}

export const toInteger = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^[0-9]{1,4}$/.test(value) ? Number(value) : value;

export class ListAuditDto {
  @ApiPropertyOptional({ enum: AUDIT_OUTCOMES })
  @IsOptional()
  @IsIn(AUDIT_OUTCOMES, { message: `must be one of ${AUDIT_OUTCOMES.join(', ')}` })
  outcome?: AuditOutcome;

  @ApiPropertyOptional({ description: 'Exact action, e.g. `POST /admin/rotations`' })
  @IsOptional()
  @IsString()
  @MaxLength(200, { message: 'must be at most 200 characters' })
  // PostgreSQL text cannot hold NUL; no action holds a control character.
  @Matches(/^\P{Cc}*$/u, { message: 'must not contain control characters' })
  action?: string;

  @ApiPropertyOptional({ description: 'ISO 8601 time: events at or after it' })
  @IsOptional()
  @IsAuditTime()
  since?: string;

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
