import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { Request } from 'express';
import { bearerTokenOf, secretsEqual } from '../common/bearer-token';
import { authConfig } from '../config/configuration';

/**
 * Admin routes: `Authorization: Bearer <ADMIN_API_TOKEN>`. 401 without a token, 403 with any
 * other token (the service token included); closed when no admin token is configured.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(@Inject(authConfig.KEY) private readonly auth: ConfigType<typeof authConfig>) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.auth.adminApiToken;
    const presented = bearerTokenOf(context.switchToHttp().getRequest<Request>());
    if (!presented) throw new UnauthorizedException('An admin bearer token is required');
    if (!expected) throw new ForbiddenException('Admin routes are closed: ADMIN_API_TOKEN is not configured');
    if (!secretsEqual(presented, expected))
      throw new ForbiddenException('This token does not grant admin access');
    return true;
  }
}
