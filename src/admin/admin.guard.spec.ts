import { ForbiddenException, UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AdminGuard } from './admin.guard';

function contextWith(authorization?: string): ExecutionContext {
  const request = { headers: authorization === undefined ? {} : { authorization } };
  return { switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext;
}

describe('AdminGuard', () => {
  const adminToken = randomBytes(24).toString('base64url');
  const guard = new AdminGuard({
    adminApiToken: adminToken,
    connectorsApiToken: undefined,
    adminRateLimitPerMinute: 60,
  });

  it('lets the admin token through', () => {
    expect(guard.canActivate(contextWith(`Bearer ${adminToken}`))).toBe(true);
  });

  it('answers 401 without a bearer token', () => {
    expect(() => guard.canActivate(contextWith())).toThrow(UnauthorizedException);
    expect(() => guard.canActivate(contextWith(`Basic ${adminToken}`))).toThrow(UnauthorizedException);
  });

  it('answers 403 to any other token, including one that differs by a character', () => {
    expect(() => guard.canActivate(contextWith(`Bearer ${adminToken}x`))).toThrow(ForbiddenException);
    expect(() => guard.canActivate(contextWith(`Bearer ${adminToken.slice(0, -1)}`))).toThrow(
      ForbiddenException,
    );
  });

  it('stays closed when no admin token is configured', () => {
    const closed = new AdminGuard({
      adminApiToken: undefined,
      connectorsApiToken: undefined,
      adminRateLimitPerMinute: 60,
    });
    expect(() => closed.canActivate(contextWith(`Bearer ${adminToken}`))).toThrow(ForbiddenException);
  });
});
