/** How a caller should read a domain error; the error filter turns it into an HTTP status. */
export type DomainErrorKind =
  | 'invalid'
  | 'not_found'
  | 'conflict'
  | 'precondition_failed'
  | 'unavailable'
  | 'integrity'
  | 'internal';

/**
 * Base of every error a service throws on purpose. The code is stable and public;
 * the message must never contain a token, an envelope or key material.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  readonly kind: DomainErrorKind = 'internal';

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
