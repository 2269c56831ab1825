import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { TokenSet } from '../../src/connectors/token-set';
import { createTestApp, type TestApp, type TestEnv, type TestOverrides } from '../create-app';
import type { OAuthClient } from './authorization-server';
import { keyEnv, newKey, type TestKey } from './rotation-fixtures';
import { bearer, newApiToken } from './auth';

export const SERVICE_TOKEN = newApiToken('service');
export const ADMIN_TOKEN = newApiToken('admin');
export const service = bearer(SERVICE_TOKEN);
export const admin = bearer(ADMIN_TOKEN);

/** An instance with both API tokens, a key, and short refresh timeouts. */
export function refreshEnv(key: TestKey = newKey(), extra: TestEnv = {}, previous: TestKey[] = []): TestEnv {
  return keyEnv(key, previous, {
    CONNECTORS_API_TOKEN: SERVICE_TOKEN,
    ADMIN_API_TOKEN: ADMIN_TOKEN,
    PROVIDER_TIMEOUT_MS: '2000',
    REFRESH_LEASE_SECONDS: '4',
    REFRESH_WAIT_MS: '20000',
    ...extra,
  });
}

export function createRefreshApp(env: TestEnv, overrides?: TestOverrides): Promise<TestApp> {
  return createTestApp(env, overrides);
}

export async function putProvider(app: TestApp, provider: string, client: OAuthClient, tokenUrl: string) {
  return request(app.app.getHttpServer()).put(`/admin/providers/${provider}`).set(admin).send({
    tokenUrl,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    clientAuth: client.auth,
  });
}

/** An account whose access token expired a minute ago, holding `refreshToken`. */
export async function createExpiredAccount(
  app: TestApp,
  userId: number,
  provider: string,
  refreshToken: string | undefined,
): Promise<{ id: number; tokens: TokenSet }> {
  const tokens: TokenSet = {
    access_token: `expired_${randomBytes(16).toString('base64url')}`,
    token_type: 'Bearer',
    expires_at: Math.floor(Date.now() / 1000) - 60,
    scope: 'offline_access files.read',
  };
  if (refreshToken) tokens.refresh_token = refreshToken;
  const created = await request(app.app.getHttpServer())
    .post(`/users/${userId}/accounts`)
    .set(service)
    .send({ provider, tokens });
  if (created.status !== 201) throw new Error(`account not created (${created.status})`);
  return { id: (created.body as { id: number }).id, tokens };
}
