import { DomainError } from '../common/domain-error';

/**
 * AUDIT_FAIL_CLOSED: a token read is refused while its record could not be written (the
 * records waiting are too many, or the oldest has waited longer than AUDIT_MAX_LAG_SECONDS).
 */
export class AuditUnavailableError extends DomainError {
  readonly code = 'AUDIT_UNAVAILABLE';
  readonly kind = 'unavailable';

  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}
