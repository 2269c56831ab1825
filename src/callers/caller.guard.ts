import { CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { TokenReadAuditService } from '../audit/token-read-audit.service';
import { bearerTokenOf, secretsEqual } from '../common/bearer-token';
import { authConfig } from '../config/configuration';
import { BUILT_IN_CALLER, TOKEN_SCOPES, type Caller, type CallerScope } from './caller';
import { CallerScopeMissingError } from './callers.errors';
import { CallerAuthenticator } from './caller-authenticator';
import { attachCaller, SCOPE_METADATA } from './requires-scope.decorator';

/**
 * Service routes: `Authorization: Bearer <secret>` of a registered caller, or CONNECTORS_API_TOKEN
 * (the built-in caller with every scope). 401 for anything else; 403 CALLER_SCOPE_MISSING when
 * the caller lacks the scope the route declares with RequiresScope (a route that declares none
 * is open to nobody). A refused attempt on a token route is recorded with the caller's name.
 */
@Injectable()
export class CallerGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: CallerAuthenticator,
    private readonly tokenReads: TokenReadAuditService,
    @Inject(authConfig.KEY) private readonly auth: ConfigType<typeof authConfig>,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request>();
    const presented = bearerTokenOf(request);
    const caller = presented === undefined ? undefined : await this.identify(presented);
    if (!caller) throw new UnauthorizedException('A valid service bearer token is required');
    attachCaller(request, caller);
    const scope = this.reflector.getAllAndOverride<CallerScope | undefined>(SCOPE_METADATA, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (scope !== undefined && caller.scopes.has(scope)) return true;
    const refusal = new CallerScopeMissingError(caller.name, scope);
    if (scope !== undefined && TOKEN_SCOPES.has(scope))
      this.tokenReads.recordRefusal(request, caller.name, refusal.code);
    throw refusal;
  }

  private async identify(presented: string): Promise<Caller | undefined> {
    const builtIn = this.auth.connectorsApiToken;
    if (builtIn !== undefined && secretsEqual(presented, builtIn)) return BUILT_IN_CALLER;
    return this.authenticator.authenticate(presented);
  }
}
