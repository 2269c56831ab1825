import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { createSecretKey, randomBytes } from 'node:crypto';
import request from 'supertest';
import type { TokenSet } from '../src/connectors/token-set';
import { REGISTRY_BINDING_LABEL } from '../src/keys/key-wrapper';
import { KeyRegistryLoader } from '../src/keys/key-registry.loader';
import { LocalKeyWrapper } from '../src/keys/local-key-wrapper';
import { createTestApp, truncateAll, type TestApp, type TestEnv } from './create-app';
import { describeIfPostgres, poll, storedRows } from './support/fixtures';
import { KmsServer, kmsEnv } from './support/kms-server';
import { OutputCapture } from './support/output-capture';
import { CliProcess, cliEnv, type CliResult } from './support/rotation-cli';
import { newKey, type TestKey } from './support/rotation-fixtures';
import { randomSecret, randomTokens } from './support/safety-fixtures';
import { ResponseLog } from './support/safety-http';
import { AuthorizationServer, newClient } from './support/authorization-server';
import { SecretRegistry, storedOutsideSealedColumns } from './support/safety-secrets';
import { TcpProxy } from './support/tcp-proxy';
import { bearer, newApiToken } from './support/auth';

const SERVICE_TOKEN = newApiToken('service');
const ADMIN_TOKEN = newApiToken('admin');
const root = newKey();
const otherRoot = newKey();
const envKey = newKey();
const envPrevious = newKey();

interface RegistryRow {
  key_id: string;
  wrapped_key: Buffer;
  wrapping_key: string;
}

/**
 * The key registry's routes, commands and failure paths at LOG_LEVEL=trace, in `local` mode and
 * in `aws-kms` mode on the KMS server. The root keys, the env keys taken by keys:import, every
 * data key (unwrapped here with the root key or KMS Decrypt) and every wrapped blob are secrets;
 * the last test looks for each of them in every output kept. PostgreSQL only, like the registry's
 * own suite: several processes share the database.
 */
describeIfPostgres('no registry secret in any output, at LOG_LEVEL=trace', () => {
  const capture = new OutputCapture();
  const secrets = new SecretRegistry();
  const responses = new ResponseLog();
  const cliRuns: { name: string; result: CliResult }[] = [];
  const kms = new KmsServer();
  let proxy: TcpProxy;
  let kmsKey: string;
  let kmsClient: KMSClient;
  let app: TestApp;
  const accounts = new Map<number, { userId: number; tokens: TokenSet }>();
  const admin = bearer(ADMIN_TOKEN);
  const auth = bearer(SERVICE_TOKEN);
  const http = () => request(app.app.getHttpServer());
  /** Wrapping of each key whose data key the test unwrapped and registered. */
  const unwrappedKeys = new Map<string, string>();

  const localEnv = (rootKey = root.key): TestEnv => ({
    LOG_LEVEL: 'trace',
    CONNECTORS_API_TOKEN: SERVICE_TOKEN,
    ADMIN_API_TOKEN: ADMIN_TOKEN,
    KEY_WRAPPING: 'local',
    ROOT_KEY: rootKey,
    KEY_REGISTRY_REFRESH_SECONDS: '1',
    KEY_PROMOTION_TIMEOUT_SECONDS: '2',
    ROTATION_WORKER_ENABLED: 'false',
  });
  const kmsModeEnv = (endpoint: string): TestEnv => ({
    ...localEnv(),
    ROOT_KEY: undefined,
    KEY_WRAPPING: `aws-kms:${kmsKey}`,
    ...kmsEnv(endpoint),
  });

  async function cli(name: string, args: string[], settings: TestEnv, status: number): Promise<CliResult> {
    const result = await new CliProcess(args, cliEnv({ LOG_LEVEL: 'trace', ...settings })).exited;
    cliRuns.push({ name, result });
    expect({ name, status: result.status, stderr: result.stderr.slice(0, 300) }).toMatchObject({
      name,
      status,
    });
    return result;
  }

  function record(step: string, response: request.Response, allowed: string[] = []) {
    return responses.record(step, response, allowed);
  }

  /** The data key inside a row, by the root that wrapped it; undefined when tampered. */
  async function unwrapped(row: RegistryRow): Promise<Buffer | undefined> {
    if (row.wrapping_key.startsWith('aws-kms:')) {
      const answer = await kmsClient
        .send(
          new DecryptCommand({
            CiphertextBlob: row.wrapped_key,
            EncryptionContext: { purpose: REGISTRY_BINDING_LABEL, key_id: row.key_id },
          }),
        )
        .catch(() => undefined);
      return answer?.Plaintext && Buffer.from(answer.Plaintext);
    }
    for (const candidate of [root, otherRoot]) {
      const wrapper = new LocalKeyWrapper(createSecretKey(Buffer.from(candidate.key, 'base64')));
      if (!wrapper.accepts(row.wrapping_key)) continue;
      return wrapper.unwrap(row.key_id, row.wrapped_key, row.wrapping_key).catch(() => undefined);
    }
    return undefined;
  }

  /** Every wrapped blob and data key the registry holds now, and every stored envelope. */
  async function snapshotRegistry(): Promise<void> {
    const rows: RegistryRow[] = await app.dataSource.query(
      `SELECT key_id, wrapped_key, wrapping_key FROM key_registry`,
    );
    for (const row of rows) {
      const blob = Buffer.from(row.wrapped_key);
      secrets.addKey(`wrapped key of ${row.key_id}`, blob.toString('base64'));
      const key = await unwrapped({ ...row, wrapped_key: blob });
      if (!key) continue;
      secrets.addKey(`data key ${row.key_id}`, key.toString('base64'));
      unwrappedKeys.set(row.key_id, row.wrapping_key);
    }
    for (const row of await storedRows(app.dataSource)) {
      secrets.addEnvelope(`stored access_token of account ${row.id}`, row.access_token);
    }
  }

  async function createAccount(userId: number, step: string): Promise<number> {
    const tokens = randomTokens();
    secrets.addTokens('account', tokens);
    const created = record(
      step,
      await http().post(`/users/${userId}/accounts`).set(auth).send({ provider: 'notion', tokens }),
    );
    expect(created.status).toBe(201);
    accounts.set(created.body.id as number, { userId, tokens });
    return created.body.id as number;
  }

  async function readEveryAccount(step: string, status = 200): Promise<void> {
    for (const [id, { userId, tokens }] of accounts) {
      const own = Object.values(tokens).filter((value): value is string => typeof value === 'string');
      const read = record(step, await http().get(`/users/${userId}/accounts/${id}/tokens`).set(auth), own);
      expect({ id, status: read.status }).toEqual({ id, status });
    }
  }

  beforeAll(async () => {
    capture.start();
    secrets.addKey('root key', root.key);
    secrets.addKey('other root key', otherRoot.key);
    secrets.addKey('env key', envKey.key);
    secrets.addKey('previous env key', envPrevious.key);
    secrets.add('service API token', SERVICE_TOKEN);
    secrets.add('admin API token', ADMIN_TOKEN);
    await kms.start();
    kmsKey = await kms.createKey();
    kmsClient = new KMSClient({
      region: 'us-east-1',
      endpoint: kms.endpoint,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    proxy = new TcpProxy('127.0.0.1', kms.port);
    await proxy.start();
    app = await createTestApp(localEnv());
    await truncateAll(app.dataSource);
  }, 60_000);

  afterAll(async () => {
    capture.stop();
    await proxy.restore();
    // The next suite's first app loads the registry at start: it must find none of these keys.
    await truncateAll(app.dataSource);
    await app.close();
    kmsClient.destroy();
    await proxy.cut();
    await kms.stop();
  });

  it('moves env-mode keys into a local registry and runs every keys command, refusals included', async () => {
    const local = { KEY_WRAPPING: 'local', ROOT_KEY: root.key, KEY_PROMOTION_TIMEOUT_SECONDS: '20' };
    const imported = await cli(
      'keys:import',
      ['keys:import'],
      {
        ...local,
        WORKFLOWS_ARTIFACT_ENC_KEY: envKey.key,
        WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: envPrevious.key,
      },
      0,
    );
    expect(imported.stdout).toContain(`imported key ${envKey.kid} (primary)`);
    await poll(async () =>
      app.app.get(KeyRegistryLoader).state === 'ready' &&
      (await http().get('/admin/keys').set(admin)).body.primaryKeyId === envKey.kid
        ? true
        : undefined,
    );
    await createAccount(31, 'create an account under the imported key');
    await snapshotRegistry();

    await cli('keys:status', ['keys:status'], local, 0);
    await cli('keys:status --json', ['keys:status', '--json'], local, 0);
    const added = JSON.parse((await cli('keys:add', ['keys:add', '--json'], local, 0)).stdout);
    await snapshotRegistry();
    await cli('keys:promote', ['keys:promote', added.keyId], local, 0);
    const inUse = await cli('keys:retire in use', ['keys:retire', envKey.kid], local, 4);
    expect(inUse.stderr).toContain('KEY_IN_USE');
    await cli('keys:retire unused', ['keys:retire', envPrevious.kid], local, 0);
    await cli('keys:retire the primary', ['keys:retire', added.keyId], local, 4);
    await cli('keys:rewrap', ['keys:rewrap', '--json'], local, 0);
    await snapshotRegistry();
    const wrongRoot = { ...local, ROOT_KEY: otherRoot.key };
    const refused = await cli('keys:status under a wrong ROOT_KEY', ['keys:status'], wrongRoot, 0);
    expect(refused.stdout).toContain('refused');
    await cli('keys:promote under a wrong ROOT_KEY', ['keys:promote', envKey.kid], wrongRoot, 4);
    await readEveryAccount('read after the commands');
  }, 180_000);

  it('answers every registry route, refusals and a promotion timeout included, with ids and counts only', async () => {
    const added = record('add a key', await http().post('/admin/keys').set(admin));
    expect(added.status).toBe(201);
    await snapshotRegistry();
    record('list the keys', await http().get('/admin/keys').set(admin).expect(200));
    const promoted = record(
      'promote',
      await http().post(`/admin/keys/${added.body.keyId}/promote`).set(admin),
    );
    expect(promoted.status).toBe(200);
    const id = await createAccount(32, 'create an account under the promoted key');
    expect(id).toBeGreaterThan(0);
    const inUse = record(
      'retire a key in use',
      await http().post(`/admin/keys/${envKey.kid}/retire`).set(admin),
    );
    expect([inUse.status, inUse.body.error]).toEqual([409, 'KEY_IN_USE']);
    const rewrap = record('rewrap', await http().post('/admin/keys/rewrap').set(admin));
    expect(rewrap.status).toBe(200);
    await snapshotRegistry();
    const unknown = record(
      'promote an unknown key',
      await http().post('/admin/keys/0123456789abcdef/promote').set(admin),
    );
    expect(unknown.status).toBe(404);
    const malformed = record(
      'promote a malformed key id',
      await http()
        .post(`/admin/keys/${encodeURIComponent(root.key)}/promote`)
        .set(admin),
    );
    expect(malformed.status).toBe(404);

    // A live instance that never loads the new key: promotion waits for it, then answers 409.
    await app.dataSource.query(
      `INSERT INTO key_registry_instances (instance_id, loaded_version, loaded_key_ids, primary_key_id, seen_at)
       VALUES ('laggard:1', 0, '{}', NULL, now())`,
    );
    const late = record('add a key for the timeout', await http().post('/admin/keys').set(admin));
    await snapshotRegistry();
    const timeout = record(
      'promotion timeout',
      await http().post(`/admin/keys/${late.body.keyId}/promote`).set(admin),
    );
    expect([timeout.status, timeout.body.error]).toEqual([409, 'KEY_NOT_LOADED_EVERYWHERE']);
    await app.dataSource.query(`DELETE FROM key_registry_instances WHERE instance_id = 'laggard:1'`);
    await readEveryAccount('read after the routes');
  }, 60_000);

  it('refuses swapped blobs, a foreign row and a wrong ROOT_KEY without printing the material', async () => {
    const spare = [
      record('add a spare key', await http().post('/admin/keys').set(admin)).body.keyId as string,
      record('add another spare key', await http().post('/admin/keys').set(admin)).body.keyId as string,
    ];
    await snapshotRegistry();
    const swap = () =>
      app.dataSource.query(
        `UPDATE key_registry r SET wrapped_key = o.wrapped_key FROM key_registry o
          WHERE r.key_id <> o.key_id AND r.key_id IN ($1, $2) AND o.key_id IN ($1, $2)`,
        spare,
      );
    await swap();
    const foreignKey = newKey();
    secrets.addKey('foreign data key', foreignKey.key);
    const foreign = await new LocalKeyWrapper(createSecretKey(randomBytes(32))).wrap(
      foreignKey.kid,
      Buffer.from(foreignKey.key, 'base64'),
    );
    secrets.addKey('foreign wrapped key', foreign.wrapped.toString('base64'));
    await app.dataSource.query(
      `INSERT INTO key_registry (key_id, state, wrapped_key, wrapping_key, created_by)
       VALUES ($1, 'decrypt-only', $2, $3, 'intruder')`,
      [foreignKey.kid, foreign.wrapped, foreign.wrappingKey],
    );
    await app.app.get(KeyRegistryLoader).refresh();
    const status = record('list with tampered rows', await http().get('/admin/keys').set(admin).expect(200));
    expect(status.body.keys.filter((key: { refused: string | null }) => key.refused !== null)).toHaveLength(
      3,
    );
    const swapped = record(
      'promote a swapped key',
      await http().post(`/admin/keys/${spare[0]}/promote`).set(admin),
    );
    expect([swapped.status, swapped.body.error]).toEqual([409, 'REGISTRY_KEY_REFUSED']);
    const alien = record(
      'promote the foreign key',
      await http().post(`/admin/keys/${foreignKey.kid}/promote`).set(admin),
    );
    expect([alien.status, alien.body.error]).toEqual([409, 'REGISTRY_KEY_REFUSED']);
    await cli(
      'keys:status with tampered rows',
      ['keys:status'],
      { KEY_WRAPPING: 'local', ROOT_KEY: root.key },
      0,
    );
    await readEveryAccount('read beside tampered rows');

    // An instance started with a wrong root key loads nothing: not one account opens.
    const good = app;
    app = await createTestApp(localEnv(otherRoot.key));
    try {
      record('list under a wrong ROOT_KEY', await http().get('/admin/keys').set(admin).expect(200));
      await readEveryAccount('read under a wrong ROOT_KEY', 503);
    } finally {
      await app.close();
      app = good;
    }
    await swap();
    await app.dataSource.query(`DELETE FROM key_registry WHERE key_id = $1`, [foreignKey.kid]);
  }, 60_000);

  it('answers 503 KMS_UNAVAILABLE while KMS is cut, at start and on a lifecycle action', async () => {
    await snapshotRegistry();
    await app.close();
    const kmsUrl = `http://127.0.0.1:${proxy.port}`;
    app = await createTestApp(kmsModeEnv(kmsUrl));
    await truncateAll(app.dataSource);
    accounts.clear();
    await app.app.get(KeyRegistryLoader).refresh();
    const added = record('add a KMS key', await http().post('/admin/keys').set(admin));
    expect(added.status).toBe(201);
    record(
      'promote the KMS key',
      await http().post(`/admin/keys/${added.body.keyId}/promote`).set(admin).expect(200),
    );
    await createAccount(33, 'create an account under a KMS key');
    const second = record('add a second KMS key', await http().post('/admin/keys').set(admin).expect(201));
    await snapshotRegistry();
    const kmsSettings = { KEY_WRAPPING: `aws-kms:${kmsKey}`, ...kmsEnv(kmsUrl) };
    await cli('keys:status on KMS', ['keys:status', '--json'], kmsSettings, 0);

    await proxy.cut();
    const unavailable = record('add while KMS is cut', await http().post('/admin/keys').set(admin));
    expect([unavailable.status, unavailable.body.error]).toEqual([503, 'KMS_UNAVAILABLE']);
    const rewrap = record('rewrap while KMS is cut', await http().post('/admin/keys/rewrap').set(admin));
    expect([rewrap.status, rewrap.body.error]).toEqual([503, 'KMS_UNAVAILABLE']);
    record(
      'promote while KMS is cut',
      await http().post(`/admin/keys/${second.body.keyId}/promote`).set(admin),
    );
    await readEveryAccount('read while KMS is cut');
    await cli('keys:add while KMS is cut', ['keys:add'], kmsSettings, 5);

    const running = app;
    app = await createTestApp(kmsModeEnv(kmsUrl));
    try {
      const notReady = record('ready while KMS is cut at start', await http().get('/health/ready'));
      expect(notReady.status).toBe(503);
      expect(notReady.text).toContain('KMS_UNAVAILABLE');
      await readEveryAccount('read on an instance started while KMS is cut', 503);
    } finally {
      await app.close();
      app = running;
    }
    await proxy.restore();
  }, 90_000);

  it('refuses a key wrapped by a KMS key of another account, and one KMS refuses, without printing the material', async () => {
    const other = await kms.otherAccount('111122223333');
    const otherKey = await kms.createKey(kms.endpoint, other);
    expect(otherKey).toMatch(/^arn:aws:kms:us-east-1:111122223333:key\//);
    const otherClient = kms.client(other);
    const wrapped = async (dataKey: TestKey) => {
      secrets.addKey('data key of another account', dataKey.key);
      const answer = await otherClient.send(
        new EncryptCommand({
          KeyId: otherKey,
          Plaintext: Buffer.from(dataKey.key, 'base64'),
          EncryptionContext: { purpose: REGISTRY_BINDING_LABEL, key_id: dataKey.kid },
        }),
      );
      const blob = Buffer.from(answer.CiphertextBlob as Uint8Array);
      secrets.addKey('wrapped key of another account', blob.toString('base64'));
      return blob;
    };
    // One row names the other account's key; one claims this account's key for the other's blob.
    const foreign = newKey();
    const disguised = newKey();
    await app.dataSource.query(
      `INSERT INTO key_registry (key_id, state, wrapped_key, wrapping_key, created_by)
       VALUES ($1, 'decrypt-only', $2, $3, 'intruder'), ($4, 'decrypt-only', $5, $6, 'intruder')`,
      [
        foreign.kid,
        await wrapped(foreign),
        `aws-kms:${otherKey}`,
        disguised.kid,
        await wrapped(disguised),
        `aws-kms:${kmsKey}`,
      ],
    );
    otherClient.destroy();
    try {
      await app.app.get(KeyRegistryLoader).refresh();
      const status = record('list with keys of another account', await http().get('/admin/keys').set(admin));
      const refused = Object.fromEntries(
        (status.body.keys as { keyId: string; refused: string | null }[]).map((key) => [
          key.keyId,
          key.refused,
        ]),
      );
      expect(refused[foreign.kid]).toBe('wrapped by a key this instance does not trust');
      expect(refused[disguised.kid]).toMatch(/^KMS /);
      for (const kid of [foreign.kid, disguised.kid]) {
        const promoted = record(
          'promote a key of another account',
          await http().post(`/admin/keys/${kid}/promote`).set(admin),
        );
        expect([promoted.status, promoted.body.error]).toEqual([409, 'REGISTRY_KEY_REFUSED']);
      }
      await readEveryAccount('read beside keys of another account');
    } finally {
      await app.dataSource.query(`DELETE FROM key_registry WHERE key_id IN ($1, $2)`, [
        foreign.kid,
        disguised.kid,
      ]);
    }
  });

  it('seals a provider client secret under a registry key and refreshes through it, without printing a secret', async () => {
    const client = newClient();
    secrets.addClientCredentials('provider client', client.clientId, client.clientSecret);
    const as = await AuthorizationServer.start([client]);
    try {
      const put = record(
        'put a provider client in registry mode',
        await http().put('/admin/providers/google_drive').set(admin).send({
          tokenUrl: as.tokenUrl,
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          clientAuth: client.auth,
        }),
      );
      expect(put.status).toBe(200);
      const [{ client_secret: sealed }] = await app.dataSource.query(
        `SELECT client_secret FROM provider_clients WHERE provider = 'google_drive'`,
      );
      secrets.addEnvelope('sealed client secret', sealed);
      const tokens = {
        access_token: randomSecret('ya29.'),
        refresh_token: await as.mint(client),
        token_type: 'Bearer',
        expires_at: Math.floor(Date.now() / 1000) - 60,
      };
      secrets.addTokens('expired account', tokens);
      const created = record(
        'create an expired account in registry mode',
        await http().post('/users/41/accounts').set(auth).send({ provider: 'google_drive', tokens }),
      );
      expect(created.status).toBe(201);
      const refreshed = await http()
        .get(`/users/41/accounts/${created.body.id}/tokens?minValidity=60`)
        .set(auth);
      expect(refreshed.status).toBe(200);
      secrets.addTokens('refreshed account', refreshed.body);
      accounts.set(created.body.id as number, { userId: 41, tokens: refreshed.body as TokenSet });
      record(
        'refresh in registry mode',
        refreshed,
        Object.values(refreshed.body).filter((value): value is string => typeof value === 'string'),
      );
      await snapshotRegistry();
      const removed = record(
        'delete the provider client',
        await http().delete('/admin/providers/google_drive').set(admin),
      );
      expect(removed.status).toBe(204);
    } finally {
      await as.stop();
    }
  });

  it('ends a key believed leaked by incident:key, through the route and the command, with ids and counts only', async () => {
    const primaryKey = async () => {
      const listed = record('list the keys', await http().get('/admin/keys').set(admin).expect(200));
      return (listed.body.keys as { keyId: string; state: string }[]).find((key) => key.state === 'primary')
        ?.keyId as string;
    };
    const leaked = await primaryKey();
    await createAccount(51, 'create an account under the key believed leaked');

    const started = record(
      'incident:key through the route',
      await http().post('/admin/incidents/key').set(admin).send({ kid: leaked }),
    );
    expect(started.status).toBe(202);
    const ended = await poll(async () => {
      const progress = await http().get(`/admin/incidents/key/${leaked}`).set(admin);
      return progress.body.complete === true ? progress : undefined;
    }, 60_000);
    record('incident:key progress', ended);
    expect(ended.body).toMatchObject({ status: 'retired', retired: true });
    await snapshotRegistry();

    // The replacement the route promoted is believed leaked next, and ended by the command.
    const replacement = await primaryKey();
    expect(replacement).toBe(ended.body.replacementKeyId);
    // The instance wraps with KMS by now, so the command does too; it promotes its own
    // replacement, and waits until this instance has loaded it.
    const patient = { ...kmsModeEnv(`http://127.0.0.1:${proxy.port}`), KEY_PROMOTION_TIMEOUT_SECONDS: '20' };
    await cli('incident:key', ['incident:key', replacement], patient, 0);
    await snapshotRegistry();
    expect(await primaryKey()).not.toBe(replacement);
    await readEveryAccount('read after the incidents');
  }, 120_000);

  it('printed, answered and stored no root key, data key, wrapped key, token or envelope', async () => {
    record('metrics', await http().get('/metrics').set(admin).expect(200));
    record('health', await http().get('/health'));
    record('readiness', await http().get('/health/ready'));
    const persisted = await storedOutsideSealedColumns(app.dataSource);
    expect(persisted).toContain('"key_registry_instances"');
    const output = capture.stop();
    expect(output).toContain('request completed');
    expect(output).toContain('refused');
    // The data keys of both modes are among the secrets looked for.
    const wrappings = [...unwrappedKeys.values()];
    expect(wrappings.filter((wrapping) => wrapping.startsWith('aws-kms:')).length).toBeGreaterThanOrEqual(2);
    expect(wrappings.filter((wrapping) => wrapping.startsWith('local:')).length).toBeGreaterThanOrEqual(6);
    expect(secrets.size).toBeGreaterThan(30);
    const leaks = [
      ...secrets.find(output, 'server stdout and stderr'),
      ...responses.leaks(secrets),
      ...cliRuns.flatMap(({ name, result }) => secrets.find(result.stdout + result.stderr, `CLI ${name}`)),
      ...secrets.find(persisted, 'every table but the sealed columns'),
    ];
    expect(leaks).toEqual([]);
  });
});
