import request from 'supertest';
import type { DataSource } from 'typeorm';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { legacyV1Envelope } from './support/legacy-envelope';
import { newKey } from './support/rotation-fixtures';
import { appended, fieldsOf, flipBit, resized, withFields } from './support/safety-envelopes';
import { randomSecret, randomTokens } from './support/safety-fixtures';
import { SecretRegistry } from './support/safety-secrets';
import { type StoredAccountRow, storedRows } from './support/fixtures';
import { bearer, newApiToken } from './support/auth';

const keyA = newKey();
const keyB = newKey();
const unknownKey = newKey();
const SERVICE_TOKEN = newApiToken('service');
const auth = bearer(SERVICE_TOKEN);

type Columns = Partial<Pick<StoredAccountRow, 'access_token' | 'refresh_token' | 'user_id'>>;
/** What a tampering does: new columns for some accounts, given every account's stored row. */
type Tampering = (
  rows: Record<'p' | 'q' | 'r' | 'legacy', StoredAccountRow>,
) => [row: StoredAccountRow, columns: Columns][];
type Case = [name: string, error: string, reason: string, tamper: Tampering];

const envelopeOf = (row: StoredAccountRow) => row.access_token as string;
const field = (row: StoredAccountRow, name: string) => fieldsOf(envelopeOf(row))[name];
const onP =
  (columns: (rows: Record<'p' | 'q' | 'r' | 'legacy', StoredAccountRow>) => Columns): Tampering =>
  (rows) => [[rows.p, columns(rows)]];
const pEnvelope = (change: (p: StoredAccountRow) => string): Tampering =>
  onP(({ p }) => ({ access_token: change(p) }));

const UNREADABLE = 'ACCOUNT_TOKENS_UNREADABLE';

const ENVELOPE_FIELD_CASES: Case[] = [
  [
    'a nonce with one bit flipped',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    pEnvelope((p) => withFields(envelopeOf(p), { nonce: flipBit(field(p, 'nonce'), 5) })),
  ],
  [
    'a nonce of 8 bytes',
    UNREADABLE,
    'ENVELOPE_MALFORMED',
    pEnvelope((p) => withFields(envelopeOf(p), { nonce: resized(field(p, 'nonce'), 8) })),
  ],
  [
    'a nonce that is not base64',
    UNREADABLE,
    'ENVELOPE_MALFORMED',
    pEnvelope((p) => withFields(envelopeOf(p), { nonce: '!!!!not-base64!!' })),
  ],
  [
    'a ciphertext with one bit flipped',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    pEnvelope((p) => withFields(envelopeOf(p), { ct: flipBit(field(p, 'ct'), 77) })),
  ],
  [
    'a ciphertext one byte shorter',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    pEnvelope((p) => withFields(envelopeOf(p), { ct: resized(field(p, 'ct'), -1) })),
  ],
  [
    'a ciphertext with a byte appended',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    pEnvelope((p) => withFields(envelopeOf(p), { ct: appended(field(p, 'ct')) })),
  ],
  [
    'an empty ciphertext',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    pEnvelope((p) => withFields(envelopeOf(p), { ct: '' })),
  ],
  [
    'a tag with one bit flipped',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    pEnvelope((p) => withFields(envelopeOf(p), { tag: flipBit(field(p, 'tag'), 127) })),
  ],
  [
    'a tag truncated to 12 bytes',
    UNREADABLE,
    'ENVELOPE_MALFORMED',
    pEnvelope((p) => withFields(envelopeOf(p), { tag: resized(field(p, 'tag'), 12) })),
  ],
  [
    'a missing tag',
    UNREADABLE,
    'ENVELOPE_MALFORMED',
    pEnvelope((p) => withFields(envelopeOf(p), {}, ['tag'])),
  ],
  [
    'an extra envelope field',
    UNREADABLE,
    'ENVELOPE_MALFORMED',
    pEnvelope((p) => withFields(envelopeOf(p), { aad: 'x' })),
  ],
  [
    'the key id of the other configured key',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    pEnvelope((p) => withFields(envelopeOf(p), { kid: keyA.kid })),
  ],
  [
    'an unknown key id',
    UNREADABLE,
    'ENVELOPE_UNKNOWN_KEY',
    pEnvelope((p) => withFields(envelopeOf(p), { kid: unknownKey.kid })),
  ],
  [
    'a key id that is not 16 hex characters',
    UNREADABLE,
    'ENVELOPE_MALFORMED',
    pEnvelope((p) => withFields(envelopeOf(p), { kid: 'KID' })),
  ],
  [
    'an unknown _enc version',
    UNREADABLE,
    'ENVELOPE_UNSUPPORTED_FORMAT',
    pEnvelope((p) => withFields(envelopeOf(p), { _enc: 'aesgcm:v9' })),
  ],
  [
    'a v3 envelope relabelled v2, which binds the account only',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    pEnvelope((p) => withFields(envelopeOf(p), { _enc: 'aesgcm:v2' })),
  ],
  [
    'a v3 envelope downgraded to v1, which has no associated data',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    pEnvelope((p) => withFields(envelopeOf(p), { _enc: 'aesgcm:v1' }, ['kid'])),
  ],
  [
    'a legacy v1 envelope with one ciphertext bit flipped',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    ({ legacy }) => [
      [legacy, { access_token: withFields(envelopeOf(legacy), { ct: flipBit(field(legacy, 'ct'), 9) }) }],
    ],
  ],
];

const COLUMN_CASES: Case[] = [
  [
    'a refresh token in its own column next to the v3 envelope',
    UNREADABLE,
    'REFRESH_TOKEN_OUTSIDE_ENVELOPE',
    onP(() => ({ refresh_token: randomSecret('1//') })),
  ],
  ['a NULL access token', UNREADABLE, 'NO_TOKEN_STORED', onP(() => ({ access_token: null }))],
  ['an empty access token', UNREADABLE, 'NO_TOKEN_STORED', onP(() => ({ access_token: '' }))],
  [
    'a broken envelope text that parses as no JSON',
    UNREADABLE,
    'ENVELOPE_MALFORMED',
    onP(({ p }) => ({ access_token: `${envelopeOf(p)}}` })),
  ],
];

const MOVED_ENVELOPE_CASES: Case[] = [
  [
    'the envelope of the same user’s other account',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    onP(({ q }) => ({ access_token: q.access_token })),
  ],
  [
    'the envelopes of two accounts of one user swapped',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    ({ p, q }) => [
      [p, { access_token: q.access_token }],
      [q, { access_token: p.access_token }],
    ],
  ],
  [
    'the envelope of another user’s account',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    onP(({ r }) => ({ access_token: r.access_token })),
  ],
  [
    'the envelopes of two users’ accounts swapped',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    ({ p, r }) => [
      [p, { access_token: r.access_token }],
      [r, { access_token: p.access_token }],
    ],
  ],
  [
    'an account moved to another user by rewriting user_id',
    UNREADABLE,
    'ENVELOPE_AUTH_FAILED',
    onP(({ r }) => ({ user_id: r.user_id })),
  ],
];

/**
 * For every stored field someone with write access to the database (and no key) can change, the
 * service answers a clear error code, writes nothing, and never returns another account's tokens
 * or any ciphertext.
 */
describe('tampering with stored accounts', () => {
  const secrets = new SecretRegistry();
  let testApp: TestApp;
  let rows: Record<'p' | 'q' | 'r' | 'legacy', StoredAccountRow>;
  const http = () => request(testApp.app.getHttpServer());

  async function restore(dataSource: DataSource) {
    for (const row of Object.values(rows)) await write(dataSource, row, row);
  }

  async function write(dataSource: DataSource, row: StoredAccountRow, columns: Columns) {
    const next = { ...row, ...columns };
    await dataSource.query(
      `UPDATE external_accounts SET access_token = $2, refresh_token = $3, user_id = $4 WHERE id = $1`,
      [row.id, next.access_token, next.refresh_token, next.user_id],
    );
    for (const value of [next.access_token, next.refresh_token])
      if (value) secrets.addEnvelope('a written value', value);
  }

  async function rowOf(id: number): Promise<StoredAccountRow> {
    return (await storedRows(testApp.dataSource)).find((row) => row.id === id) as StoredAccountRow;
  }

  beforeAll(async () => {
    testApp = await createTestApp({
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: keyB.key,
      WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: keyA.key,
      ROTATION_WORKER_ENABLED: 'false',
    });
    await truncateAll(testApp.dataSource);
    const created: number[] = [];
    for (const userId of [21, 21, 22]) {
      const tokens = randomTokens();
      secrets.add('a token of account p, q or r', tokens.access_token);
      secrets.add('a refresh token of account p, q or r', tokens.refresh_token);
      const response = await http()
        .post(`/users/${userId}/accounts`)
        .set(auth)
        .send({ provider: 'notion', tokens })
        .expect(201);
      created.push(response.body.id);
    }
    const legacyTokens = randomTokens();
    secrets.add('a token of the legacy account', legacyTokens.access_token);
    const [{ id: legacyId }] = await testApp.dataSource.query(
      `INSERT INTO external_accounts (user_id, provider, access_token) VALUES (21, 'notion', $1) RETURNING id`,
      [legacyV1Envelope(Buffer.from(keyA.key, 'base64'), legacyTokens)],
    );
    const stored = await storedRows(testApp.dataSource);
    const byId = (id: number) => stored.find((row) => row.id === id) as StoredAccountRow;
    rows = { p: byId(created[0]), q: byId(created[1]), r: byId(created[2]), legacy: byId(legacyId) };
    for (const row of stored) secrets.addEnvelope(`stored envelope of account ${row.id}`, row.access_token);
  });

  afterAll(() => testApp.close());
  beforeEach(() => restore(testApp.dataSource));

  it('reads every untouched account (the baseline the cases start from)', async () => {
    for (const row of Object.values(rows)) {
      await http().get(`/users/${row.user_id}/accounts/${row.id}/tokens`).set(auth).expect(200);
    }
  });

  describe.each([
    ['envelope fields', ENVELOPE_FIELD_CASES],
    ['token columns', COLUMN_CASES],
    ['envelopes moved between accounts', MOVED_ENVELOPE_CASES],
  ])('%s', (_group, cases) => {
    it.each(cases)(
      'refuses %s with %s (%s), writes nothing and returns no token or ciphertext',
      async (_name, error, reason, tamper) => {
        const changes = tamper(rows);
        for (const [row, columns] of changes) await write(testApp.dataSource, row, columns);
        for (const [row] of changes) {
          const before = await rowOf(row.id);
          const read = await http().get(`/users/${before.user_id}/accounts/${row.id}/tokens`).set(auth);
          const merge = await http()
            .put(`/users/${before.user_id}/accounts/${row.id}/tokens`)
            .set(auth)
            .send({ access_token: 'fresh' });
          for (const response of [read, merge]) {
            expect({ status: response.status, error: response.body.error }).toEqual({ status: 500, error });
            expect(response.body.message).toBe(`Tokens of account ${row.id} cannot be read (${reason})`);
            expect(secrets.find(`${JSON.stringify(response.headers)}${response.text}`, 'response')).toEqual(
              [],
            );
          }
          expect(await rowOf(row.id)).toEqual(before);
        }
      },
    );
  });

  it('refuses any write of token_key_id itself: the database derives it from the envelope', async () => {
    const { p } = rows;
    for (const value of [keyA.kid, 'plaintext', 'legacy-v1']) {
      await expect(
        testApp.dataSource.query(`UPDATE external_accounts SET token_key_id = $2 WHERE id = $1`, [
          p.id,
          value,
        ]),
      ).rejects.toThrow(/token_key_id/);
    }
    expect(await rowOf(p.id)).toEqual(p);
  });
});

describe('tampering with stored accounts while encryption is required', () => {
  let testApp: TestApp;
  let row: StoredAccountRow;
  const http = () => request(testApp.app.getHttpServer());
  const injected = randomSecret('ya29.');
  const injectedRefresh = randomSecret('1//');

  beforeAll(async () => {
    testApp = await createTestApp({
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: keyB.key,
      CONNECTORS_REQUIRE_TOKEN_ENCRYPTION: 'true',
      ROTATION_WORKER_ENABLED: 'false',
    });
    await truncateAll(testApp.dataSource);
    const created = await http()
      .post('/users/31/accounts')
      .set(auth)
      .send({ provider: 'notion', tokens: randomTokens() })
      .expect(201);
    [row] = await storedRows(testApp.dataSource);
    expect(row.id).toBe(created.body.id);
  });
  afterAll(() => testApp.close());

  it.each<[string, string, string, Columns]>([
    [
      'plaintext tokens in place of the envelope',
      'PLAINTEXT_TOKENS_REFUSED',
      'unencrypted tokens',
      { access_token: injected, refresh_token: injectedRefresh },
    ],
    [
      'a JSON token set without _enc',
      'PLAINTEXT_TOKENS_REFUSED',
      'unencrypted tokens',
      { access_token: JSON.stringify({ access_token: injected }) },
    ],
    [
      'a NULL access token',
      UNREADABLE,
      'NO_TOKEN_STORED',
      { access_token: null, refresh_token: injectedRefresh },
    ],
  ])('refuses %s with %s (%s) and writes nothing', async (_name, error, message, columns) => {
    const next = { ...row, ...columns };
    await testApp.dataSource.query(
      `UPDATE external_accounts SET access_token = $2, refresh_token = $3 WHERE id = $1`,
      [row.id, next.access_token, next.refresh_token],
    );
    const read = await http().get(`/users/31/accounts/${row.id}/tokens`).set(auth);
    const merge = await http()
      .put(`/users/31/accounts/${row.id}/tokens`)
      .set(auth)
      .send({ access_token: 'fresh' });
    for (const response of [read, merge]) {
      expect({ status: response.status, error: response.body.error }).toEqual({ status: 500, error });
      expect(response.body.message).toContain(message);
      expect(response.text).not.toContain(injected);
      expect(response.text).not.toContain(injectedRefresh);
    }
    const [after] = await storedRows(testApp.dataSource);
    expect(after).toEqual({ ...next, token_key_id: 'plaintext', version: row.version });
  });
});
