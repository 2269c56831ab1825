import { randomBytes } from 'node:crypto';

/**
 * The one way the suites mint API tokens: random, 32 bytes, prefixed by role so a leak report
 * reads well. Each suite mints its own; a token is never reused across suites.
 */
export function newApiToken(role: 'service' | 'admin'): string {
  return `${role === 'service' ? 'svc' : 'adm'}_${randomBytes(32).toString('base64url')}`;
}

/** The Authorization header that presents `token`. */
export function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}
