import { DomainError } from '../common/domain-error';
import type { CallerScope } from './caller';

export class CallerNotFoundError extends DomainError {
  readonly code = 'CALLER_NOT_FOUND';
  readonly kind = 'not_found';

  constructor(readonly callerName: string) {
    super(`No caller is registered as ${callerName}`);
  }
}

export class CallerExistsError extends DomainError {
  readonly code = 'CALLER_EXISTS';
  readonly kind = 'conflict';

  constructor(readonly callerName: string) {
    super(`A caller named ${callerName} is already registered`);
  }
}

/** The name of the built-in caller, or a name that is not a slug. */
export class CallerNameRefusedError extends DomainError {
  readonly code = 'CALLER_NAME_REFUSED';
  readonly kind = 'invalid';

  constructor(reason: string) {
    super(`Caller name refused: ${reason}`);
  }
}

/** A rotation is running: its new secret and the old one are both active until it is finished. */
export class CallerRotationInProgressError extends DomainError {
  readonly code = 'CALLER_ROTATION_IN_PROGRESS';
  readonly kind = 'conflict';

  constructor(readonly callerName: string) {
    super(
      `Caller ${callerName} already has two active secrets; finish the rotation first (clients:rotate ${callerName} --finish)`,
    );
  }
}

export class CallerDisabledError extends DomainError {
  readonly code = 'CALLER_DISABLED';
  readonly kind = 'conflict';

  constructor(readonly callerName: string) {
    super(`Caller ${callerName} is disabled; register a new caller instead`);
  }
}

export class CallerScopeMissingError extends DomainError {
  readonly code = 'CALLER_SCOPE_MISSING';
  readonly kind = 'forbidden';

  constructor(
    readonly callerName: string,
    readonly scope: CallerScope | undefined,
  ) {
    super(
      scope === undefined
        ? `This route is open to no caller`
        : `Caller ${callerName} does not have the ${scope} scope this route requires`,
    );
  }
}

/** An account or session of a provider the caller is not limited to, named by the caller itself. */
export class CallerProviderNotAllowedError extends DomainError {
  readonly code = 'CALLER_PROVIDER_NOT_ALLOWED';
  readonly kind = 'forbidden';

  constructor(
    readonly callerName: string,
    readonly provider: string,
  ) {
    super(`Caller ${callerName} may not use accounts of ${provider}`);
  }
}
