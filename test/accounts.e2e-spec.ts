import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { KeyRing } from '../src/crypto/key-ring';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { legacyV1Envelope } from './support/legacy-envelope';
import { findLeaks, OutputCapture } from './support/output-capture';
import { countAccounts } from './support/fixtures';
import { bearer, newApiToken } from './support/auth';

const SERVICE_TOKEN = newApiToken('service');
const KEY = randomBytes(32).toString('base64');
const KID = KeyRing.fromSettings({ primary: KEY }).primaryKeyId as string;
const secrets: string[] = [KEY, SERVICE_TOKEN];

function tokenSet(extra: Record<string, unknown> = {}) {
  const tokens = {
    access_token: `ya29.${randomBytes(18).toString('base64url')}`,
    refresh_token: `1//${randomBytes(18).toString('base64url')}`,
    token_type: 'Bearer',
    expires_in: 3599,
    scope: 'https://www.googleapis.com/auth/drive.readonly',
    ...extra,
  };
  secrets.push(tokens.access_token, tokens.refresh_token);
  return tokens;
}

const capture = new OutputCapture();

beforeAll(() => capture.start());
afterAll(() => {
  const output = capture.stop();
  expect(findLeaks(output, secrets)).toEqual([]);
});

describe('accounts API with an encryption key', () => {
  let testApp: TestApp;
  const auth = bearer(SERVICE_TOKEN);
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    testApp = await createTestApp({
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: KEY,
      LOG_LEVEL: 'trace',
    });
  });
  afterAll(() => testApp.close());
  beforeEach(() => truncateAll(testApp.dataSource));

  async function create(userId = 7, tokens = tokenSet()) {
    const response = await http()
      .post(`/users/${userId}/accounts`)
      .set(auth)
      .send({ provider: 'google_drive', displayName: 'Work drive', email: 'a@example.com', tokens })
      .expect(201);
    return { account: response.body, tokens };
  }

  it('stores a v3 envelope bound to the user and the account, and a NULL refresh token', async () => {
    const { account, tokens } = await create();
    expect(account).toMatchObject({ userId: 7, provider: 'google_drive', version: 1, scopes: tokens.scope });
    expect(account.encryption).toEqual({ state: 'encrypted', keyId: KID });
    const [row] = await testApp.dataSource.query(
      `SELECT access_token, refresh_token, token_key_id FROM external_accounts WHERE id = $1`,
      [account.id],
    );
    expect(row.refresh_token).toBeNull();
    expect(row.token_key_id).toBe(KID);
    const envelope = JSON.parse(row.access_token);
    expect(Object.keys(envelope)).toEqual(['_enc', 'kid', 'nonce', 'ct', 'tag']);
    expect(envelope).toMatchObject({ _enc: 'aesgcm:v3', kid: KID });
    expect(row.access_token).not.toContain(tokens.access_token);
  });

  it('returns the token set with extra provider fields and a computed expiry', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { account, tokens } = await create(7, tokenSet({ id_token_hint: 'x', nested: { team: 'a' } }));
    const response = await http().get(`/users/7/accounts/${account.id}/tokens`).set(auth).expect(200);
    expect(response.body).toMatchObject({ ...tokens, nested: { team: 'a' } });
    expect(response.body.expires_at).toBeGreaterThanOrEqual(before + 3599);
    expect(account.tokenExpiresAt).toBe(new Date(response.body.expires_at * 1000).toISOString());
  });

  it('never returns tokens in metadata routes', async () => {
    const { account, tokens } = await create();
    const one = await http().get(`/users/7/accounts/${account.id}`).set(auth).expect(200);
    const list = await http().get(`/users/7/accounts`).set(auth).expect(200);
    expect(one.headers.etag).toBe('"1"');
    expect(list.body).toHaveLength(1);
    for (const body of [JSON.stringify(one.body), JSON.stringify(list.body)]) {
      expect(body).not.toContain(tokens.access_token);
      expect(body).not.toContain('aesgcm');
    }
  });

  it('keeps the refresh token when an update has none, and bumps the version', async () => {
    const { account, tokens } = await create();
    const fresh = `ya29.${randomBytes(12).toString('hex')}`;
    secrets.push(fresh);
    const updated = await http()
      .put(`/users/7/accounts/${account.id}/tokens`)
      .set(auth)
      .send({ access_token: fresh, expires_in: 60 })
      .expect(200);
    expect(updated.body.version).toBe(2);
    expect(updated.headers.etag).toBe('"2"');
    const read = await http().get(`/users/7/accounts/${account.id}/tokens`).set(auth).expect(200);
    expect(read.body.access_token).toBe(fresh);
    expect(read.body.refresh_token).toBe(tokens.refresh_token);
  });

  it('answers a stale If-Match with 412 and writes nothing', async () => {
    const { account } = await create();
    await http().put(`/users/7/accounts/${account.id}/tokens`).set(auth).send(tokenSet()).expect(200);
    const [before] = await testApp.dataSource.query(`SELECT * FROM external_accounts WHERE id = $1`, [
      account.id,
    ]);
    const stale = await http()
      .put(`/users/7/accounts/${account.id}/tokens`)
      .set(auth)
      .set('If-Match', '"1"')
      .send(tokenSet())
      .expect(412);
    expect(stale.body.error).toBe('ACCOUNT_VERSION_CONFLICT');
    const [after] = await testApp.dataSource.query(`SELECT * FROM external_accounts WHERE id = $1`, [
      account.id,
    ]);
    expect(after).toEqual(before);
    await http()
      .put(`/users/7/accounts/${account.id}/tokens`)
      .set(auth)
      .set('If-Match', '2')
      .send(tokenSet())
      .expect(200);
  });

  it('refuses an envelope copied from another account instead of returning its tokens', async () => {
    const first = await create(7);
    const second = await create(7);
    await testApp.dataSource.query(
      `UPDATE external_accounts SET access_token = (SELECT access_token FROM external_accounts WHERE id = $1) WHERE id = $2`,
      [first.account.id, second.account.id],
    );
    const response = await http().get(`/users/7/accounts/${second.account.id}/tokens`).set(auth).expect(500);
    expect(response.body.error).toBe('ACCOUNT_TOKENS_UNREADABLE');
    expect(response.body.message).toContain('ENVELOPE_AUTH_FAILED');
    expect(JSON.stringify(response.body)).not.toContain(first.tokens.access_token);
  });

  it('reads a legacy v1 row of the original service and upgrades it to v3 on update', async () => {
    const legacy = tokenSet();
    const [{ id }] = await testApp.dataSource.query(
      `INSERT INTO external_accounts (user_id, provider, access_token) VALUES (7, 'notion', $1) RETURNING id`,
      [legacyV1Envelope(Buffer.from(KEY, 'base64'), legacy)],
    );
    const read = await http().get(`/users/7/accounts/${id}/tokens`).set(auth).expect(200);
    expect(read.body).toMatchObject({
      access_token: legacy.access_token,
      refresh_token: legacy.refresh_token,
    });
    const meta = await http().get(`/users/7/accounts/${id}`).set(auth).expect(200);
    expect(meta.body.encryption).toEqual({ state: 'legacy', keyId: null });
    await http()
      .put(`/users/7/accounts/${id}/tokens`)
      .set(auth)
      .send({ access_token: legacy.access_token })
      .expect(200);
    const [row] = await testApp.dataSource.query(
      `SELECT access_token, token_key_id FROM external_accounts WHERE id = $1`,
      [id],
    );
    expect(JSON.parse(row.access_token)._enc).toBe('aesgcm:v3');
    expect(row.token_key_id).toBe(KID);
    const again = await http().get(`/users/7/accounts/${id}/tokens`).set(auth).expect(200);
    expect(again.body.refresh_token).toBe(legacy.refresh_token);
  });

  it("scopes every route by user: another user's account is not found", async () => {
    const { account } = await create(7);
    const base = `/users/8/accounts/${account.id}`;
    await http().get(base).set(auth).expect(404);
    await http().get(`${base}/tokens`).set(auth).expect(404);
    await http().put(`${base}/tokens`).set(auth).send(tokenSet()).expect(404);
    await http().delete(base).set(auth).expect(404);
    expect((await http().get('/users/8/accounts').set(auth).expect(200)).body).toEqual([]);
    await http().get(`/users/7/accounts/${account.id}/tokens`).set(auth).expect(200);
  });

  it('deletes an account, then reports it as not found', async () => {
    const { account } = await create();
    await http().delete(`/users/7/accounts/${account.id}`).set(auth).expect(200);
    const again = await http().delete(`/users/7/accounts/${account.id}`).set(auth).expect(404);
    expect(again.body.error).toBe('ACCOUNT_NOT_FOUND');
    expect(await countAccounts(testApp.dataSource)).toBe(0);
  });

  it.each([
    ['a bad provider slug', { provider: 'Google Drive!', tokens: { access_token: 'x' } }, 'provider'],
    ['a missing access token', { provider: 'notion', tokens: { refresh_token: 'x' } }, 'tokens.access_token'],
    [
      'an oversized token',
      { provider: 'notion', tokens: { access_token: 'a'.repeat(8193) } },
      'tokens.access_token',
    ],
    [
      'a negative expiry',
      { provider: 'notion', tokens: { access_token: 'x', expires_in: -1 } },
      'tokens.expires_in',
    ],
    ['an unknown top-level field', { provider: 'notion', tokens: { access_token: 'x' }, owner: 1 }, 'owner'],
    ['a bad email', { provider: 'notion', email: 'not-an-email', tokens: { access_token: 'x' } }, 'email'],
  ])('rejects %s with 400 naming the field, not its value', async (_name, body, field) => {
    const response = await http().post('/users/7/accounts').set(auth).send(body).expect(400);
    expect(response.body.error).toBe('BAD_REQUEST');
    expect(response.body.details.some((detail: string) => detail.startsWith(`${field}`))).toBe(true);
    expect(JSON.stringify(response.body)).not.toContain('a'.repeat(100));
    expect(JSON.stringify(response.body)).not.toContain('not-an-email');
  });

  it.each(['0', '-1', 'abc', '2147483648', '1.5'])('rejects the path id %s with 400', async (id) => {
    await http().get(`/users/${id}/accounts`).set(auth).expect(400);
    await http().get(`/users/7/accounts/${id}/tokens`).set(auth).expect(400);
  });

  it('answers malformed JSON with 400 and an oversized body with 413, without echoing them', async () => {
    const token = `secret-${randomBytes(8).toString('hex')}`;
    secrets.push(token);
    const malformed = await http()
      .post('/users/7/accounts')
      .set(auth)
      .set('Content-Type', 'application/json')
      .send(`{"provider":"notion","tokens":{"access_token":"${token}"`)
      .expect(400);
    expect(malformed.body.error).toBe('MALFORMED_JSON');
    const big = await http()
      .post('/users/7/accounts')
      .set(auth)
      .send({ provider: 'notion', tokens: { access_token: token }, pad: 'x'.repeat(70 * 1024) })
      .expect(413);
    expect(big.body.error).toBe('PAYLOAD_TOO_LARGE');
    expect(JSON.stringify([malformed.body, big.body])).not.toContain(token);
  });

  it.each([
    ['no header', undefined],
    ['a wrong token', `Bearer ${randomBytes(24).toString('base64url')}`],
    ['a wrong scheme', `Basic ${SERVICE_TOKEN}`],
  ])('refuses %s with 401', async (_name, header) => {
    const call = http().get('/users/7/accounts');
    if (header) call.set('Authorization', header);
    const response = await call.expect(401);
    expect(response.body.error).toBe('UNAUTHORIZED');
  });
});

describe('accounts API without a key', () => {
  let testApp: TestApp;
  const auth = bearer(SERVICE_TOKEN);

  beforeAll(async () => {
    testApp = await createTestApp({ CONNECTORS_API_TOKEN: SERVICE_TOKEN });
  });
  afterAll(() => testApp.close());
  beforeEach(() => truncateAll(testApp.dataSource));

  it('stores plaintext columns and reads them back', async () => {
    const tokens = tokenSet();
    const created = await request(testApp.app.getHttpServer())
      .post('/users/3/accounts')
      .set(auth)
      .send({ provider: 'zotero', tokens })
      .expect(201);
    expect(created.body.encryption).toEqual({ state: 'plaintext', keyId: null });
    const [row] = await testApp.dataSource.query(`SELECT access_token, refresh_token FROM external_accounts`);
    expect(row).toEqual({ access_token: tokens.access_token, refresh_token: tokens.refresh_token });
    const read = await request(testApp.app.getHttpServer())
      .get(`/users/3/accounts/${created.body.id}/tokens`)
      .set(auth)
      .expect(200);
    expect(read.body).toMatchObject({
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
    });
  });

  it('refuses to read an envelope it has no key for', async () => {
    const [{ id }] = await testApp.dataSource.query(
      `INSERT INTO external_accounts (user_id, provider, access_token) VALUES (3, 'notion', $1) RETURNING id`,
      [legacyV1Envelope(randomBytes(32), tokenSet())],
    );
    const response = await request(testApp.app.getHttpServer())
      .get(`/users/3/accounts/${id}/tokens`)
      .set(auth)
      .expect(500);
    expect(response.body.error).toBe('ACCOUNT_TOKENS_UNREADABLE');
  });
});

describe('accounts API with encryption required', () => {
  let testApp: TestApp;
  const auth = bearer(SERVICE_TOKEN);

  beforeAll(async () => {
    testApp = await createTestApp({
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: KEY,
      CONNECTORS_REQUIRE_TOKEN_ENCRYPTION: 'true',
    });
  });
  afterAll(() => testApp.close());
  beforeEach(() => truncateAll(testApp.dataSource));

  it('refuses a plaintext row injected into the database', async () => {
    const [{ id }] = await testApp.dataSource.query(
      `INSERT INTO external_accounts (user_id, provider, access_token, refresh_token)
       VALUES (3, 'notion', 'injected-access', 'injected-refresh') RETURNING id`,
    );
    const response = await request(testApp.app.getHttpServer())
      .get(`/users/3/accounts/${id}/tokens`)
      .set(auth)
      .expect(500);
    expect(response.body.error).toBe('PLAINTEXT_TOKENS_REFUSED');
    expect(JSON.stringify(response.body)).not.toContain('injected');
  });
});

describe('accounts API with no service token configured', () => {
  it('keeps the routes closed', async () => {
    const testApp = await createTestApp({});
    try {
      const response = await request(testApp.app.getHttpServer())
        .get('/users/1/accounts')
        .set('Authorization', 'Bearer anything-at-all-here')
        .expect(401);
      expect(response.body.error).toBe('UNAUTHORIZED');
    } finally {
      await testApp.close();
    }
  });
});
