import { QueryRunnerAlreadyReleasedError } from 'typeorm';
import { errorCodeOf } from './domain-error';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Driver not Connected|terminating connection/i;
// Serialization failure, deadlock, lock timeout: the transaction can simply be run again.
const RETRYABLE_SQL_STATES = new Set(['40001', '40P01', '55P03']);

/** A string property of an error object (TypeORM copies `code` and `constraint` from the driver). */
function stringField(error: unknown, field: 'code' | 'constraint'): string | undefined {
  const value =
    typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[field] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/**
 * True for failures to reach PostgreSQL (refused, reset, timed out, server shutting down),
 * as opposed to a query the server rejected.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  // TypeORM releases a query runner whose connection broke; its next statement fails this way.
  if (error instanceof QueryRunnerAlreadyReleasedError) return true;
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    const code = stringField(current, 'code');
    if (code && (NETWORK_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P03')) {
      return true;
    }
    if (current instanceof Error && UNAVAILABLE_MESSAGES.test(current.message)) return true;
    current =
      (current as { driverError?: unknown; cause?: unknown }).driverError ??
      (current as { cause?: unknown }).cause;
  }
  return false;
}

// Statement timeout (query_canceled) and lock timeout (lock_not_available).
const TIMEOUT_SQL_STATES = new Set(['57014', '55P03']);
/** pg's pool, and the embedded driver, when no connection was free in time. */
const POOL_TIMEOUT_MESSAGE = /^timeout exceeded when trying to connect$/;

/**
 * True when the database did not serve a statement in time: no pooled connection was free, a
 * lock was not granted, or the statement ran too long (the DATABASE_*_TIMEOUT_MS settings).
 */
export function isDatabaseTimeout(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    if (TIMEOUT_SQL_STATES.has(stringField(current, 'code') ?? '')) return true;
    if (current instanceof Error && POOL_TIMEOUT_MESSAGE.test(current.message)) return true;
    current =
      (current as { driverError?: unknown; cause?: unknown }).driverError ??
      (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The SQLSTATE of a database error, if any. */
export function sqlStateOf(error: unknown): string | undefined {
  const code = stringField(error, 'code');
  return code && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The constraint or index a database error names (unique violations), if any. */
export function constraintOf(error: unknown): string | undefined {
  return stringField(error, 'constraint');
}

/** A transaction that failed this way rolled back entirely and can be retried as is. */
export function isTransient(error: unknown): boolean {
  return isDatabaseUnavailable(error) || RETRYABLE_SQL_STATES.has(sqlStateOf(error) ?? '');
}

/**
 * A short code to record or log for any error, read as a database error first: its SQLSTATE, or
 * DATABASE_UNAVAILABLE, else `errorCodeOf` (a domain error's code or the class name). Never its
 * message.
 */
export function databaseErrorCodeOf(error: unknown): string {
  const sqlState = sqlStateOf(error);
  if (sqlState) return `SQLSTATE_${sqlState}`;
  if (isDatabaseUnavailable(error)) return 'DATABASE_UNAVAILABLE';
  return errorCodeOf(error);
}
