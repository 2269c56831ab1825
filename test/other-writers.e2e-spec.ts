import fc from 'fast-check';
import request from 'supertest';
import { inspectEnvelope } from '../src/crypto/envelope.codec';
import { truncateAll } from './create-app';
import { legacyV1Envelope, pythonJsonDumps, v2Envelope } from './support/legacy-envelope';
import { flipBit, resized, withFields } from './support/safety-envelopes';
import { randomSecret } from './support/safety-fixtures';
import { createRotationApp, keyEnv, newKey, type RotationApp } from './support/rotation-fixtures';
import { bearer, newApiToken } from './support/auth';

const keyA = newKey();
const keyB = newKey();
const SERVICE_TOKEN = newApiToken('service');
const auth = bearer(SERVICE_TOKEN);
const keyBytes = (key: { key: string }) => Buffer.from(key.key, 'base64');

/** Token dicts as the original service's connectors passed them to `json.dumps(..., default=str)`. */
const PYTHON_TOKEN_SETS: Record<string, Record<string, unknown>> = {
  'extra provider fields': {
    access_token: randomSecret('ya29.'),
    refresh_token: randomSecret('1//'),
    token_type: 'Bearer',
    expires_in: 3599,
    scope: 'https://www.googleapis.com/auth/drive.readonly',
    id_token: randomSecret('eyJ'),
    workspace: { id: 'w-1', name: 'Équipe', icon: null },
    bot_id: 'b-7',
  },
  'a null refresh token': {
    access_token: randomSecret('secret_'),
    refresh_token: null,
    token_type: 'bearer',
  },
  'non-ASCII text escaped as \\uXXXX': {
    access_token: randomSecret('tok_'),
    refresh_token: randomSecret('r_'),
    workspace_name: 'Café 東京 🚀',
  },
  'an ISO-string expiry': {
    access_token: randomSecret('ya29.'),
    refresh_token: randomSecret('1//'),
    expires_at: '2026-12-01T10:00:00+00:00',
  },
  'a datetime written as str(datetime)': {
    access_token: randomSecret('ya29.'),
    refresh_token: randomSecret('1//'),
    expires_at: '2026-12-01 10:00:00.123456+00:00',
  },
  'long tokens': { access_token: randomSecret('ya29.', 4000), refresh_token: randomSecret('1//', 2000) },
};

/**
 * Rows written by other programs (the original service during a cutover, a restore, a support
 * script) set only `user_id, provider, access_token, refresh_token`. Whatever they write, the key
 * id column says what the envelope holds, reads and rotation treat the row by its content, and
 * a damaged row is an error with a reason code that never hands the stored text on.
 */
describe('rows written by other programs', () => {
  let app: RotationApp;
  const http = () => request(app.app.getHttpServer());

  async function insert(userId: number, accessToken: string | null, refreshToken: string | null = null) {
    const [{ id }] = await app.dataSource.query(
      `INSERT INTO external_accounts (user_id, provider, access_token, refresh_token) VALUES ($1, 'notion', $2, $3) RETURNING id`,
      [userId, accessToken, refreshToken],
    );
    return id as number;
  }

  async function keyIdOfRow(id: number): Promise<string> {
    const [row] = await app.dataSource.query(`SELECT token_key_id FROM external_accounts WHERE id = $1`, [
      id,
    ]);
    return row.token_key_id;
  }

  beforeAll(async () => {
    app = await createRotationApp(keyEnv(keyB, [keyA], { CONNECTORS_API_TOKEN: SERVICE_TOKEN }));
  });
  afterAll(() => app.close());
  beforeEach(() => truncateAll(app.dataSource));

  it('reads, counts as legacy-v1 and rotates every v1 row in the original service’s exact format', async () => {
    const ids = new Map<number, Record<string, unknown>>();
    for (const tokens of Object.values(PYTHON_TOKEN_SETS)) {
      const envelope = legacyV1Envelope(keyBytes(keyA), tokens);
      expect(envelope).toMatch(
        /^\{"_enc": "aesgcm:v1", "nonce": "[^"]+", "ct": "[^"]+", "tag": "[^"]+=*"\}$/,
      );
      ids.set(await insert(5, envelope), tokens);
    }
    for (const [id, tokens] of ids) {
      expect(await keyIdOfRow(id)).toBe('legacy-v1');
      const read = await http().get(`/users/5/accounts/${id}/tokens`).set(auth).expect(200);
      expect(read.body).toEqual(tokens);
    }
    expect(await app.keyUsage.inventory()).toMatchObject({
      legacyV1Accounts: ids.size,
      accountsToRotate: ids.size,
    });

    const job = await app.rotation.startRotation({ requestedBy: 'test' });
    expect(await app.worker.runJob(job.id)).toMatchObject({
      status: 'completed',
      rotated: ids.size,
      failed: 0,
    });
    for (const [id, tokens] of ids) {
      expect(await keyIdOfRow(id)).toBe(keyB.kid);
      expect(await app.accounts.getAccountTokens(5, id)).toEqual(tokens);
    }
    expect(await app.keyUsage.inventory()).toMatchObject({
      legacyV1Accounts: 0,
      accountsOnPrimary: ids.size,
    });
  });

  it('reads plaintext rows inserted the same way as plaintext and counts them so', async () => {
    const access = randomSecret('ya29.');
    const refresh = randomSecret('1//');
    const id = await insert(6, access, refresh);
    const jsonLooking = await insert(6, '{"not": "an envelope"}');
    expect([await keyIdOfRow(id), await keyIdOfRow(jsonLooking)]).toEqual(['plaintext', 'plaintext']);
    const read = await http().get(`/users/6/accounts/${id}/tokens`).set(auth).expect(200);
    expect(read.body).toEqual({ access_token: access, refresh_token: refresh });
    expect(await app.keyUsage.inventory()).toMatchObject({ plaintextAccounts: 2 });
  });

  it('counts a v2 envelope inserted by SQL under its key id, reads it, and upgrades it to v3', async () => {
    const id = await app.accounts
      .createAccount(8, 'notion', { access_token: 'placeholder' })
      .then((a) => a.id);
    const tokens = { access_token: randomSecret('ya29.'), refresh_token: randomSecret('1//') };
    await app.dataSource.query(`UPDATE external_accounts SET access_token = $2 WHERE id = $1`, [
      id,
      v2Envelope(keyBytes(keyA), id, tokens),
    ]);
    expect(await keyIdOfRow(id)).toBe(`v2:${keyA.kid}`);
    const before = await app.keyUsage.inventory();
    expect(before.keys).toContainEqual({
      keyId: keyA.kid,
      role: 'previous',
      accounts: 1,
      v2Accounts: 1,
      safeToRetire: false,
    });
    expect(before).toMatchObject({ accountsToRotate: 1, unknownKeyAccounts: 0 });
    expect(await app.accounts.getAccountTokens(8, id)).toEqual(tokens);
    const meta = await http().get(`/users/8/accounts/${id}`).set(auth).expect(200);
    expect(meta.body.encryption).toEqual({ state: 'legacy', keyId: keyA.kid });

    const job = await app.rotation.startRotation({ requestedBy: 'test' });
    expect(await app.worker.runJob(job.id)).toMatchObject({ status: 'completed', rotated: 1 });
    const [row] = await app.dataSource.query(`SELECT access_token FROM external_accounts WHERE id = $1`, [
      id,
    ]);
    expect(JSON.parse(row.access_token)).toMatchObject({ _enc: 'aesgcm:v3', kid: keyB.kid });
    expect(await app.accounts.getAccountTokens(8, id)).toEqual(tokens);
  });

  it('after rotation, an account moved to another user no longer opens', async () => {
    const tokens = { access_token: randomSecret('ya29.'), refresh_token: randomSecret('1//') };
    const id = await insert(9, legacyV1Envelope(keyBytes(keyA), tokens));
    const job = await app.rotation.startRotation({ requestedBy: 'test' });
    await app.worker.runJob(job.id);
    await app.dataSource.query(`UPDATE external_accounts SET user_id = 10 WHERE id = $1`, [id]);
    const response = await http().get(`/users/10/accounts/${id}/tokens`).set(auth).expect(500);
    expect(response.body).toMatchObject({
      error: 'ACCOUNT_TOKENS_UNREADABLE',
      message: `Tokens of account ${id} cannot be read (ENVELOPE_AUTH_FAILED)`,
    });
    expect(response.text).not.toContain(tokens.access_token);
    expect(response.text).not.toContain(tokens.refresh_token);
  });

  it.each<[string, string, (envelope: string) => string]>([
    [
      'a flipped tag bit',
      'ENVELOPE_AUTH_FAILED',
      (e) => withFields(e, { tag: flipBit(JSON.parse(e).tag, 3) }),
    ],
    [
      'a flipped ciphertext bit',
      'ENVELOPE_AUTH_FAILED',
      (e) => withFields(e, { ct: flipBit(JSON.parse(e).ct, 11) }),
    ],
    [
      'a tag cut to 12 bytes',
      'ENVELOPE_MALFORMED',
      (e) => withFields(e, { tag: resized(JSON.parse(e).tag, 12) }),
    ],
    [
      'a key no one configured',
      'ENVELOPE_AUTH_FAILED',
      () => legacyV1Envelope(keyBytes(newKey()), { access_token: 'x' }),
    ],
  ])(
    'refuses a v1 row with %s (%s), in reads and in rotation, and leaves it as it was',
    async (_name, reason, damage) => {
      const tokens = { access_token: randomSecret('ya29.'), refresh_token: randomSecret('1//') };
      const stored = damage(legacyV1Envelope(keyBytes(keyA), tokens));
      const id = await insert(11, stored);
      const response = await http().get(`/users/11/accounts/${id}/tokens`).set(auth).expect(500);
      expect(response.body.message).toBe(`Tokens of account ${id} cannot be read (${reason})`);
      for (const secret of [stored, JSON.parse(stored).ct, tokens.access_token]) {
        expect(response.text).not.toContain(secret);
      }
      const job = await app.rotation.startRotation({ requestedBy: 'test' });
      const final = await app.worker.runJob(job.id);
      expect(final.failures).toEqual([{ accountId: id, reason }]);
      const [row] = await app.dataSource.query(`SELECT access_token FROM external_accounts WHERE id = $1`, [
        id,
      ]);
      expect(row.access_token).toBe(stored);
    },
  );

  it.each([
    ['\\u005fenc', (e: string) => e.replace('"_enc"', '"\\u005fenc"').slice(0, -1)],
    [
      '\\u005Fenc with a stray character',
      (e: string) => e.replace('"_enc"', '"\\u005Fenc"').replace(',', ',,'),
    ],
    ['_\\u0065n\\u0063, cut short', (e: string) => e.replace('"_enc"', '"_\\u0065n\\u0063"').slice(0, 60)],
  ])(
    'never serves damaged envelope text whose key is written %s as a plaintext token',
    async (_name, damage) => {
      const tokens = { access_token: randomSecret('ya29.'), refresh_token: randomSecret('1//') };
      const stored = damage(legacyV1Envelope(keyBytes(keyA), tokens));
      const id = await insert(13, stored);
      expect(await keyIdOfRow(id)).toBe('malformed');
      const response = await http().get(`/users/13/accounts/${id}/tokens`).set(auth).expect(500);
      expect(response.body.message).toBe(`Tokens of account ${id} cannot be read (ENVELOPE_MALFORMED)`);
      expect(response.text).not.toContain(stored.slice(20, 40));
      expect((await app.keyUsage.inventory()).malformedAccounts).toBe(1);
    },
  );

  it('names the key and format an envelope opens with, even when its layout hides a second kid or _enc', async () => {
    const tokens = { access_token: randomSecret('ya29.'), refresh_token: randomSecret('1//') };
    const id = await app.accounts
      .createAccount(12, 'notion', { access_token: 'placeholder' })
      .then((a) => a.id);
    const underA = JSON.parse(v2Envelope(keyBytes(keyA), id, tokens));
    // The canonical layout's slots, with the real envelope's members after them: JSON.parse keeps the last.
    const secondKid = `{"_enc":"aesgcm:v3","kid":"${keyB.kid}","nonce":"${underA.nonce}","ct":"x","kid":"${keyA.kid}","_enc":"aesgcm:v2","ct":"${underA.ct}","tag":"${underA.tag}"}`;
    await app.dataSource.query(`UPDATE external_accounts SET access_token = $2 WHERE id = $1`, [
      id,
      secondKid,
    ]);
    expect(await keyIdOfRow(id)).toBe(`v2:${keyA.kid}`);
    expect(await app.accounts.getAccountTokens(12, id)).toEqual(tokens);
    expect((await app.keyUsage.inventory()).keys).toContainEqual(
      expect.objectContaining({ keyId: keyA.kid, v2Accounts: 1, safeToRetire: false }),
    );
    const job = await app.rotation.startRotation({ requestedBy: 'test' });
    expect(await app.worker.runJob(job.id)).toMatchObject({ status: 'completed', rotated: 1 });
    expect(await keyIdOfRow(id)).toBe(keyB.kid);
    expect(await app.accounts.getAccountTokens(12, id)).toEqual(tokens);
  });

  it('derives in the database the same key id that the envelope codec reads from any text', async () => {
    const kid = fc.constantFrom(keyA.kid, keyB.kid, 'ABCDEF0123456789', 'short', '');
    const envelopeObject = fc.record(
      {
        _enc: fc.constantFrom('aesgcm:v1', 'aesgcm:v2', 'aesgcm:v3', 'aesgcm:v9', 'other'),
        kid,
        nonce: fc.base64String(),
        ct: fc.base64String(),
        tag: fc.base64String(),
      },
      { requiredKeys: ['_enc'] },
    );
    const jsonText = fc.oneof(
      envelopeObject.map((value) => JSON.stringify(value)),
      envelopeObject.map((value) => JSON.stringify(value, null, 2)),
      envelopeObject.map((value) => ` ${pythonJsonDumps(value)}`),
      // Any character of the key may be written as an escape; damaged or not, it is an envelope.
      envelopeObject.map((value) => JSON.stringify(value).replace('"_enc"', '"\\u005fenc"')),
      envelopeObject.map((value) =>
        JSON.stringify(value).replace('"_enc"', '"_\\u0065n\\u0063"').slice(0, -1),
      ),
      envelopeObject.map((value) => JSON.stringify(value).replace('"_enc"', '"\\u005Fenc"').slice(0, -1)),
      fc.dictionary(fc.string(), fc.string()).map((value) => JSON.stringify(value)),
      fc.jsonValue().map((value) => JSON.stringify(value)),
    );
    const anyText = fc.oneof(
      jsonText,
      fc.string(),
      fc.string().map((text) => `{${text}`),
      jsonText.map((t) => `${t}}`),
    );
    // PostgreSQL text holds no NUL, and jsonb refuses the \u0000 escape that JSON.parse accepts.
    const texts = fc.sample(
      anyText.filter((text) => !text.includes('\u0000') && !text.includes('\\u0000')),
      400,
    );

    const derived: { token_key_id: string }[] = await app.dataSource.query(
      `SELECT external_accounts_token_key_id(t) AS token_key_id FROM unnest($1::text[]) WITH ORDINALITY AS x(t, n) ORDER BY n`,
      [texts],
    );
    expect(derived.map((row) => row.token_key_id)).toEqual(texts.map(expectedKeyId));
  });
});

/** What the read path makes of a text, in the column's words. */
function expectedKeyId(text: string): string {
  let info;
  try {
    info = inspectEnvelope(text);
  } catch {
    return 'malformed';
  }
  if (info.format === 'v3') return info.kid;
  if (info.format === 'v2') return `v2:${info.kid}`;
  if (info.format === 'v1') return 'legacy-v1';
  return 'plaintext';
}
