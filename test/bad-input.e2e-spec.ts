import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import { ConfigurationError } from '../src/config/configuration.error';
import { validateEnvironment } from '../src/config/env.validation';
import { AccountTokensUnreadableError } from '../src/connectors/external-account.errors';
import { ExternalAccountsService } from '../src/connectors/external-accounts.service';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { countAccounts, tokenColumnsOf } from './support/fixtures';

const SERVICE_TOKEN = randomBytes(24).toString('base64url');
const KEY = randomBytes(32).toString('base64');
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1000);

const tokenField = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.object(),
);
const tokensLike = fc.oneof(
  fc.record(
    { access_token: tokenField, refresh_token: tokenField, expires_in: tokenField, scope: tokenField },
    { requiredKeys: [] },
  ),
  fc.anything(),
);
const bodyLike = fc.oneof(
  fc.record(
    {
      provider: fc.oneof(fc.constantFrom('notion', 'google_drive'), fc.string()),
      tokens: tokensLike,
      email: fc.anything(),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue(),
);
const pathId = fc.oneof(
  fc.integer().map(String),
  fc.bigInt().map(String),
  fc.string({ minLength: 1 }).map(encodeURIComponent),
  fc.constantFrom('0', '-1', '2147483648', '1e3', '0x10', '01', ' 1'),
);

describe('bad input', () => {
  let testApp: TestApp;
  let ownAccountId: number;
  const auth = { Authorization: `Bearer ${SERVICE_TOKEN}` };
  const http = () => request(testApp.app.getHttpServer());
  const count = () => countAccounts(testApp.dataSource);

  beforeAll(async () => {
    testApp = await createTestApp({
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: KEY,
      LOG_LEVEL: 'error',
    });
    await truncateAll(testApp.dataSource);
    const created = await http()
      .post('/users/1/accounts')
      .set(auth)
      .send({ provider: 'notion', tokens: { access_token: 'a' } });
    ownAccountId = created.body.id;
  });
  afterAll(() => testApp.close());

  it('answers random create bodies with 201 or a 4xx, and writes a row only on 201', async () => {
    await fc.assert(
      fc.asyncProperty(bodyLike, async (body) => {
        const before = await count();
        const response = await http()
          .post('/users/2/accounts')
          .set(auth)
          .set('Content-Type', 'application/json')
          .send(JSON.stringify(body) ?? 'null');
        expect([201, 400, 413]).toContain(response.status);
        expect(await count()).toBe(before + (response.status === 201 ? 1 : 0));
      }),
      { numRuns: RUNS },
    );
  });

  it('answers random token updates with 200 or 400 and never changes the row on 400', async () => {
    await fc.assert(
      fc.asyncProperty(tokensLike, async (body) => {
        const before = await tokenColumnsOf(testApp.dataSource, ownAccountId);
        const response = await http()
          .put(`/users/1/accounts/${ownAccountId}/tokens`)
          .set(auth)
          .set('Content-Type', 'application/json')
          .send(JSON.stringify(body) ?? 'null');
        expect([200, 400]).toContain(response.status);
        const after = await tokenColumnsOf(testApp.dataSource, ownAccountId);
        if (response.status === 400) expect(after).toEqual(before);
        else expect(after.version).toBe(before.version + 1);
      }),
      { numRuns: RUNS },
    );
  });

  it("answers random path ids with 400 or 404, never another user's tokens", async () => {
    await fc.assert(
      fc.asyncProperty(pathId, pathId, async (userId, id) => {
        // The create property above gave user 2 accounts of its own; a pair naming one is no bad input.
        const [owned] = await testApp.dataSource.query(
          `SELECT 1 FROM external_accounts WHERE user_id::text = $1 AND id::text = $2`,
          [decodeURIComponent(userId), decodeURIComponent(id)],
        );
        fc.pre(owned === undefined);
        const response = await http().get(`/users/${userId}/accounts/${id}/tokens`).set(auth);
        expect([400, 404]).toContain(response.status);
      }),
      { numRuns: RUNS },
    );
    await http().get(`/users/2/accounts/${ownAccountId}/tokens`).set(auth).expect(404);
  });

  it('refuses random strings in every envelope field with a typed error, never a value', async () => {
    const accounts = testApp.app.get(ExternalAccountsService);
    const [{ access_token: stored }] = await testApp.dataSource.query(
      `SELECT access_token FROM external_accounts WHERE id = $1`,
      [ownAccountId],
    );
    const envelope = JSON.parse(stored);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('kid', 'nonce', 'ct', 'tag', '_enc'),
        fc.string(),
        async (field, value) => {
          fc.pre(value !== envelope[field]);
          const forged = JSON.stringify({ ...envelope, [field]: value });
          await testApp.dataSource.query(`UPDATE external_accounts SET access_token = $1 WHERE id = $2`, [
            forged,
            ownAccountId,
          ]);
          await expect(accounts.getAccountTokens(1, ownAccountId)).rejects.toBeInstanceOf(
            AccountTokensUnreadableError,
          );
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('bad key settings', () => {
  it('either accepts a random key string or refuses it without echoing it', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.base64String(),
          fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b).toString('base64')),
        ),
        (value) => {
          try {
            validateEnvironment({
              NODE_ENV: 'test',
              WORKFLOWS_ARTIFACT_ENC_KEY: value,
              WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: value,
            });
            if (value.trim() !== '') expect(Buffer.from(value.trim(), 'base64')).toHaveLength(32);
          } catch (error) {
            expect(error).toBeInstanceOf(ConfigurationError);
            if (value.trim().length > 3) expect((error as Error).message).not.toContain(value.trim());
          }
        },
      ),
      { numRuns: RUNS * 5 },
    );
  });
});
