import { DomainError } from '../common/domain-error';

/**
 * Re-sealing failed outside any one row (a reseal thread died, or a bug): the batch is not
 * written and the job fails with this code. Only the code crosses threads, never a message.
 */
export class ResealFailedError extends DomainError {
  constructor(readonly code: string) {
    super(`re-sealing a batch failed (${code})`);
  }
}
