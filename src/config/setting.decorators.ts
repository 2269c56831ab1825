import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, Matches, Max, Min, MinLength } from 'class-validator';

const toBoolean = ({ value }: { value: unknown }) => {
  if (value === undefined || value === '' || typeof value === 'boolean')
    return value === '' ? undefined : value;
  const text = String(value).trim().toLowerCase();
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  return value;
};
export const trimmed = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
const toInteger = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;

/** Unset is allowed: the setting keeps its default or stays undefined. */
const optionally = (optional: boolean | undefined) => (optional ? [IsOptional()] : []);

// Each composite lists its rules in the order stacked decorators were applied (bottom up), so a
// refusal names its rules in the same order as before.

export interface IntegerSettingOptions {
  min: number;
  max: number;
  /** Named in the refusal: "must be an integer number of seconds", "... port number". */
  unit?: 'seconds' | 'milliseconds' | 'hours' | 'days' | 'port';
  optional?: boolean;
}

/** An integer within `[min, max]`, given as decimal text. */
export function IntegerSetting({ min, max, unit, optional }: IntegerSettingOptions): PropertyDecorator {
  const range = `must be between ${min} and ${max}`;
  const integer =
    unit === undefined
      ? 'must be an integer'
      : unit === 'port'
        ? 'must be an integer port number'
        : `must be an integer number of ${unit}`;
  return applyDecorators(
    Max(max, { message: range }),
    Min(min, { message: range }),
    IsInt({ message: integer }),
    Transform(toInteger),
    ...optionally(optional),
  );
}

/** `true`/`1` or `false`/`0`, in any case. */
export function BooleanSetting({ optional }: { optional?: boolean } = {}): PropertyDecorator {
  return applyDecorators(
    IsBoolean({ message: 'must be true or false' }),
    Transform(toBoolean),
    ...optionally(optional),
  );
}

/** A bearer secret, trimmed (a secret file often ends with a newline); it cannot hold whitespace. */
export function BearerTokenSetting(): PropertyDecorator {
  return applyDecorators(
    Matches(/^\S*$/, { message: 'must not contain whitespace' }),
    MinLength(16, { message: 'must be at least 16 characters, not counting surrounding whitespace' }),
    IsString(),
    Transform(trimmed),
    IsOptional(),
  );
}
