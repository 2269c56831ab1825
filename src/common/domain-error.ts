/** How a caller should read a domain error; the error filter turns it into an HTTP status. */
export type DomainErrorKind =
  | 'invalid'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'precondition_failed'
  | 'unavailable'
  | 'bad_gateway'
  | 'integrity'
  | 'internal';

/**
 * Base of every error a service throws on purpose. The code is stable and public;
 * the message must never contain a token, an envelope or key material.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  readonly kind: DomainErrorKind = 'internal';
  /** Sent as `Retry-After` when set: how long a caller should wait before trying again. */
  readonly retryAfterSeconds?: number;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * A short code for an error: a domain error's code, else its class name; never its message,
 * which may quote data. `databaseErrorCodeOf` (database-errors.ts) also names a database
 * error's SQLSTATE; this one loads no database code, for the sealing threads.
 */
export function errorCodeOf(error: unknown): string {
  if (error instanceof DomainError) return error.code;
  return error instanceof Error ? error.constructor.name : 'UNKNOWN_ERROR';
}
