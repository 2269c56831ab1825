import request from 'supertest';
import { RefreshAheadWorker } from '../src/connectors/refresh/refresh-ahead.worker';
import type { TokenSet } from '../src/connectors/token-set';
import { createTestApp, truncateAll, type TestApp, type TestEnv } from './create-app';
import { legacyV1Envelope } from './support/legacy-envelope';
import { OutputCapture } from './support/output-capture';
import { CliProcess, cliEnv, type CliResult } from './support/rotation-cli';
import { newKey, tamperedEnvelope, type TestKey } from './support/rotation-fixtures';
import {
  directClient,
  insertSealedAccounts,
  randomSecret,
  randomTokens,
  urlWithPassword,
} from './support/safety-fixtures';
import { ResponseLog } from './support/safety-http';
import { SecretRegistry, storedOutsideSealedColumns } from './support/safety-secrets';
import { TcpProxy, throughProxy } from './support/tcp-proxy';
import { AuthorizationServer, newClient } from './support/authorization-server';
import { countAccounts, itIfPostgres, onPostgres, poll, storedRows } from './support/fixtures';
import { bearer, newApiToken } from './support/auth';

const keyA = newKey();
const keyB = newKey();
const keyC = newKey();
const SERVICE_TOKEN = newApiToken('service');
const ADMIN_TOKEN = newApiToken('admin');
const DB_PASSWORD = randomSecret('pw_', 18);

interface Account {
  userId: number;
  tokens: TokenSet;
}

/**
 * One scenario through every path that handles a secret, at LOG_LEVEL=trace, with every byte the
 * process prints, every HTTP answer and every CLI output kept; the last test looks for each
 * token, envelope (and its fields), key, API token and database password in all of them.
 */
describe('no secret in any output, at LOG_LEVEL=trace', () => {
  const capture = new OutputCapture();
  const secrets = new SecretRegistry();
  const responses = new ResponseLog();
  const cliRuns: { name: string; result: CliResult }[] = [];
  const accounts = new Map<number, Account>();
  const target = new URL(process.env.E2E_DATABASE_URL ?? 'postgres://127.0.0.1:5432/none');
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  let directUrl: string | undefined;
  let serverUrl: string | undefined;
  let testApp: TestApp;
  let corruptId = 0;
  const oauthClient = newClient();
  const postClient = newClient('client_secret_post');
  let as: AuthorizationServer;
  let refreshedId = 0;
  const auth = bearer(SERVICE_TOKEN);
  const admin = bearer(ADMIN_TOKEN);
  const http = () => request(testApp.app.getHttpServer());

  function serverEnv(primary: TestKey, previous: TestKey[], worker: boolean): TestEnv {
    return {
      DATABASE_URL: serverUrl,
      LOG_LEVEL: 'trace',
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: primary.key,
      WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: previous.map((key) => key.key).join(','),
      ROTATION_WORKER_ENABLED: String(worker),
      ROTATION_POLL_SECONDS: '1',
      PROVIDER_TIMEOUT_MS: '1500',
      REFRESH_LEASE_SECONDS: '3',
      // Refresh-ahead runs when the test calls it: a pass of its own would race the other steps.
      REFRESH_AHEAD_SECONDS: '600',
      REFRESH_AHEAD_POLL_SECONDS: '3600',
    };
  }

  /** Every string field of a token set is a secret but its type and scope. */
  function track<T extends TokenSet>(tokens: T): T {
    secrets.addTokens('account', tokens);
    return tokens;
  }

  /** A secret placed in a request that must not come back: registered before it is sent. */
  function planted(prefix = 'ya29.'): string {
    const value = randomSecret(prefix);
    secrets.add(`planted ${prefix}`, value);
    return value;
  }

  /** The account's own secret fields, which its token read may return and nothing else may. */
  function own(id: number): string[] {
    const { tokens } = accounts.get(id) as Account;
    return Object.entries(tokens)
      .filter(([field]) => field !== 'token_type' && field !== 'scope')
      .flatMap(([, value]) => (typeof value === 'string' ? [value] : []));
  }

  async function snapshotEnvelopes(): Promise<void> {
    for (const row of await storedRows(testApp.dataSource)) {
      secrets.addEnvelope(`stored access_token of account ${row.id}`, row.access_token);
    }
    const clients: { provider: string; client_secret: string }[] = await testApp.dataSource.query(
      `SELECT provider, client_secret FROM provider_clients`,
    );
    for (const row of clients)
      secrets.addEnvelope(`sealed client secret of ${row.provider}`, row.client_secret);
  }

  async function readTokens(id: number, step: string) {
    const { userId } = accounts.get(id) as Account;
    return responses.record(
      step,
      await http().get(`/users/${userId}/accounts/${id}/tokens`).set(auth),
      own(id),
    );
  }

  beforeAll(async () => {
    capture.start();
    for (const [label, key] of [
      ['key A', keyA],
      ['key B', keyB],
      ['key C', keyC],
    ] as const) {
      secrets.addKey(label, key.key);
    }
    secrets.add('service API token', SERVICE_TOKEN);
    secrets.add('admin API token', ADMIN_TOKEN);
    secrets.add('database password', DB_PASSWORD);
    secrets.addClientCredentials('basic provider client', oauthClient.clientId, oauthClient.clientSecret);
    secrets.addClientCredentials('post provider client', postClient.clientId, postClient.clientSecret);
    as = await AuthorizationServer.start([oauthClient, postClient]);
    if (onPostgres) {
      directUrl = urlWithPassword(process.env.E2E_DATABASE_URL as string, DB_PASSWORD);
      serverUrl = throughProxy(directUrl, await proxy.start());
    }
    testApp = await createTestApp(serverEnv(keyB, [keyA], true));
    await truncateAll(testApp.dataSource);
  });

  afterAll(async () => {
    capture.stop();
    if (onPostgres) await proxy.restore();
    await testApp.close();
    await proxy.cut();
    await as?.stop();
  });

  /** An expired account holding a fresh grant's refresh token, registered as its own. */
  async function expiredAccount(
    userId: number,
    provider = 'google_drive',
    client = oauthClient,
  ): Promise<number> {
    const tokens = track({
      access_token: randomSecret('ya29.'),
      refresh_token: await as.mint(client),
      token_type: 'Bearer',
      expires_at: Math.floor(Date.now() / 1000) - 60,
    });
    const created = responses.record(
      'create an expired account',
      await http().post(`/users/${userId}/accounts`).set(auth).send({ provider, tokens }),
    );
    expect(created.status).toBe(201);
    accounts.set(created.body.id, { userId, tokens });
    return created.body.id as number;
  }

  /** The answer of a refresh is the account's new tokens: they become its own, the old ones are no one's. */
  function refreshedTo(id: number, body: TokenSet): void {
    const { userId } = accounts.get(id) as Account;
    accounts.set(id, { userId, tokens: track(body) });
  }

  it('creates, reads and updates accounts, and answers a stale If-Match with 412', async () => {
    for (const userId of [11, 11, 12]) {
      const tokens = track(randomTokens());
      const created = responses.record(
        'create',
        await http()
          .post(`/users/${userId}/accounts`)
          .set(auth)
          .send({ provider: 'google_drive', displayName: 'Work', email: 'a@example.com', tokens }),
      );
      expect(created.status).toBe(201);
      accounts.set(created.body.id, { userId, tokens });
    }
    const [first] = accounts.keys();
    expect((await readTokens(first, 'read tokens')).body).toMatchObject(
      (accounts.get(first) as Account).tokens,
    );

    const newer = track({ access_token: randomSecret('ya29.'), expires_in: 60 });
    const updated = responses.record(
      'update',
      await http().put(`/users/11/accounts/${first}/tokens`).set(auth).set('If-Match', '"1"').send(newer),
    );
    expect(updated.status).toBe(200);
    const account = accounts.get(first) as Account;
    account.tokens = { ...newer, refresh_token: account.tokens.refresh_token };
    const stale = responses.record(
      'stale update',
      await http()
        .put(`/users/11/accounts/${first}/tokens`)
        .set(auth)
        .set('If-Match', '"1"')
        .send(track(randomTokens())),
    );
    expect([stale.status, stale.body.error]).toEqual([412, 'ACCOUNT_VERSION_CONFLICT']);
    expect((await readTokens(first, 'read after update')).body).toMatchObject(account.tokens);
    responses.record('list', await http().get('/users/11/accounts').set(auth).expect(200));
    responses.record('metadata', await http().get(`/users/11/accounts/${first}`).set(auth).expect(200));
    await snapshotEnvelopes();
  });

  it('answers bad bodies with 400 or 413 without echoing the tokens inside them', async () => {
    const [first] = accounts.keys();
    const put = `/users/11/accounts/${first}/tokens`;
    const cases: [name: string, method: 'post' | 'put', path: string, body: string, status: number][] = [
      [
        'truncated JSON',
        'post',
        '/users/11/accounts',
        `{"provider":"notion","tokens":{"access_token":"${planted()}"`,
        400,
      ],
      ['a trailing comma', 'put', put, `{"access_token":"${planted()}",}`, 400],
      ['a JSON string body', 'put', put, JSON.stringify(planted()), 400],
      [
        'an oversized body',
        'post',
        '/users/11/accounts',
        JSON.stringify({ provider: 'notion', tokens: { access_token: planted() }, pad: 'x'.repeat(70_000) }),
        413,
      ],
      [
        'a token as the provider',
        'post',
        '/users/11/accounts',
        JSON.stringify({ provider: planted(), tokens: { access_token: 5, refresh_token: planted('1//') } }),
        400,
      ],
      [
        'tokens as a string',
        'post',
        '/users/11/accounts',
        JSON.stringify({ provider: 'notion', tokens: planted() }),
        400,
      ],
      [
        'a token as expires_in',
        'post',
        '/users/11/accounts',
        JSON.stringify({ provider: 'notion', tokens: { access_token: planted(), expires_in: planted() } }),
        400,
      ],
      [
        'a token as the email',
        'post',
        '/users/11/accounts',
        JSON.stringify({ provider: 'notion', email: planted(), tokens: { access_token: planted() } }),
        400,
      ],
      [
        'a token in an overlong display name',
        'post',
        '/users/11/accounts',
        JSON.stringify({
          provider: 'notion',
          displayName: 'x'.repeat(200) + planted(),
          tokens: { access_token: 'a' },
        }),
        400,
      ],
      [
        'a token in an unknown field',
        'post',
        '/users/11/accounts',
        JSON.stringify({ provider: 'notion', tokens: { access_token: 'a' }, refresh_token: planted('1//') }),
        400,
      ],
      [
        'a token as an unknown field name',
        'post',
        '/users/11/accounts',
        JSON.stringify({ provider: 'notion', tokens: { access_token: 'a' }, [planted()]: 1 }),
        400,
      ],
      [
        'a token as an oversized extra token field name',
        'put',
        put,
        JSON.stringify({ access_token: 'a', [planted()]: 'y'.repeat(9000) }),
        400,
      ],
      [
        'a NUL character in the display name',
        'post',
        '/users/11/accounts',
        JSON.stringify({ provider: 'notion', displayName: 'a\u0000b', tokens: { access_token: planted() } }),
        400,
      ],
      [
        'a NUL character in the scope',
        'put',
        put,
        JSON.stringify({ access_token: planted(), scope: 'drive\u0000' }),
        400,
      ],
      [
        'a NUL character in provider metadata',
        'post',
        '/users/11/accounts',
        JSON.stringify({
          provider: 'notion',
          providerMetadata: { team: '\u0000' },
          tokens: { access_token: planted() },
        }),
        400,
      ],
      ['an array access token', 'put', put, JSON.stringify({ access_token: [planted()] }), 400],
      [
        'a numeric refresh token',
        'put',
        put,
        JSON.stringify({ access_token: planted(), refresh_token: 5 }),
        400,
      ],
      [
        'an empty access token',
        'put',
        put,
        JSON.stringify({ access_token: '', refresh_token: planted('1//') }),
        400,
      ],
      ['an array body', 'put', put, JSON.stringify([planted()]), 400],
    ];
    for (const [name, method, path, body, status] of cases) {
      const response = responses.record(
        name,
        await http()[method](path).set(auth).set('Content-Type', 'application/json').send(body),
      );
      expect({ name, status: response.status }).toEqual({ name, status });
    }
    const text = responses.record(
      'a text/plain body',
      await http().post('/users/11/accounts').set(auth).set('Content-Type', 'text/plain').send(planted()),
    );
    expect(text.status).toBe(400);
    const ifMatch = responses.record(
      'a token as If-Match',
      await http().put(put).set(auth).set('If-Match', planted()).send({ access_token: planted() }),
    );
    expect(ifMatch.status).toBe(400);
    expect(await countAccounts(testApp.dataSource)).toBe(accounts.size);
  });

  it('refuses bad credentials with 401 or 403 without echoing them', async () => {
    const [first] = accounts.keys();
    const userToken = own(first)[0];
    const calls: [name: string, path: string, headers: Record<string, string>, status: number][] = [
      ['a wrong bearer token', '/users/11/accounts', { Authorization: `Bearer ${planted('svc_')}` }, 401],
      [
        "a user's access token as the bearer",
        '/users/11/accounts',
        { Authorization: `Bearer ${userToken}` },
        401,
      ],
      [
        'the service token less one character',
        '/users/11/accounts',
        { Authorization: `Bearer ${SERVICE_TOKEN.slice(0, -1)}` },
        401,
      ],
      [
        'the service token as Basic',
        '/users/11/accounts',
        { Authorization: `Basic ${Buffer.from(`svc:${SERVICE_TOKEN}`).toString('base64')}` },
        401,
      ],
      ['the service token without a scheme', '/users/11/accounts', { Authorization: SERVICE_TOKEN }, 401],
      ['a token in X-Api-Key', '/users/11/accounts', { 'X-Api-Key': planted('svc_') }, 401],
      ['a token in the query string', `/users/11/accounts?access_token=${planted()}`, {}, 401],
      [
        'the service token in the query string',
        `/users/11/accounts/${first}/tokens?access_token=${SERVICE_TOKEN}`,
        {},
        401,
      ],
      ['the service token on an admin route', '/admin/keys', bearer(SERVICE_TOKEN), 403],
      ['the admin token on a service route', `/users/11/accounts/${first}/tokens`, bearer(ADMIN_TOKEN), 401],
      ['a wrong admin token', '/admin/rotations', { Authorization: `Bearer ${planted('adm_')}` }, 403],
      [
        'a token in the query string of an unknown route',
        `/users/11/acounts?access_token=${planted()}`,
        auth,
        404,
      ],
      ['a token as an unknown path segment', `/users/11/accounts/1/${planted()}`, auth, 404],
    ];
    for (const [name, path, headers, status] of calls) {
      const response = responses.record(name, await http().get(path).set(headers));
      expect({ name, status: response.status }).toEqual({ name, status });
    }
  });

  itIfPostgres(
    'answers 503 when the database goes away in the middle of a request, writing nothing',
    async () => {
      const [first] = accounts.keys();
      const before = { ...(accounts.get(first) as Account).tokens };
      const locker = await directClient();
      try {
        const [{ pid: lockerPid }] = (await locker.query('SELECT pg_backend_pid() AS pid')).rows;
        await locker.query('BEGIN');
        await locker.query(`SELECT 1 FROM external_accounts WHERE id = $1 FOR UPDATE`, [first]);
        const pending = http()
          .put(`/users/11/accounts/${first}/tokens`)
          .set(auth)
          .send(track(randomTokens()))
          .then((r) => r);
        // The update waits on this row lock, not on a lock elsewhere in the cluster.
        await poll(
          async () =>
            (
              await locker.query(`SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`, [
                lockerPid,
              ])
            ).rowCount
              ? true
              : undefined,
          10_000,
        );
        await proxy.cut();
        await locker.query('ROLLBACK');
        const cutMidRequest = responses.record('update cut mid-request', await pending);
        expect([cutMidRequest.status, cutMidRequest.body.error]).toEqual([503, 'DATABASE_UNAVAILABLE']);
        const during = responses.record(
          'read during the outage',
          await http().get(`/users/11/accounts/${first}/tokens`).set(auth),
        );
        expect(during.status).toBe(503);
      } finally {
        await locker.end();
        await proxy.restore();
      }
      const after = await poll(
        async () => {
          const response = await readTokens(first, 'read after the outage');
          return response.status === 200 ? response : undefined;
        },
        10_000,
        200,
      );
      expect(after.body).toMatchObject(before);
    },
  );

  it('answers a database error with a generic 500, never the driver message, detail or parameters', async () => {
    const { dataSource } = testApp;
    const failed = jest.spyOn(dataSource.logger, 'logQueryError');
    const [first] = accounts.keys();
    await dataSource.query(`UPDATE external_accounts SET display_name = 'probe-raise' WHERE id = $1`, [
      first,
    ]);
    await dataSource.query(`
      CREATE FUNCTION safety_probe_reject() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.display_name = 'probe-raise' THEN
          RAISE EXCEPTION 'rejected %', NEW.access_token USING DETAIL = NEW.access_token;
        END IF;
        RETURN NEW;
      END $$`);
    await dataSource.query(`CREATE TRIGGER safety_probe BEFORE INSERT OR UPDATE ON external_accounts
      FOR EACH ROW EXECUTE FUNCTION safety_probe_reject()`);
    await dataSource.query(`ALTER TABLE external_accounts ADD CONSTRAINT safety_probe_check
      CHECK (display_name IS DISTINCT FROM 'probe-check')`);
    try {
      const answers = [
        responses.record(
          'insert refused by a trigger quoting the envelope',
          await http()
            .post('/users/11/accounts')
            .set(auth)
            .send({ provider: 'notion', displayName: 'probe-raise', tokens: track(randomTokens()) }),
        ),
        responses.record(
          'insert refused by a check constraint (detail holds the row)',
          await http()
            .post('/users/11/accounts')
            .set(auth)
            .send({ provider: 'notion', displayName: 'probe-check', tokens: track(randomTokens()) }),
        ),
        responses.record(
          'update refused by a trigger quoting the envelope',
          await http().put(`/users/11/accounts/${first}/tokens`).set(auth).send(track(randomTokens())),
        ),
      ];
      for (const answer of answers) {
        expect(answer.status).toBe(500);
        expect(answer.body).toEqual({
          statusCode: 500,
          error: 'INTERNAL_ERROR',
          message: 'Internal error',
          requestId: answer.headers['x-request-id'],
        });
      }
    } finally {
      await dataSource.query(`DROP TRIGGER IF EXISTS safety_probe ON external_accounts`);
      await dataSource.query(`DROP FUNCTION IF EXISTS safety_probe_reject()`);
      await dataSource.query(`ALTER TABLE external_accounts DROP CONSTRAINT IF EXISTS safety_probe_check`);
      await dataSource.query(`UPDATE external_accounts SET display_name = 'Work' WHERE id = $1`, [first]);
    }
    // The refused envelopes were never stored: take them from what the driver was given.
    const parameters = failed.mock.calls.flatMap(([, , params]) => params ?? []);
    failed.mockRestore();
    const envelopes = parameters.filter(
      (value): value is string => typeof value === 'string' && value.startsWith('{"_enc"'),
    );
    expect(envelopes).toHaveLength(3);
    envelopes.forEach((envelope) => secrets.addEnvelope('envelope of a refused write', envelope));
  });

  it('reads accounts under the previous key, legacy and plaintext rows, and refuses a corrupt envelope', async () => {
    const seeded = await insertSealedAccounts(
      testApp.dataSource,
      keyA,
      [track(randomTokens()), track(randomTokens()), track(randomTokens())],
      () => 13,
    );
    for (const { id, userId, tokens } of seeded) accounts.set(id, { userId, tokens });
    const legacy = track(randomTokens());
    const [{ id: legacyId }] = await testApp.dataSource.query(
      `INSERT INTO external_accounts (user_id, provider, access_token) VALUES (13, 'notion', $1) RETURNING id`,
      [legacyV1Envelope(Buffer.from(keyA.key, 'base64'), legacy)],
    );
    accounts.set(legacyId, { userId: 13, tokens: legacy });
    const plain = track(randomTokens());
    const [{ id: plainId }] = await testApp.dataSource.query(
      `INSERT INTO external_accounts (user_id, provider, access_token, refresh_token)
       VALUES (13, 'zotero', $1, $2) RETURNING id`,
      [plain.access_token, plain.refresh_token],
    );
    accounts.set(plainId, {
      userId: 13,
      tokens: { access_token: plain.access_token, refresh_token: plain.refresh_token },
    });
    await snapshotEnvelopes();

    corruptId = seeded[2].id;
    const [{ access_token: sealed }] = await testApp.dataSource.query(
      `SELECT access_token FROM external_accounts WHERE id = $1`,
      [corruptId],
    );
    await testApp.dataSource.query(`UPDATE external_accounts SET access_token = $2 WHERE id = $1`, [
      corruptId,
      tamperedEnvelope(sealed),
    ]);
    await snapshotEnvelopes();

    for (const id of [seeded[0].id, seeded[1].id, legacyId, plainId]) {
      const read = await readTokens(id, 'read an older row');
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject((accounts.get(id) as Account).tokens);
    }
    const corrupt = responses.record(
      'read a corrupt envelope',
      await http().get(`/users/13/accounts/${corruptId}/tokens`).set(auth),
    );
    expect([corrupt.status, corrupt.body.error]).toEqual([500, 'ACCOUNT_TOKENS_UNREADABLE']);
    expect(corrupt.body.message).toContain('ENVELOPE_AUTH_FAILED');
    const merge = responses.record(
      'update of a corrupt envelope that keeps its refresh token',
      await http().put(`/users/13/accounts/${corruptId}/tokens`).set(auth).send({ access_token: planted() }),
    );
    expect([merge.status, merge.body.error]).toEqual([500, 'ACCOUNT_TOKENS_UNREADABLE']);
  });

  it('manages provider clients and refreshes through them, failures included, without echoing a secret', async () => {
    const provider = (step: string, body: object, name = 'google_drive') =>
      http()
        .put(`/admin/providers/${name}`)
        .set(admin)
        .send(body)
        .then((r) => responses.record(step, r));
    const client = { tokenUrl: as.tokenUrl, clientId: oauthClient.clientId, clientAuth: oauthClient.auth };
    expect(
      (
        await provider('provider with a plain http URL', {
          ...client,
          tokenUrl: 'http://example.com/token',
          clientSecret: planted('cs_'),
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await provider('provider with a bad field', {
          ...client,
          clientSecret: planted('cs_'),
          extra: planted('cs_'),
        })
      ).status,
    ).toBe(400);
    expect(
      (await provider('put the provider client', { ...client, clientSecret: oauthClient.clientSecret }))
        .status,
    ).toBe(200);
    responses.record('list provider clients', await http().get('/admin/providers').set(admin).expect(200));
    responses.record(
      'get a provider client',
      await http().get('/admin/providers/google_drive').set(admin).expect(200),
    );

    refreshedId = await expiredAccount(21);
    const { userId } = accounts.get(refreshedId) as Account;
    const path = `/users/${userId}/accounts/${refreshedId}/tokens`;
    const read = await http().get(`${path}?minValidity=60`).set(auth);
    expect(read.status).toBe(200);
    refreshedTo(refreshedId, read.body as TokenSet);
    responses.record('read refreshed tokens', read, own(refreshedId));
    const forced = await http().post(`${path}/refresh`).set(auth);
    expect(forced.status).toBe(200);
    refreshedTo(refreshedId, forced.body as TokenSet);
    responses.record('forced refresh', forced, own(refreshedId));

    await as.behave({ failStatus: 503 });
    expect(responses.record('provider failing', await http().post(`${path}/refresh`).set(auth)).status).toBe(
      502,
    );
    await as.behave({});

    const revokedId = await expiredAccount(22);
    await as.revoke(oauthClient, (accounts.get(revokedId) as Account).tokens.refresh_token as string);
    const revoked = await http().get(`/users/22/accounts/${revokedId}/tokens?minValidity=60`).set(auth);
    expect(responses.record('revoked grant', revoked).status).toBe(409);

    const slowId = await expiredAccount(23);
    await as.behave({ holdMs: 3000 });
    const slow = await http().get(`/users/23/accounts/${slowId}/tokens?minValidity=60`).set(auth);
    expect(responses.record('provider too slow', slow).status).toBe(502);
    await as.behave({});

    const postClientBody = {
      tokenUrl: as.tokenUrl,
      clientId: postClient.clientId,
      clientAuth: postClient.auth,
    };
    expect(
      (
        await provider(
          'put a client_secret_post client',
          { ...postClientBody, clientSecret: postClient.clientSecret },
          'notion',
        )
      ).status,
    ).toBe(200);
    const postId = await expiredAccount(24, 'notion', postClient);
    const viaPost = await http().get(`/users/24/accounts/${postId}/tokens?minValidity=60`).set(auth);
    expect(viaPost.status).toBe(200);
    refreshedTo(postId, viaPost.body as TokenSet);
    responses.record('refresh with client_secret_post', viaPost, own(postId));

    expect(
      (await provider('put a client to delete', { ...client, clientSecret: planted('cs_') })).status,
    ).toBe(200);
    await snapshotEnvelopes();
    const removed = await http().delete('/admin/providers/google_drive').set(admin);
    expect(responses.record('delete a provider client', removed).status).toBe(204);
    expect(
      (await provider('put the provider client back', { ...client, clientSecret: oauthClient.clientSecret }))
        .status,
    ).toBe(200);

    const deleted = await http().delete(`/users/23/accounts/${slowId}`).set(auth);
    expect(responses.record('delete an account', deleted).status).toBe(200);
    accounts.delete(slowId);
    await snapshotEnvelopes();
  });

  it('refreshes ahead of expiry, a revoked grant included, without echoing a secret', async () => {
    const aheadId = await expiredAccount(25);
    const deadId = await expiredAccount(26);
    const aheadRefresh = (accounts.get(aheadId) as Account).tokens.refresh_token;
    await as.revoke(oauthClient, (accounts.get(deadId) as Account).tokens.refresh_token as string);
    const run = await testApp.app.get(RefreshAheadWorker).runOnce();
    // Earlier steps left other accounts close to expiry: the pass refreshes them too, and their
    // new tokens become theirs (the revoked grants of this and earlier steps fail alike).
    expect(Object.keys(run?.failed ?? {})).toEqual(['ACCOUNT_NEEDS_REAUTH']);
    for (const [id, { userId, tokens }] of accounts) {
      const served = await http().get(`/users/${userId}/accounts/${id}/tokens`).set(auth);
      if (served.status === 200 && served.body.access_token !== tokens.access_token) {
        refreshedTo(id, served.body as TokenSet);
        responses.record('read tokens refreshed ahead', served, own(id));
      }
    }
    const views = responses.record(
      'list accounts after refresh-ahead',
      await http().get('/users/25/accounts').set(auth),
    );
    expect(views.body).toEqual([
      expect.objectContaining({ id: aheadId, status: 'active', lastRefreshedAt: expect.any(String) }),
    ]);
    const dead = responses.record(
      'account whose grant was revoked',
      await http().get(`/users/26/accounts/${deadId}`).set(auth),
    );
    expect(dead.body).toMatchObject({ status: 'needs_reauth' });
    expect((accounts.get(aheadId) as Account).tokens.refresh_token).not.toBe(aheadRefresh);
  });

  it('cancels a rotation without echoing a secret', async () => {
    const started = responses.record(
      'start a dry-run rotation',
      await http().post('/admin/rotations').set(admin).send({ dryRun: true }),
    );
    expect(started.status).toBe(202);
    const cancelled = responses.record(
      'cancel the rotation',
      await http().post(`/admin/rotations/${started.body.id}/cancel`).set(admin),
    );
    // The worker may have finished the dry run already: then it is no longer cancellable.
    expect([200, 409]).toContain(cancelled.status);
    await poll(async () => {
      const view = await http().get(`/admin/rotations/${started.body.id}`).set(admin);
      return ['pending', 'running', 'cancelling'].includes(view.body.status) ? undefined : true;
    });
  });

  it('rotates through the admin route and reports the failing row by id and reason only', async () => {
    const started = responses.record(
      'start a rotation',
      await http().post('/admin/rotations').set(admin).send({ batchSize: 2 }),
    );
    expect(started.status).toBe(202);
    const final = await poll(
      async () => {
        const view = responses.record(
          'watch the rotation',
          await http().get(`/admin/rotations/${started.body.id}`).set(admin),
        );
        return ['pending', 'running', 'cancelling'].includes(view.body.status) ? undefined : view.body;
      },
      30_000,
      200,
    );
    expect(final).toMatchObject({ status: 'completed_with_errors', rotated: 4, failed: 1 });
    expect(final.failures).toEqual([{ accountId: corruptId, reason: 'ENVELOPE_AUTH_FAILED' }]);
    responses.record('key inventory', await http().get('/admin/keys').set(admin).expect(200));
    responses.record('rotation list', await http().get('/admin/rotations').set(admin).expect(200));
    responses.record('audit trail', await http().get('/admin/audit').set(admin).expect(200));
    await snapshotEnvelopes();
    for (const id of accounts.keys()) {
      if (id === corruptId) continue;
      expect((await readTokens(id, 'read after the rotation')).status).toBe(200);
    }
  });

  it('runs keys:status, rotate and migrate from the command line, listing the failing row', async () => {
    await testApp.close();
    const env = cliEnv({
      ...(directUrl ? { DATABASE_URL: directUrl } : {}),
      LOG_LEVEL: 'trace',
      WORKFLOWS_ARTIFACT_ENC_KEY: keyC.key,
      WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: `${keyB.key},${keyA.key}`,
    });
    // One at a time: the embedded database is a directory only one process may open.
    for (const [name, args, status] of [
      ['keys:status', ['keys:status'], 0],
      ['keys:status --json', ['keys:status', '--json'], 0],
      ['rotate --dry-run', ['rotate', '--dry-run'], 1],
      ['rotate', ['rotate', '--batch-size', '3'], 1],
      ['migrate', ['migrate'], 0],
    ] as const) {
      const result = await new CliProcess([...args], env).exited;
      cliRuns.push({ name, result });
      expect({ name, status: result.status }).toEqual({ name, status });
    }
    const rotated = cliRuns[3].result.stdout;
    expect(cliRuns[4].result.stdout).toContain('no migrations are pending');
    expect(rotated).toContain(`account ${corruptId}: ENVELOPE_AUTH_FAILED`);
    expect(cliRuns.map(({ result }) => result.stderr).join('')).toContain('parameterCount');

    testApp = await createTestApp(serverEnv(keyC, [keyB, keyA], false));
    await snapshotEnvelopes();
    for (const id of accounts.keys()) {
      if (id === corruptId) continue;
      const read = await readTokens(id, 'read after the CLI rotation');
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject((accounts.get(id) as Account).tokens);
    }
    const [secret] = await testApp.dataSource.query(`SELECT client_secret FROM provider_clients`);
    expect(secret.client_secret).toContain(`"kid":"${keyC.kid}"`);
    const { userId } = accounts.get(refreshedId) as Account;
    const refreshed = await http().post(`/users/${userId}/accounts/${refreshedId}/tokens/refresh`).set(auth);
    expect(refreshed.status).toBe(200);
    refreshedTo(refreshedId, refreshed.body as TokenSet);
    responses.record('refresh under the rotated client secret', refreshed, own(refreshedId));
  }, 150_000);

  it('printed, answered and stored no token, envelope, key, API token or password', async () => {
    responses.record('metrics', await http().get('/metrics').set(admin).expect(200));
    responses.record('health', await http().get('/health'));
    responses.record('readiness', await http().get('/health/ready'));
    const persisted = await storedOutsideSealedColumns(testApp.dataSource);
    // The non-token columns hold what the refreshes and failures recorded.
    expect(persisted).toContain('invalid_grant');
    const output = capture.stop();
    // The capture saw the trace-level request and SQL lines it is meant to check.
    expect(output).toContain('request completed');
    expect(output).toContain('"parameterCount"');
    expect(secrets.size).toBeGreaterThan(60);
    expect(responses.count).toBeGreaterThan(60);
    const leaks = [
      ...secrets.find(output, 'server stdout and stderr'),
      ...responses.leaks(secrets),
      ...cliRuns.flatMap(({ name, result }) => secrets.find(result.stdout + result.stderr, `CLI ${name}`)),
      ...secrets.find(persisted, 'every table but the sealed columns'),
    ];
    expect(leaks).toEqual([]);
  });
});
