import {
  ForbiddenException,
  HttpException,
  UnauthorizedException,
  type ExecutionContext,
} from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AdminBudgets } from './admin-budgets';
import { AdminGuard } from './admin.guard';

function contextWith(authorization?: string, ip = '192.0.2.1'): ExecutionContext {
  const request = { ip, headers: authorization === undefined ? {} : { authorization } };
  const response = { setHeader: () => undefined };
  return {
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => response }),
  } as unknown as ExecutionContext;
}

function guardWith(settings: ConstructorParameters<typeof AdminBudgets>[0]): AdminGuard {
  return new AdminGuard(settings, new AdminBudgets(settings));
}

function statusOf(guard: AdminGuard, context: ExecutionContext): number {
  try {
    guard.canActivate(context);
    return 200;
  } catch (error) {
    if (error instanceof HttpException) return error.getStatus();
    throw error;
  }
}

describe('AdminGuard', () => {
  const adminToken = randomBytes(24).toString('base64url');
  const settings = {
    adminApiToken: adminToken,
    connectorsApiToken: undefined,
    adminRateLimitPerMinute: 60,
    failedAuthLimitPerMinute: 5,
  };
  const guard = guardWith(settings);

  it('lets the admin token through', () => {
    expect(guard.canActivate(contextWith(`Bearer ${adminToken}`))).toBe(true);
  });

  it('answers 401 without a bearer token', () => {
    expect(() => guard.canActivate(contextWith(undefined, '192.0.2.2'))).toThrow(UnauthorizedException);
    expect(() => guard.canActivate(contextWith(`Basic ${adminToken}`, '192.0.2.2'))).toThrow(
      UnauthorizedException,
    );
  });

  it('answers 403 to any other token, including one that differs by a character', () => {
    expect(() => guard.canActivate(contextWith(`Bearer ${adminToken}x`, '192.0.2.3'))).toThrow(
      ForbiddenException,
    );
    expect(() => guard.canActivate(contextWith(`Bearer ${adminToken.slice(0, -1)}`, '192.0.2.3'))).toThrow(
      ForbiddenException,
    );
  });

  it('answers as for a wrong token when no admin token is configured', () => {
    const closed = guardWith({ ...settings, adminApiToken: undefined });
    expect(() => closed.canActivate(contextWith(`Bearer ${adminToken}`))).toThrow(ForbiddenException);
    expect(() => closed.canActivate(contextWith())).toThrow(UnauthorizedException);
  });

  it('spends failed authentications from an address on their own budget, not the admin one', () => {
    const fresh = guardWith(settings);
    const statuses = Array.from({ length: 8 }, () =>
      statusOf(fresh, contextWith('Bearer wrong-token-123456')),
    );
    expect(statuses).toEqual([403, 403, 403, 403, 403, 429, 429, 429]);
    expect(statusOf(fresh, contextWith(`Bearer ${adminToken}`))).toBe(200);
    expect(statusOf(fresh, contextWith(undefined, '192.0.2.99'))).toBe(401);
  });

  it('limits admin requests per address on their own budget', () => {
    const fresh = guardWith({ ...settings, adminRateLimitPerMinute: 3 });
    const statuses = Array.from({ length: 4 }, () => statusOf(fresh, contextWith(`Bearer ${adminToken}`)));
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(statusOf(fresh, contextWith(`Bearer ${adminToken}`, '192.0.2.50'))).toBe(200);
  });
});
