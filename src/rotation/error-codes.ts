import { isDatabaseUnavailable } from '../common/database-errors';
import { DomainError } from '../common/domain-error';

// Serialization failure, deadlock, lock timeout: the transaction can simply be run again.
const RETRYABLE_SQL_STATES = new Set(['40001', '40P01', '55P03']);

/** The SQLSTATE of a database error (TypeORM copies it from the driver error), if any. */
export function sqlStateOf(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The constraint or index a database error names (unique violations), if any. */
export function constraintOf(error: unknown): string | undefined {
  const name =
    typeof error === 'object' && error !== null ? (error as { constraint?: unknown }).constraint : undefined;
  return typeof name === 'string' ? name : undefined;
}

/** A batch that failed this way rolled back entirely and can be retried as is. */
export function isTransient(error: unknown): boolean {
  return isDatabaseUnavailable(error) || RETRYABLE_SQL_STATES.has(sqlStateOf(error) ?? '');
}

/** A short code to record or log for an error: never its message, which may quote data. */
export function errorCodeOf(error: unknown): string {
  if (error instanceof DomainError) return error.code;
  const sqlState = sqlStateOf(error);
  if (sqlState) return `SQLSTATE_${sqlState}`;
  if (isDatabaseUnavailable(error)) return 'DATABASE_UNAVAILABLE';
  return error instanceof Error ? error.constructor.name : 'UNKNOWN_ERROR';
}
