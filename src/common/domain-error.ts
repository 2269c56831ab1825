/**
 * Base of every error a service throws on purpose. The code is stable and public;
 * the message must never contain a token, an envelope or key material.
 * HTTP statuses are chosen in one place: the domain error filter.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
