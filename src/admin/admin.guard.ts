import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { Request, Response } from 'express';
import { bearerTokenOf, secretsEqual } from '../common/bearer-token';
import { authConfig } from '../config/configuration';
import { AdminBudgets } from './admin-budgets';
import type { RateBudget } from './rate-budget';

/**
 * Admin routes: `Authorization: Bearer <ADMIN_API_TOKEN>`. 401 without a token, 403 with any
 * other token (the service token included); with no admin token configured every request is
 * answered as a wrong token would be.
 *
 * Two rate budgets per client address: one for requests with the admin token, one for every
 * other request, so anonymous traffic from an address (or from behind the same proxy) cannot
 * lock the operators out. Both answer 429 with `Retry-After` once spent.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(
    @Inject(authConfig.KEY) private readonly auth: ConfigType<typeof authConfig>,
    private readonly budgets: AdminBudgets,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<Request>();
    const presented = bearerTokenOf(request);
    const expected = this.auth.adminApiToken;
    const address = request.ip ?? 'unknown';
    if (presented !== undefined && expected !== undefined && secretsEqual(presented, expected)) {
      this.spend(this.budgets.admins, address, http.getResponse<Response>());
      return true;
    }
    this.spend(this.budgets.failures, address, http.getResponse<Response>());
    if (presented === undefined) throw new UnauthorizedException('An admin bearer token is required');
    throw new ForbiddenException('This token does not grant admin access');
  }

  private spend(budget: RateBudget, address: string, response: Response): void {
    const { allowed, retryAfterSeconds } = budget.take(address);
    if (allowed) return;
    response.setHeader('Retry-After', String(retryAfterSeconds));
    throw new HttpException(
      'Too many admin requests from this address; retry later',
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}
