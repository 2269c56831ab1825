import { createSecretKey, randomBytes } from 'node:crypto';
import { LocalKeyWrapper } from '../src/keys/local-key-wrapper';
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { TokenStorage, type StoredRow } from '../src/connectors/token-storage';
import { KeyRing } from '../src/crypto/key-ring';
import { KeyRegistryLoader } from '../src/keys/key-registry.loader';
import { KeyLifecycleService } from '../src/key-lifecycle/key-lifecycle.service';
import { truncateAll } from './create-app';
import { onPostgres, poll } from './support/fixtures';
import { cliEnv, runCli } from './support/rotation-cli';
import { insertSealedAccounts } from './support/safety-fixtures';
import { KmsServer, kmsEnv } from './support/kms-server';
import { findLeaks, OutputCapture } from './support/output-capture';
import { createRotationApp, keyEnv, newKey, tokensFor, type RotationApp } from './support/rotation-fixtures';
import { TcpProxy } from './support/tcp-proxy';
import { bearer, newApiToken } from './support/auth';

const ADMIN_TOKEN = newApiToken('admin');
const SERVICE_TOKEN = newApiToken('service');
const admin = bearer(ADMIN_TOKEN);

describe('key registry', () => {
  const kms = new KmsServer();
  let proxy: TcpProxy;
  let kmsKey: string;
  const apps: RotationApp[] = [];

  const registryEnv = (wrapping: string, endpoint = kms.endpoint) => ({
    ...keyEnv(undefined),
    ...kmsEnv(endpoint),
    KEY_WRAPPING: wrapping,
    KEY_REGISTRY_REFRESH_SECONDS: '1',
    KEY_PROMOTION_TIMEOUT_SECONDS: '20',
    ADMIN_API_TOKEN: ADMIN_TOKEN,
    CONNECTORS_API_TOKEN: SERVICE_TOKEN,
  });
  // Other suites leave their rows behind; each test starts from empty tables.
  let fresh = true;
  const start = async (env: Record<string, string | undefined>) => {
    const app = await createRotationApp(env);
    apps.push(app);
    if (fresh) await truncateAll(app.dataSource);
    fresh = false;
    return app;
  };
  // One process at a time opens the embedded database: a command runs with every app stopped.
  const stop = async (app: RotationApp) => {
    apps.splice(apps.indexOf(app), 1);
    await app.close();
  };
  const registryOf = (app: RotationApp) => app.app.get(KeyLifecycleService);
  const wrappedBlobs = async (app: RotationApp): Promise<string[]> =>
    (await app.dataSource.query(`SELECT encode(wrapped_key, 'base64') AS b FROM key_registry`)).map(
      (row: { b: string }) => row.b,
    );

  beforeAll(async () => {
    await kms.start();
    kmsKey = await kms.createKey();
    proxy = new TcpProxy('127.0.0.1', kms.port);
    await proxy.start();
  }, 60_000);

  beforeEach(() => {
    fresh = true;
  });

  afterEach(async () => {
    await proxy.restore();
    // Every other instance stops first, so none writes its heartbeat back after the truncation.
    while (apps.length > 1) await apps.pop()?.close();
    const [first] = apps;
    if (first) await truncateAll(first.dataSource);
    await apps.pop()?.close();
  });

  afterAll(async () => {
    await proxy.cut();
    await kms.stop();
  });

  it('adds and promotes a KMS-wrapped key, seals with it, and stores only the wrapped key', async () => {
    const app = await start(registryEnv(`aws-kms:${kmsKey}`));
    const notReady = await request(app.app.getHttpServer()).get('/health/ready').expect(503);
    expect(notReady.body.details.keys).toEqual({ status: 'down', code: 'NO_PRIMARY_KEY' });
    const added = await request(app.app.getHttpServer()).post('/admin/keys').set(admin).expect(201);
    expect(added.body).toMatchObject({ state: 'decrypt-only', wrappingKey: `aws-kms:${kmsKey}` });
    const keyId = added.body.keyId as string;
    await request(app.app.getHttpServer()).post(`/admin/keys/${keyId}/promote`).set(admin).expect(200);
    await request(app.app.getHttpServer()).get('/health/ready').expect(200);
    const tokens = tokensFor('kms', 1);
    const account = await app.accounts.createAccount(3, 'notion', tokens);
    expect(await app.accounts.getAccountTokens(3, account.id)).toMatchObject(tokens);
    const [row] = await app.dataSource.query(`SELECT token_key_id FROM external_accounts`);
    expect(row.token_key_id).toBe(keyId);
    const status = await request(app.app.getHttpServer()).get('/admin/keys').set(admin).expect(200);
    expect(status.body.keys).toEqual([
      expect.objectContaining({ keyId, state: 'primary', accounts: 1, loaded: true, refused: null }),
    ]);
    const [stored] = await app.dataSource.query(
      `SELECT state, octet_length(wrapped_key) AS bytes, created_by, promoted_by FROM key_registry`,
    );
    expect(stored.state).toBe('primary');
    expect(stored.bytes).toBeGreaterThan(32);
    expect(stored.promoted_by).toMatch(/^admin:/);
  });

  it('runs the lifecycle through the admin API: add, promote, rotate, retire, on either database', async () => {
    const app = await start({
      ...registryEnv('local'),
      ROOT_KEY: newKey().key,
      ROTATION_WORKER_ENABLED: 'true',
      ROTATION_POLL_SECONDS: '1',
    });
    const server = app.app.getHttpServer();
    const service = bearer(SERVICE_TOKEN);
    const unused = (await request(server).post('/admin/keys').set(admin).expect(201)).body.keyId as string;
    const retiredUnused = await request(server).post(`/admin/keys/${unused}/retire`).set(admin).expect(200);
    expect(retiredUnused.body).toMatchObject({ keyId: unused, state: 'retired', retiredBy: /^admin:/ });

    const first = (await request(server).post('/admin/keys').set(admin).expect(201)).body.keyId as string;
    await request(server).post(`/admin/keys/${first}/promote`).set(admin).expect(200);
    const tokens = { access_token: `life-${randomBytes(8).toString('hex')}` };
    const created = await request(server)
      .post('/users/7/accounts')
      .set(service)
      .send({ provider: 'notion', tokens })
      .expect(201);
    const second = (await request(server).post('/admin/keys').set(admin).expect(201)).body.keyId as string;
    await request(server).post(`/admin/keys/${second}/promote`).set(admin).expect(200);
    await request(server).post(`/admin/keys/${first}/retire`).set(admin).expect(409);
    const job = await request(server).post('/admin/rotations').set(admin).send({}).expect(202);
    await poll(async () => {
      const view = await request(server).get(`/admin/rotations/${job.body.id}`).set(admin).expect(200);
      return view.body.status === 'completed' ? true : undefined;
    });
    await request(server).post(`/admin/keys/${first}/retire`).set(admin).expect(200);
    const status = await request(server).get('/admin/keys').set(admin).expect(200);
    expect(status.body.keys).toEqual([
      expect.objectContaining({ keyId: unused, state: 'retired' }),
      expect.objectContaining({ keyId: first, state: 'retired', loaded: false }),
      expect.objectContaining({ keyId: second, state: 'primary', accounts: 1 }),
    ]);
    const read = await request(server).get(`/users/7/accounts/${created.body.id}/tokens`).set(service);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject(tokens);
    await request(server).get('/health/ready').expect(200);
  });

  it('refuses a body on the key actions, answers each promotion with the state it left, and names the key in the audit row', async () => {
    const app = await start({ ...registryEnv('local'), ROOT_KEY: newKey().key });
    const server = app.app.getHttpServer();
    const refused = await request(server)
      .post('/admin/keys')
      .set(admin)
      .send({ key: newKey().key, state: 'primary' })
      .expect(400);
    expect(refused.body.details).toEqual(
      expect.arrayContaining(['state: is not allowed', 'key: is not allowed']),
    );
    expect((await request(server).get('/admin/keys').set(admin).expect(200)).body.keys).toEqual([]);

    const add = async () =>
      (await request(server).post('/admin/keys').set(admin).expect(201)).body.keyId as string;
    const [a, b] = [await add(), await add()];
    await request(server).post(`/admin/keys/${a}/retire`).set(admin).send({ force: true }).expect(400);
    for (let round = 0; round < 3; round += 1) {
      const answers = await Promise.all(
        [a, b].map((kid) => request(server).post(`/admin/keys/${kid}/promote`).set(admin).send({})),
      );
      expect(answers.map((answer) => [answer.status, answer.body.state])).toEqual([
        [200, 'primary'],
        [200, 'primary'],
      ]);
    }
    const retiring = (await request(server).get('/admin/keys').set(admin)).body.keys.find(
      (key: { state: string }) => key.state === 'decrypt-only',
    ).keyId as string;
    await request(server).post(`/admin/keys/${retiring}/retire`).set(admin).expect(200);

    const trail = await request(server).get('/admin/audit').set(admin).expect(200);
    const actions = (trail.body.events as { action: string; statusCode: number }[]).map(
      (event) => `${event.action} ${event.statusCode}`,
    );
    expect(actions).toEqual(
      expect.arrayContaining([
        'POST /admin/keys 400',
        `POST /admin/keys ${a} 201`,
        `POST /admin/keys ${b} 201`,
        `POST /admin/keys/:kid/promote ${a} 200`,
        `POST /admin/keys/:kid/promote ${b} 200`,
        `POST /admin/keys/:kid/retire ${retiring} 200`,
      ]),
    );
  });

  it('is not ready and answers 503 with a code while no primary key is usable, naming a key the root cannot unwrap once', async () => {
    const root = newKey().key;
    const first = await start({ ...registryEnv('local'), ROOT_KEY: root });
    const server = first.app.getHttpServer();
    const service = bearer(SERVICE_TOKEN);
    const codeOf = async () => {
      const ready = await request(server).get('/health/ready').expect(503);
      return ready.body.details.keys.code as string;
    };
    expect(await codeOf()).toBe('NO_PRIMARY_KEY');
    const body = { provider: 'notion', tokens: { access_token: `nopk-${randomBytes(8).toString('hex')}` } };
    const noPrimary = await request(server).post('/users/9/accounts').set(service).send(body).expect(503);
    expect(noPrimary.body.error).toBe('NO_PRIMARY_KEY');
    const keyId = (await request(server).post('/admin/keys').set(admin).expect(201)).body.keyId as string;
    expect(await codeOf()).toBe('NO_PRIMARY_KEY');
    await request(server).post(`/admin/keys/${keyId}/promote`).set(admin).expect(200);
    await request(server).get('/health/ready').expect(200);
    const account = (await request(server).post('/users/9/accounts').set(service).send(body).expect(201))
      .body;
    await stop(first);

    const capture = new OutputCapture();
    capture.start();
    let wrongRoot: RotationApp;
    try {
      wrongRoot = await start({ ...registryEnv('local'), ROOT_KEY: newKey().key, LOG_LEVEL: 'warn' });
    } finally {
      capture.stop();
    }
    const other = wrongRoot.app.getHttpServer();
    const ready = await request(other).get('/health/ready').expect(503);
    expect(ready.body.details.keys).toEqual({ status: 'down', code: 'KEYS_NOT_UNWRAPPED' });
    const answers = await Promise.all([
      request(other).get(`/users/9/accounts/${account.id}/tokens`).set(service),
      request(other)
        .put(`/users/9/accounts/${account.id}/tokens`)
        .set(service)
        .send({ access_token: 'x-new-token' }),
      request(other).post('/users/9/accounts').set(service).send(body),
    ]);
    expect(answers.map((answer) => [answer.status, answer.body.error])).toEqual([
      [503, 'KEYS_NOT_UNWRAPPED'],
      [503, 'KEYS_NOT_UNWRAPPED'],
      [503, 'KEYS_NOT_UNWRAPPED'],
    ]);
    const lines = capture
      .text()
      .split('\n')
      .filter((line) => line.includes(keyId));
    expect(lines).toEqual([expect.stringContaining('set ROOT_KEY (or ROOT_KEY_PREVIOUS) to that root key')]);
    expect(capture.text()).not.toContain('keys:import');
    expect(findLeaks(capture.text(), [root])).toEqual([]);
  });

  it('answers 409 KEYS_MANAGED_BY_ENVIRONMENT to every change in env mode', async () => {
    const app = await start({ ...keyEnv(newKey()), ADMIN_API_TOKEN: ADMIN_TOKEN });
    const server = app.app.getHttpServer();
    for (const path of ['/admin/keys', '/admin/keys/rewrap', '/admin/keys/0123456789abcdef/promote']) {
      const answer = await request(server).post(path).set(admin).expect(409);
      expect(answer.body.error).toBe('KEYS_MANAGED_BY_ENVIRONMENT');
    }
    await request(server).post('/admin/keys/0123456789abcdef/retire').set(admin).expect(409);
    const inventory = await request(server).get('/admin/keys').set(admin).expect(200);
    expect(inventory.body).toHaveProperty('primaryKeyId');
  });

  it('retires only an unused key (409 KEY_IN_USE with the count), and a retired key is never loaded', async () => {
    const app = await start({ ...registryEnv('local'), ROOT_KEY: newKey().key });
    const registry = registryOf(app);
    const first = await registry.add('test');
    await registry.promote(first.keyId, 'test', 5);
    const tokens = tokensFor('retire', 1);
    const account = await app.accounts.createAccount(4, 'notion', tokens);
    const second = await registry.add('test');
    await registry.promote(second.keyId, 'test', 5);
    const refused = await request(app.app.getHttpServer())
      .post(`/admin/keys/${first.keyId}/retire`)
      .set(admin)
      .expect(409);
    expect(refused.body).toMatchObject({ error: 'KEY_IN_USE' });
    expect(refused.body.message).toContain('used by 1 accounts');
    const job = await app.rotation.startRotation({ requestedBy: 'test' });
    await app.worker.runJob(job.id);
    await request(app.app.getHttpServer()).post(`/admin/keys/${first.keyId}/retire`).set(admin).expect(200);
    expect(app.app.get(KeyRing).keyFor(first.keyId)).toBeUndefined();
    expect(await app.accounts.getAccountTokens(4, account.id)).toMatchObject(tokens);
  });

  it('keeps a key that still seals a provider client secret, until the rotation re-seals it', async () => {
    const app = await start({ ...registryEnv('local'), ROOT_KEY: newKey().key });
    const registry = registryOf(app);
    const first = await registry.add('test');
    await registry.promote(first.keyId, 'test', 5);
    await request(app.app.getHttpServer())
      .put('/admin/providers/notion')
      .set(admin)
      .send({
        tokenUrl: 'https://auth.example.com/token',
        clientId: 'c-1',
        clientSecret: `s-${randomBytes(8).toString('hex')}`,
      })
      .expect(200);
    const second = await registry.add('test');
    await registry.promote(second.keyId, 'test', 5);
    const status = await request(app.app.getHttpServer()).get('/admin/keys').set(admin).expect(200);
    expect(status.body.keys).toContainEqual(
      expect.objectContaining({ keyId: first.keyId, accounts: 0, providerClients: 1, safeToRetire: false }),
    );
    const refused = await request(app.app.getHttpServer())
      .post(`/admin/keys/${first.keyId}/retire`)
      .set(admin)
      .expect(409);
    expect(refused.body).toMatchObject({ error: 'KEY_IN_USE' });
    const job = await app.rotation.startRotation({ requestedBy: 'test' });
    await app.worker.runJob(job.id);
    await request(app.app.getHttpServer()).post(`/admin/keys/${first.keyId}/retire`).set(admin).expect(200);
    const client = await request(app.app.getHttpServer())
      .get('/admin/providers/notion')
      .set(admin)
      .expect(200);
    expect(client.body).toMatchObject({ clientId: 'c-1' });
  });

  it('keeps a key that seals a running connect session’s PKCE verifier, until the session ends', async () => {
    const app = await start({
      ...registryEnv('local'),
      ROOT_KEY: newKey().key,
      PUBLIC_BASE_URL: 'https://connectors.example',
    });
    const http = () => request(app.app.getHttpServer());
    const registry = registryOf(app);
    const first = await registry.add('test');
    await registry.promote(first.keyId, 'test', 5);
    await http()
      .put('/admin/providers/notion')
      .set(admin)
      .send({
        tokenUrl: 'https://auth.example.com/token',
        authorizationUrl: 'https://auth.example.com/authorize',
        clientId: 'c-1',
        clientSecret: `s-${randomBytes(8).toString('hex')}`,
      })
      .expect(200);
    const session = await http()
      .post('/users/7/connect-sessions')
      .set(bearer(SERVICE_TOKEN))
      .send({ provider: 'notion' })
      .expect(201);
    await http().get(new URL(session.body.connectUrl).pathname).expect(303);
    const second = await registry.add('test');
    await registry.promote(second.keyId, 'test', 5);
    // The rotation re-seals the client secret; the verifier ends with its session instead.
    await app.worker.runJob((await app.rotation.startRotation({ requestedBy: 'test' })).id);
    const refused = await http().post(`/admin/keys/${first.keyId}/retire`).set(admin).expect(409);
    expect(refused.body).toMatchObject({ error: 'KEY_IN_USE' });
    await app.dataSource.query(`UPDATE connect_sessions SET expires_at = now() - interval '1 second'`);
    await http().post(`/admin/keys/${first.keyId}/retire`).set(admin).expect(200);
  });

  it('records every command-line lifecycle action, done or refused, in the audit trail', async () => {
    const root = newKey();
    const serverEnv = { ...registryEnv('local'), ROOT_KEY: root.key };
    await stop(await start(serverEnv));
    const env = cliEnv({ KEY_WRAPPING: 'local', ROOT_KEY: root.key, KEY_PROMOTION_TIMEOUT_SECONDS: '20' });
    const cli = async (args: string[], status: number) => {
      const result = await runCli(args, env);
      expect({ args, status: result.status, stderr: result.stderr }).toMatchObject({ args, status });
      return result;
    };
    const first = JSON.parse((await cli(['keys:add', '--json'], 0)).stdout).keyId as string;
    await cli(['keys:promote', first], 0);
    const writer = await start(serverEnv);
    await writer.accounts.createAccount(6, 'notion', tokensFor('audit', 1));
    await stop(writer);
    const second = JSON.parse((await cli(['keys:add', '--json'], 0)).stdout).keyId as string;
    await cli(['keys:promote', second], 0);
    await cli(['keys:retire', first], 4);
    await cli(['keys:retire', second], 4);
    await cli(['keys:rewrap'], 0);
    const envKey = newKey();
    // Refused: the registry already has another primary key.
    const imported = await runCli(['keys:import'], { ...env, WORKFLOWS_ARTIFACT_ENC_KEY: envKey.key });
    expect(imported.status).toBe(4);

    const app = await start(serverEnv);
    const trail = await request(app.app.getHttpServer()).get('/admin/audit').set(admin).expect(200);
    const cliEvents = (trail.body.events as { action: string }[]).filter((event) =>
      event.action.startsWith('CLI '),
    );
    const actor = expect.stringMatching(/^cli:[^@\s]+@\S+$/);
    expect(cliEvents.reverse()).toEqual(
      [
        [`CLI keys:add ${first}`, 'allowed', 200],
        [`CLI keys:promote ${first}`, 'allowed', 200],
        [`CLI keys:add ${second}`, 'allowed', 200],
        [`CLI keys:promote ${second}`, 'allowed', 200],
        [`CLI keys:retire ${first}`, 'rejected', 409],
        [`CLI keys:retire ${second}`, 'rejected', 409],
        ['CLI keys:rewrap', 'allowed', 200],
        ['CLI keys:import', 'rejected', 409],
      ].map(([action, outcome, statusCode]) =>
        expect.objectContaining({ action, outcome, statusCode, actor, clientAddress: null }),
      ),
    );
    const filtered = await request(app.app.getHttpServer())
      .get('/admin/audit')
      .query({ action: `CLI keys:retire ${first}` })
      .set(admin)
      .expect(200);
    expect(filtered.body.events).toHaveLength(1);
    const blobs = await wrappedBlobs(app);
    expect(findLeaks(JSON.stringify(trail.body), [root.key, envKey.key, ...blobs])).toEqual([]);
  }, 300_000);

  it('refuses tampered registry rows and never seals with them', async () => {
    const root = newKey();
    const app = await start({ ...registryEnv('local'), ROOT_KEY: root.key });
    const registry = registryOf(app);
    const a = await registry.add('test');
    const b = await registry.add('test');
    await registry.promote(a.keyId, 'test', 5);
    await expect(
      app.dataSource.query(`UPDATE key_registry SET state = 'primary' WHERE key_id = $1`, [b.keyId]),
    ).rejects.toThrow(/ux_key_registry_one_primary/);
    await app.dataSource.query(
      `UPDATE key_registry r SET wrapped_key = o.wrapped_key FROM key_registry o
        WHERE r.key_id <> o.key_id AND r.key_id IN ($1, $2)`,
      [a.keyId, b.keyId],
    );
    // A key wrapped by a root this instance does not hold, under a plausible key id.
    const foreignKey = newKey();
    const foreignRoot = new LocalKeyWrapper(createSecretKey(randomBytes(32)));
    const foreignWrap = await foreignRoot.wrap(foreignKey.kid, Buffer.from(foreignKey.key, 'base64'));
    await app.dataSource.query(
      `INSERT INTO key_registry (key_id, state, wrapped_key, wrapping_key, created_by)
       VALUES ($1, 'decrypt-only', $2, $3, 'intruder')`,
      [foreignKey.kid, foreignWrap.wrapped, foreignWrap.wrappingKey],
    );
    const capture = new OutputCapture();
    capture.start();
    let output: string;
    try {
      await app.app.get(KeyRegistryLoader).refresh();
      output = capture.text();
    } finally {
      capture.stop();
    }
    const loader = app.app.get(KeyRegistryLoader);
    expect([...loader.refusedKeys().keys()].sort()).toEqual([a.keyId, b.keyId, foreignKey.kid].sort());
    const ring = app.app.get(KeyRing);
    expect(ring.primary).toBeUndefined();
    expect(ring.keyIds()).toEqual([]);
    await expect(app.accounts.createAccount(1, 'notion', tokensFor('t', 1))).rejects.toThrow(
      `registry key ${a.keyId} could not be unwrapped`,
    );
    await expect(registry.promote(b.keyId, 'test', 1)).rejects.toThrow(/refused/);
    expect(findLeaks(output, [root.key, ...(await wrappedBlobs(app))])).toEqual([]);
    expect(output).toContain('refused');
  });

  it('is not ready with KMS_UNAVAILABLE while KMS is cut at start, ready once back; a later cut keeps requests going', async () => {
    const seed = await start(registryEnv(`aws-kms:${kmsKey}`));
    const key = await registryOf(seed).add('test');
    await registryOf(seed).promote(key.keyId, 'test', 5);
    const tokens = tokensFor('outage', 1);
    const account = await seed.accounts.createAccount(5, 'notion', tokens);
    await stop(seed);

    await proxy.cut();
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const app = await start(registryEnv(`aws-kms:${kmsKey}`, `http://127.0.0.1:${proxy.port}`));
    // Keys not loaded yet are not keys that no configured key has: no such warning.
    const unknownKeyWarnings = warn.mock.calls.filter(([message]) =>
      String(message).includes('no configured key has'),
    );
    warn.mockRestore();
    expect(unknownKeyWarnings).toEqual([]);
    const server = app.app.getHttpServer();
    await request(server).get('/health').expect(200);
    const notReady = await request(server).get('/health/ready').expect(503);
    expect(JSON.stringify(notReady.body)).toContain('KMS_UNAVAILABLE');
    const refused = await request(server)
      .get(`/users/5/accounts/${account.id}/tokens`)
      .set(bearer(SERVICE_TOKEN));
    expect(refused.status).toBe(503);
    await proxy.restore();
    await poll(async () => ((await request(server).get('/health/ready')).status === 200 ? true : undefined));
    expect(await app.accounts.getAccountTokens(5, account.id)).toMatchObject(tokens);

    await proxy.cut();
    expect(await app.accounts.getAccountTokens(5, account.id)).toMatchObject(tokens);
    const written = await app.accounts.createAccount(5, 'notion', tokensFor('outage', 2));
    expect((await app.accounts.getAccountTokens(5, written.id)).access_token).toMatch(/^outage-access-2-/);
    const add = await request(server).post('/admin/keys').set(admin).expect(503);
    expect(add.body.error).toBe('KMS_UNAVAILABLE');
    await request(server).get('/health/ready').expect(200);
    await stop(app);
    // The command cannot load its keys: refused with exit code 5, and audited all the same.
    const cutEnv = { ...kmsEnv(`http://127.0.0.1:${proxy.port}`), KEY_WRAPPING: `aws-kms:${kmsKey}` };
    const command = await runCli(['keys:add'], cliEnv(cutEnv));
    expect([command.status, command.stderr]).toEqual([5, expect.stringContaining('KMS_UNAVAILABLE')]);
    const reader = await start(registryEnv(`aws-kms:${kmsKey}`, `http://127.0.0.1:${proxy.port}`));
    const trail = await request(reader.app.getHttpServer())
      .get('/admin/audit')
      .query({ action: 'CLI keys:add' })
      .set(admin);
    expect(trail.body.events).toEqual([
      expect.objectContaining({ outcome: 'failed', statusCode: 503, actor: expect.stringMatching(/^cli:/) }),
    ]);
  });

  it('imports env-mode keys with no row rewritten, then re-wraps them under a second KMS key without writing any account', async () => {
    const count = onPostgres ? 100_000 : 2_000;
    const envKey = newKey();
    const previous = newKey();
    const seed = await start(keyEnv(envKey, [previous]));
    const tokens = Array.from({ length: count }, (_, index) => ({ access_token: `imp-${index}` }));
    const seeded = await insertSealedAccounts(seed.dataSource, envKey, tokens);
    const xminOf = async (app: RotationApp) =>
      (
        await app.dataSource.query(
          `SELECT md5(string_agg(xmin::text, ',' ORDER BY id)) AS x FROM external_accounts`,
        )
      )[0].x;
    const before = await xminOf(seed);
    await stop(seed);

    const env = {
      ...kmsEnv(kms.endpoint),
      KEY_WRAPPING: `aws-kms:${kmsKey}`,
      WORKFLOWS_ARTIFACT_ENC_KEY: envKey.key,
      WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: previous.key,
    };
    const imported = await runCli(['keys:import'], cliEnv(env));
    expect(imported.stderr).not.toMatch(/error/i);
    expect(imported.status).toBe(0);
    expect(imported.stdout).toContain(`imported key ${envKey.kid} (primary)`);
    expect(imported.stdout).toContain(`imported key ${previous.kid} (decrypt-only)`);

    const secondKmsKey = await kms.createKey();
    const app = await start(registryEnv(`aws-kms:${kmsKey}`));
    expect(await xminOf(app)).toBe(before);
    const outputs = [imported.stdout];
    const rewrap = await request(app.app.getHttpServer()).post('/admin/keys/rewrap').set(admin).expect(200);
    expect(rewrap.body.rewrapped).toBe(2);
    await stop(app);

    const rewrapped = await runCli(
      ['keys:rewrap', '--json'],
      cliEnv({ ...kmsEnv(kms.endpoint), KEY_WRAPPING: `aws-kms:${secondKmsKey}` }),
    );
    expect(rewrapped.status).toBe(0);
    const result = JSON.parse(rewrapped.stdout) as { rewrapped: number; databaseMs: number };
    expect(result.rewrapped).toBe(2);
    process.stdout.write(`keys:rewrap on ${count} accounts: ${result.databaseMs} ms of database work\n`);
    outputs.push(rewrapped.stdout, rewrapped.stderr, JSON.stringify(rewrap.body));

    const after = await start(registryEnv(`aws-kms:${secondKmsKey}`));
    expect(await xminOf(after)).toBe(before);
    const wrapping = await after.dataSource.query(`SELECT DISTINCT wrapping_key FROM key_registry`);
    expect(wrapping).toEqual([{ wrapping_key: `aws-kms:${secondKmsKey}` }]);
    const ring = after.app.get(KeyRing);
    expect(ring.primaryKeyId).toBe(envKey.kid);
    const storage = after.app.get(TokenStorage);
    const rows = await after.dataSource.query(
      `SELECT id, user_id AS "userId", access_token AS "accessToken", refresh_token AS "refreshToken",
              scopes, token_expires_at AS "tokenExpiresAt" FROM external_accounts ORDER BY id`,
    );
    expect(rows).toHaveLength(count);
    const byId = new Map(seeded.map((row) => [row.id, row.tokens.access_token]));
    const wrong = rows.filter((row: StoredRow) => storage.open(row).access_token !== byId.get(row.id));
    expect(wrong).toEqual([]);
    const blobs = await wrappedBlobs(after);
    expect(findLeaks(outputs.join('\n'), [envKey.key, previous.key, ...blobs])).toEqual([]);
  }, 300_000);

  it('opens no envelope from the database and the environment alone, without KMS', async () => {
    const app = await start(registryEnv(`aws-kms:${kmsKey}`));
    const key = await registryOf(app).add('test');
    await registryOf(app).promote(key.keyId, 'test', 5);
    const account = await app.accounts.createAccount(8, 'notion', tokensFor('nokms', 1));
    await stop(app);
    await proxy.cut();
    const blind = await start(registryEnv(`aws-kms:${kmsKey}`, `http://127.0.0.1:${proxy.port}`));
    await expect(blind.accounts.getAccountTokens(8, account.id)).rejects.toThrow(/not loaded/);
    await stop(blind);
    const envOnly = await start(keyEnv(undefined));
    await expect(envOnly.accounts.getAccountTokens(8, account.id)).rejects.toThrow();
  });
});
