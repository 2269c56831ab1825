import { CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { Request } from 'express';
import { bearerTokenOf, secretsEqual } from '../common/bearer-token';
import { authConfig } from '../config/configuration';

/** Service routes: `Authorization: Bearer <CONNECTORS_API_TOKEN>`; closed when no token is configured. */
@Injectable()
export class ServiceTokenGuard implements CanActivate {
  constructor(@Inject(authConfig.KEY) private readonly auth: ConfigType<typeof authConfig>) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.auth.connectorsApiToken;
    const presented = bearerTokenOf(context.switchToHttp().getRequest<Request>());
    if (!expected)
      throw new UnauthorizedException('Service routes are closed: CONNECTORS_API_TOKEN is not configured');
    if (!presented || !secretsEqual(presented, expected)) {
      throw new UnauthorizedException('A valid service bearer token is required');
    }
    return true;
  }
}
