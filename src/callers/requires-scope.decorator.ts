import { applyDecorators, createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { ApiForbiddenResponse } from '@nestjs/swagger';
import type { Request } from 'express';
import type { Caller, CallerScope } from './caller';

export const SCOPE_METADATA = 'connectors:callerScope';

/** The one scope a service route (or every route of a controller) requires of its caller. */
export function RequiresScope(scope: CallerScope) {
  return applyDecorators(
    SetMetadata(SCOPE_METADATA, scope),
    ApiForbiddenResponse({ description: `CALLER_SCOPE_MISSING: the caller does not have ${scope}` }),
  );
}

const CALLER = Symbol('caller');

export function attachCaller(request: Request, caller: Caller): void {
  (request as Request & { [CALLER]?: Caller })[CALLER] = caller;
}

/** The caller CallerGuard resolved; a route without the guard has none, which is a bug. */
export function callerOf(request: Request): Caller {
  const caller = (request as Request & { [CALLER]?: Caller })[CALLER];
  if (!caller) throw new Error('no caller on this request: the route lacks CallerGuard');
  return caller;
}

/** The handler parameter that receives the caller. */
export const CurrentCaller = createParamDecorator((_data: unknown, context: ExecutionContext) =>
  callerOf(context.switchToHttp().getRequest<Request>()),
);
