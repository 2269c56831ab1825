import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import { ConfigurationError } from '../src/config/configuration.error';
import { validateEnvironment } from '../src/config/env.validation';
import { AccountTokensUnreadableError } from '../src/connectors/external-account.errors';
import { ExternalAccountsService } from '../src/connectors/external-accounts.service';
import { createTestApp, type TestApp, type TestEnv, truncateAll } from './create-app';
import { countAccounts, describeIfEmbedded, itIfPostgres, sleep, tokenColumnsOf } from './support/fixtures';
import { newKey } from './support/rotation-fixtures';
import { directClient, randomSecret } from './support/safety-fixtures';
import { bearer, newApiToken } from './support/auth';

const SERVICE_TOKEN = newApiToken('service');
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

/** A fresh app on an emptied database, with one account of user 1 to update. */
async function appWithAccount(env: TestEnv): Promise<{ testApp: TestApp; accountId: number }> {
  const testApp = await createTestApp({ CONNECTORS_API_TOKEN: SERVICE_TOKEN, LOG_LEVEL: 'error', ...env });
  await truncateAll(testApp.dataSource);
  const created = await request(testApp.app.getHttpServer())
    .post('/users/1/accounts')
    .set(bearer(SERVICE_TOKEN))
    .send({ provider: 'notion', tokens: { access_token: 'a' } });
  return { testApp, accountId: created.body.id };
}

// Input handling does not depend on the database behind it: the PostgreSQL pass skips all but the
// shutdown case, which needs a server of its own on PostgreSQL.
describeIfEmbedded('bad input', () => {
  let testApp: TestApp;
  let ownAccountId: number;
  const auth = bearer(SERVICE_TOKEN);
  const http = () => request(testApp.app.getHttpServer());
  const count = () => countAccounts(testApp.dataSource);

  beforeAll(async () => {
    ({ testApp, accountId: ownAccountId } = await appWithAccount({ WORKFLOWS_ARTIFACT_ENC_KEY: KEY }));
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

describeIfEmbedded('bad key settings', () => {
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

const ADMIN_TOKEN = newApiToken('admin');
const key = newKey();

/** Any code point: NUL, control characters, lone surrogates, astral characters, and plain ASCII. */
const anyChar = fc
  .oneof(
    fc.integer({ min: 0x20, max: 0x7e }),
    fc.integer({ min: 0, max: 0x10ffff }),
    fc.constantFrom(0, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xfffe, 0x2028),
  )
  .map((codePoint) => String.fromCodePoint(codePoint));
const text = fc.string({ unit: anyChar, maxLength: 24 });
const json = fc.jsonValue({ stringUnit: anyChar, maxDepth: 3 });
const tokenSet = fc.record(
  {
    access_token: fc.oneof(fc.constant('ya29.valid'), text),
    refresh_token: fc.oneof(text, fc.constant(null)),
    token_type: text,
    scope: text,
    expires_in: fc.integer({ min: -1, max: 10 * 365 * 24 * 3600 + 1 }),
    expires_at: fc.oneof(
      fc.integer({ min: -1, max: 2 ** 31 }),
      fc.constantFrom(253_402_300_799, 253_402_300_800, 2 ** 40),
    ),
    extra_field: json,
  },
  { requiredKeys: ['access_token'] },
);
const createBody = fc.record(
  {
    provider: fc.oneof(fc.constant('notion'), text),
    displayName: text,
    email: fc.oneof(fc.constant('a@example.com'), text),
    providerMetadata: fc.dictionary(text, json, { maxKeys: 4 }),
    tokens: tokenSet,
  },
  { requiredKeys: ['provider', 'tokens'] },
);

/** Puts `token` somewhere inside `root` (as a value, or as an object key), following `steps`. */
function plant(root: unknown, steps: number[], token: string, asKey: boolean): unknown {
  if (root === null || typeof root !== 'object') return asKey ? { [token]: root ?? 1 } : token;
  const entries: [string | number, unknown][] = Array.isArray(root)
    ? root.map((value, index) => [index, value])
    : Object.entries(root);
  if (steps.length === 0 || entries.length === 0) {
    if (Array.isArray(root)) return [...root, asKey ? { [token]: 1 } : token];
    return { ...root, [asKey ? token : 'planted']: asKey ? 1 : token };
  }
  const [field, child] = entries[steps[0] % entries.length];
  const copy = (Array.isArray(root) ? [...root] : { ...root }) as Record<string | number, unknown>;
  copy[field] = plant(child, steps.slice(1), token, asKey);
  return copy;
}

/**
 * Beyond the random shapes above: text with every kind of code point (NUL and lone surrogates
 * that PostgreSQL refuses), secrets planted anywhere in a rejected body, and the admin credentials
 * against the service routes and state-changing admin routes.
 */
describeIfEmbedded('hostile input', () => {
  let testApp: TestApp;
  let accountId: number;
  const auth = bearer(SERVICE_TOKEN);
  const http = () => request(testApp.app.getHttpServer());
  const count = () => countAccounts(testApp.dataSource);

  beforeAll(async () => {
    ({ testApp, accountId } = await appWithAccount({
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      ADMIN_RATE_LIMIT_PER_MINUTE: '100000',
      WORKFLOWS_ARTIFACT_ENC_KEY: key.key,
      ROTATION_WORKER_ENABLED: 'false',
    }));
  });
  afterAll(() => testApp.close());

  it('answers create bodies with any code point in any text field with 201 or 400, never 500', async () => {
    await fc.assert(
      fc.asyncProperty(createBody, async (body) => {
        const before = await count();
        const response = await http().post('/users/2/accounts').set(auth).send(body);
        expect([201, 400]).toContain(response.status);
        expect(await count()).toBe(before + (response.status === 201 ? 1 : 0));
        if (response.status === 201) {
          const read = await http().get(`/users/2/accounts/${response.body.id}/tokens`).set(auth).expect(200);
          expect(read.body).toMatchObject(JSON.parse(JSON.stringify(body.tokens)));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('answers token updates with any code point and any If-Match with 200, 400 or 412, never 500', async () => {
    await fc.assert(
      fc.asyncProperty(tokenSet, fc.option(text, { nil: undefined }), async (tokens, ifMatch) => {
        const before = await tokenColumnsOf(testApp.dataSource, accountId);
        const call = http().put(`/users/1/accounts/${accountId}/tokens`).set(auth);
        if (ifMatch !== undefined) call.set('If-Match', ifMatch.replace(/[^\x20-\x7e]/g, ''));
        const response = await call.send(tokens);
        expect([200, 400, 412]).toContain(response.status);
        const after = await tokenColumnsOf(testApp.dataSource, accountId);
        if (response.status === 200) expect(after.version).toBe(before.version + 1);
        else expect(after).toEqual(before);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses deeply nested provider metadata with 400', async () => {
    let nested: unknown = 'leaf';
    for (let depth = 0; depth < 5000; depth += 1) nested = { a: nested };
    const response = await http()
      .post('/users/2/accounts')
      .set(auth)
      .send({ provider: 'notion', providerMetadata: nested, tokens: { access_token: 'a' } });
    expect(response.status).toBe(400);
  });

  it('never echoes a token planted anywhere in a rejected body, as a value or as a key', async () => {
    const routes = [
      ['post', '/users/3/accounts'],
      ['put', () => `/users/1/accounts/${accountId}/tokens`],
      ['post', '/admin/rotations'],
    ] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.oneof(createBody, tokenSet, json),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.boolean(),
        async ([method, path], body, steps, asKey) => {
          const token = randomSecret('ya29.');
          const sent = plant(body, steps, token, asKey);
          const url = typeof path === 'function' ? path() : path;
          const credential = url.startsWith('/admin') ? ADMIN_TOKEN : SERVICE_TOKEN;
          const response = await http()
            [method](url)
            .set('Authorization', `Bearer ${credential}`)
            .send(sent as object);
          expect(response.status).not.toBe(500);
          // A written account's metadata (names, email, scopes) comes back; nothing else may repeat what was sent.
          const { displayName, email, scopes, providerMetadata, ...rest } =
            response.status < 300 ? response.body : {};
          const answer = response.status < 300 ? JSON.stringify(rest) : response.text;
          expect(`${JSON.stringify(response.headers)}${answer}`).not.toContain(token.slice(5));
          void [displayName, email, scopes, providerMetadata];
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describeIfEmbedded('credentials across the two surfaces', () => {
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());
  const admin = bearer(ADMIN_TOKEN);

  beforeAll(async () => {
    testApp = await createTestApp({
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: key.key,
      ROTATION_WORKER_ENABLED: 'false',
    });
    await truncateAll(testApp.dataSource);
  });
  afterAll(() => testApp.close());

  const SERVICE_ROUTES: [method: 'get' | 'post' | 'put' | 'delete', path: string][] = [
    ['get', '/users/1/accounts'],
    ['post', '/users/1/accounts'],
    ['get', '/users/1/accounts/:id'],
    ['get', '/users/1/accounts/:id/tokens'],
    ['put', '/users/1/accounts/:id/tokens'],
    ['delete', '/users/1/accounts/:id'],
  ];

  it.each(SERVICE_ROUTES)(
    'refuses the admin token on %s %s with 401 and changes nothing',
    async (method, path) => {
      const created = await http()
        .post('/users/1/accounts')
        .set('Authorization', `Bearer ${SERVICE_TOKEN}`)
        .send({ provider: 'notion', tokens: { access_token: 'a' } })
        .expect(201);
      const before = await testApp.dataSource.query(`SELECT * FROM external_accounts ORDER BY id`);
      const response = await http()
        [method](path.replace(':id', String(created.body.id)))
        .set(admin)
        .send({ provider: 'notion', tokens: { access_token: 'b' }, access_token: 'b' });
      expect([response.status, response.body.error]).toEqual([401, 'UNAUTHORIZED']);
      expect(await testApp.dataSource.query(`SELECT * FROM external_accounts ORDER BY id`)).toEqual(before);
    },
  );

  it.each([
    ['no token', undefined, 401],
    ['the service token', `Bearer ${SERVICE_TOKEN}`, 403],
    [
      'the admin token with one character changed',
      `Bearer ${ADMIN_TOKEN.slice(0, -1)}${ADMIN_TOKEN.endsWith('A') ? 'B' : 'A'}`,
      403,
    ],
    ['an empty bearer', 'Bearer ', 401],
    ['two tokens', `Bearer ${ADMIN_TOKEN} ${ADMIN_TOKEN}`, 401],
  ])('refuses %s on the state-changing admin routes and changes no job', async (_name, header, status) => {
    await truncateAll(testApp.dataSource);
    const pending = await http().post('/admin/rotations').set(admin).send({}).expect(202);
    const before = await testApp.dataSource.query(`SELECT * FROM key_rotation_jobs ORDER BY id`);
    for (const path of ['/admin/rotations', `/admin/rotations/${pending.body.id}/cancel`]) {
      const call = http().post(path).send({ dryRun: true });
      if (header !== undefined) call.set('Authorization', header);
      expect((await call).status).toBe(status);
    }
    expect(await testApp.dataSource.query(`SELECT * FROM key_rotation_jobs ORDER BY id`)).toEqual(before);
  });

  it('audits a token pasted into an admin path without writing the token', async () => {
    const pasted = randomSecret('ya29.');
    const response = await http().get(`/admin/rotations/${pasted}`).set(admin).expect(400);
    const audit = await http().get('/admin/audit').set(admin).expect(200);
    const event = audit.body.events.find(
      (entry: { requestId: string }) => entry.requestId === response.headers['x-request-id'],
    );
    expect(event).toMatchObject({
      action: 'GET /admin/rotations/:id',
      statusCode: 400,
      outcome: 'rejected',
    });
    expect(JSON.stringify(audit.body)).not.toContain(pasted.slice(5));
  });
});

describe('admin audit trail at shutdown', () => {
  itIfPostgres('keeps the audit event of every admin request answered before the server stops', async () => {
    const first = await createTestApp({ ADMIN_API_TOKEN: ADMIN_TOKEN, ROTATION_WORKER_ENABLED: 'false' });
    await truncateAll(first.dataSource);
    // A slow database: the audit writes of the answered requests are still waiting when the server stops.
    const blocker = await directClient();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE admin_audit_events IN SHARE MODE');
    try {
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, index) =>
          request(first.app.getHttpServer())
            .get(index % 2 === 0 ? '/admin/keys' : '/admin/rotations')
            .set('Authorization', `Bearer ${index === 1 ? SERVICE_TOKEN : ADMIN_TOKEN}`),
        ),
      );
      const closing = first.close();
      await sleep(300);
      await blocker.query('COMMIT');
      await closing;
      const { rows } = await blocker.query<{ request_id: string }>(
        `SELECT request_id FROM admin_audit_events`,
      );
      expect(rows.map((row) => row.request_id).sort()).toEqual(
        answers.map((answer) => answer.headers['x-request-id']).sort(),
      );
    } finally {
      await blocker.end();
    }
  });
});
