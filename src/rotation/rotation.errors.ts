import { DomainError } from '../common/domain-error';

export class RotationNotFoundError extends DomainError {
  readonly code = 'ROTATION_NOT_FOUND';
  readonly kind = 'not_found';

  constructor(readonly jobId: number) {
    super(`Rotation job ${jobId} was not found`);
  }
}

export class RotationAlreadyActiveError extends DomainError {
  readonly code = 'ROTATION_ALREADY_ACTIVE';
  readonly kind = 'conflict';

  constructor(readonly activeJobId: number | undefined) {
    super(`Rotation job ${activeJobId ?? '(unknown)'} is already active; cancel it or let it finish first`);
  }
}

export class RotationNotCancellableError extends DomainError {
  readonly code = 'ROTATION_NOT_CANCELLABLE';
  readonly kind = 'conflict';

  constructor(
    readonly jobId: number,
    readonly status: string,
  ) {
    super(`Rotation job ${jobId} is ${status} and can no longer be cancelled`);
  }
}

/** Another worker's lease has not expired: it is presumed alive and still running the job. */
export class RotationLeaseHeldError extends DomainError {
  readonly code = 'ROTATION_LEASE_HELD';
  readonly kind = 'conflict';

  constructor(
    readonly jobId: number,
    readonly leaseOwner: string | null,
    readonly leaseExpiresAt: Date | null,
  ) {
    const until = leaseExpiresAt ? ` until ${leaseExpiresAt.toISOString()}` : '';
    super(`Rotation job ${jobId} is leased by ${leaseOwner ?? 'another worker'}${until}`);
  }
}

export class RotationPrimaryKeyMissingError extends DomainError {
  readonly code = 'ROTATION_PRIMARY_KEY_MISSING';
  readonly kind = 'unavailable';

  constructor() {
    super('Cannot rotate: WORKFLOWS_ARTIFACT_ENC_KEY (the primary key) is not configured');
  }
}

/** The job targets a key this process does not have as its primary: running it would seal under the wrong key. */
export class RotationTargetKeyMismatchError extends DomainError {
  readonly code = 'ROTATION_TARGET_KEY_MISMATCH';
  readonly kind = 'conflict';

  constructor(
    readonly jobId: number,
    readonly targetKeyId: string,
    readonly primaryKeyId: string,
  ) {
    super(
      `Rotation job ${jobId} targets key ${targetKeyId}, but this process's primary key is ${primaryKeyId}`,
    );
  }
}

export class RotationInvalidRequestError extends DomainError {
  readonly code = 'ROTATION_INVALID_REQUEST';
  readonly kind = 'invalid';

  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field}: ${rule}`);
  }
}

/**
 * Re-sealing failed outside any one row (a reseal thread died, or a bug): the batch is not
 * written and the job fails with this code. Only the code crosses threads, never a message.
 */
export class ResealFailedError extends DomainError {
  constructor(readonly code: string) {
    super(`re-sealing a batch failed (${code})`);
  }
}
