import request from 'supertest';
import { KeyRing } from '../src/crypto/key-ring';
import { KeyLifecycleService } from '../src/key-lifecycle/key-lifecycle.service';
import { truncateAll } from './create-app';
import { bearer, newApiToken } from './support/auth';
import { onPostgres, poll } from './support/fixtures';
import { CliProcess, cliEnv, runCli, type CliResult } from './support/rotation-cli';
import {
  createRotationApp,
  holdRotationJob,
  keyEnv,
  newKey,
  type RotationApp,
  type TestKey,
} from './support/rotation-fixtures';
import { insertSealedAccounts, randomSecret, type SeededAccount } from './support/safety-fixtures';

const ADMIN_TOKEN = newApiToken('admin');
const SERVICE_TOKEN = newApiToken('service');
const admin = bearer(ADMIN_TOKEN);
const service = bearer(SERVICE_TOKEN);

/**
 * Accounts of the command-line scenario, sealed with SQL, not one by one: 10 000 on PostgreSQL,
 * where the command is killed midway with a server reading throughout; the embedded pass, with no
 * second process, runs the same command to the end on fewer.
 */
const CLI_ACCOUNTS = onPostgres ? 10_000 : 2_000;
const ROUTE_ACCOUNTS = 2_000;

/**
 * A key believed leaked, in registry mode (local root key) and env mode: the admin route with a
 * server answering token reads throughout, and the command line from leaked to retired. On
 * PostgreSQL the command is SIGKILLed mid-job, with a server reading throughout, and run again;
 * the embedded database is opened by one process at a time and never SIGKILLed by the suites, so
 * there the command runs alone, once.
 */
describe('incident:key', () => {
  const root = newKey();
  let app: RotationApp | undefined;

  const registryEnv = () => ({
    ...keyEnv(undefined),
    KEY_WRAPPING: 'local',
    ROOT_KEY: root.key,
    KEY_REGISTRY_REFRESH_SECONDS: '1',
    KEY_PROMOTION_TIMEOUT_SECONDS: '20',
    ADMIN_API_TOKEN: ADMIN_TOKEN,
    CONNECTORS_API_TOKEN: SERVICE_TOKEN,
    ROTATION_BATCH_SIZE: '250',
    ROTATION_LEASE_SECONDS: '5',
    PUBLIC_BASE_URL: 'https://connectors.example',
  });
  const http = () => request((app as RotationApp).app.getHttpServer());

  /** A server in registry mode whose primary key is `leaked`, with accounts and a client secret under it. */
  async function leakedRegistry(leaked: TestKey, accounts: number): Promise<SeededAccount[]> {
    app = await createRotationApp(registryEnv());
    await truncateAll(app.dataSource);
    await app.app.get(KeyLifecycleService).import(KeyRing.fromSettings({ primary: leaked.key }), 'test');
    await http()
      .put('/admin/providers/notion')
      .set(admin)
      .send({
        tokenUrl: 'https://auth.example.com/token',
        authorizationUrl: 'https://auth.example.com/authorize',
        clientId: 'c-1',
        clientSecret: randomSecret('s-'),
      })
      .expect(200);
    const tokens = Array.from({ length: accounts }, (_, index) => ({ access_token: `leak-${index}` }));
    return insertSealedAccounts(app.dataSource, leaked, tokens);
  }

  let stopReaders: (() => Promise<unknown>) | undefined;

  /**
   * Token reads of the seeded accounts, two at a time, until stopped or the first wrong answer;
   * every answer is checked.
   */
  function readThroughout(target: RotationApp, accounts: SeededAccount[]) {
    let stopped = false;
    let reads = 0;
    const errors: string[] = [];
    const reader = async (offset: number) => {
      for (let index = offset; !stopped && errors.length === 0; index += 7) {
        const account = accounts[(index * 7919) % accounts.length];
        const answer = await request(target.app.getHttpServer())
          .get(`/users/${account.userId}/accounts/${account.id}/tokens`)
          .set(service);
        reads += 1;
        if (answer.status !== 200 || answer.body.access_token !== account.tokens.access_token) {
          errors.push(`account ${account.id}: ${answer.status} ${answer.body.error ?? ''}`);
        }
      }
    };
    const readers = [reader(0), reader(3)];
    const stop = async () => {
      stopped = true;
      await Promise.all(readers);
      stopReaders = undefined;
      return { reads, errors };
    };
    stopReaders = stop;
    return stop;
  }

  async function keyStates(target: RotationApp): Promise<Record<string, string>> {
    const rows: { key_id: string; state: string }[] = await target.dataSource.query(
      `SELECT key_id, state FROM key_registry`,
    );
    return Object.fromEntries(rows.map((row) => [row.key_id, row.state]));
  }

  async function keyIdsOfAccounts(target: RotationApp): Promise<string[]> {
    const rows: { token_key_id: string }[] = await target.dataSource.query(
      `SELECT DISTINCT token_key_id FROM external_accounts`,
    );
    return rows.map((row) => row.token_key_id);
  }

  afterEach(async () => {
    await stopReaders?.();
    if (app) await truncateAll(app.dataSource);
    await app?.close();
    app = undefined;
  });

  it('replaces, rotates off and retires a leaked key through the admin route while reads go on', async () => {
    const leaked = newKey();
    const accounts = await leakedRegistry(leaked, ROUTE_ACCOUNTS);
    const session = await http()
      .post('/users/7/connect-sessions')
      .set(service)
      .send({ provider: 'notion' })
      .expect(201);
    await http().get(new URL(session.body.connectUrl).pathname).expect(303);
    await http().get(`/admin/incidents/key/${leaked.kid}`).set(admin).expect(404);
    const stopReading = readThroughout(app as RotationApp, accounts);

    const started = await http()
      .post('/admin/incidents/key')
      .set(admin)
      .send({ kid: leaked.kid })
      .expect(202);
    expect(started.body).toMatchObject({
      keyId: leaked.kid,
      mode: 'registry',
      status: 'in_progress',
      complete: false,
      accounts: { matched: ROUTE_ACCOUNTS },
      providerSecrets: { matched: 1 },
    });
    const final = await poll(
      async () => {
        const view = await http().get(`/admin/incidents/key/${leaked.kid}`).set(admin).expect(200);
        return view.body.status === 'in_progress' ? undefined : view.body;
      },
      60_000,
      250,
    );
    const { reads, errors } = await stopReading();

    expect(errors).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    const replacement = final.replacementKeyId as string;
    expect(final).toMatchObject({
      status: 'retired',
      complete: true,
      retired: true,
      primaryKeyId: replacement,
      accounts: { matched: ROUTE_ACCOUNTS, resealed: ROUTE_ACCOUNTS, failed: 0, remaining: 0 },
      providerSecrets: { matched: 1, resealed: 1, failed: 0, remaining: 0 },
      connectSessionsEnded: 1,
      rotation: { status: 'completed', targetKeyId: replacement },
      nextStep: null,
    });
    expect(await keyStates(app as RotationApp)).toEqual({
      [leaked.kid]: 'retired',
      [replacement]: 'primary',
    });
    expect(await keyIdsOfAccounts(app as RotationApp)).toEqual([replacement]);
    const [secret] = await (app as RotationApp).dataSource.query(
      `SELECT client_secret FROM provider_clients`,
    );
    expect(secret.client_secret).toContain(`"kid":"${replacement}"`);
    const ended = await http().get(`/users/7/connect-sessions/${session.body.id}`).set(service).expect(200);
    expect(ended.body).toMatchObject({ status: 'failed', error: 'connect_session_ended' });

    const again = await http().post('/admin/incidents/key').set(admin).send({ kid: leaked.kid }).expect(200);
    expect(again.body).toMatchObject({ status: 'retired', alreadyRetired: true, complete: true });
    await http().post('/admin/incidents/key').set(admin).send({ kid: 'LEAKED' }).expect(400);
    const trail = await http().get('/admin/audit').query({ limit: 50 }).set(admin).expect(200);
    const actions = trail.body.events.map((event: { action: string; statusCode: number }) => [
      event.action,
      event.statusCode,
    ]);
    expect(actions).toEqual(
      expect.arrayContaining([
        [`POST /admin/incidents/key ${leaked.kid}`, 202],
        [`POST /admin/incidents/key ${leaked.kid}`, 200],
        [`incident:key ${leaked.kid} replaced by ${replacement}`, 200],
        [`incident:key ${leaked.kid} retired`, 200],
      ]),
    );
  }, 90_000);

  it('in env mode refuses while the leaked key is primary, naming the setting, then clears it once it is not', async () => {
    const leaked = newKey();
    const fresh = newKey();
    const env = {
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      ROTATION_LEASE_SECONDS: '5',
    };
    app = await createRotationApp(keyEnv(leaked, [], env));
    await truncateAll(app.dataSource);
    const accounts = await insertSealedAccounts(
      app.dataSource,
      leaked,
      Array.from({ length: 50 }, (_, index) => ({ access_token: `env-${index}` })),
    );
    const refused = await http()
      .post('/admin/incidents/key')
      .set(admin)
      .send({ kid: leaked.kid })
      .expect(409);
    expect(refused.body).toMatchObject({ error: 'INCIDENT_NEEDS_NEW_PRIMARY_KEY' });
    expect(refused.body.message).toContain(
      'set WORKFLOWS_ARTIFACT_ENC_KEY to a new key (npx connectors keys:generate) and put ' +
        `key ${leaked.kid} in WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS`,
    );
    await app.close();

    app = await createRotationApp(keyEnv(fresh, [leaked], env));
    await http().post('/admin/incidents/key').set(admin).send({ kid: leaked.kid }).expect(202);
    const final = await poll(
      async () => {
        const view = await http().get(`/admin/incidents/key/${leaked.kid}`).set(admin).expect(200);
        return view.body.status === 'in_progress' ? undefined : view.body;
      },
      30_000,
      250,
    );
    expect(final).toMatchObject({
      mode: 'env',
      status: 'cleared',
      complete: true,
      retired: false,
      accounts: { matched: 50, resealed: 50, failed: 0, remaining: 0 },
    });
    expect(final.nextStep).toContain(`remove it from WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS`);
    expect(await keyIdsOfAccounts(app)).toEqual([fresh.kid]);
    const [account] = accounts;
    await http().get(`/users/${account.userId}/accounts/${account.id}/tokens`).set(service).expect(200);
    await app.close();

    // The leaked key taken out of the settings: the incident is over, and says so.
    app = await createRotationApp(keyEnv(fresh, [], env));
    const over = await http().post('/admin/incidents/key').set(admin).send({ kid: leaked.kid }).expect(200);
    expect(over.body).toMatchObject({ status: 'retired', alreadyRetired: true, retired: true });
    await http().get(`/admin/incidents/key/${newKey().kid}`).set(admin).expect(404);
  }, 60_000);

  it(`runs from leaked to retired on the command line, ${CLI_ACCOUNTS} accounts${onPostgres ? ', finishing after being killed midway' : ''}`, async () => {
    const leaked = newKey();
    const accounts = await leakedRegistry(leaked, CLI_ACCOUNTS);
    const env = cliEnv(registryEnv());
    const server = app as RotationApp;
    // One process at a time opens the embedded database: the server reads throughout on PostgreSQL only.
    const stopReading = onPostgres ? readThroughout(server, accounts) : undefined;
    if (!onPostgres) {
      await server.close();
      app = undefined;
    }

    const first = new CliProcess(['incident:key', leaked.kid], env);
    let finished: CliResult;
    if (onPostgres) {
      // Held at a batch part-way (the job row locked), so it is provably killed mid-job.
      await first.waitForOutput(/^progress: [1-9]\d*\//m);
      const [job] = await server.rotation.listJobs(1);
      const release = await holdRotationJob(server.dataSource, job.id);
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      await release();
      const killed = await server.rotation.getJob(job.id);
      expect(killed).toMatchObject({ status: 'running' });
      expect(killed.scanned).toBeLessThan(CLI_ACCOUNTS);
      // The next run continues the same job: the dead process's partition is taken over once its
      // lease ends, the others go on at once.
      finished = await runCli(['incident:key', leaked.kid], env);
      expect(finished.stdout).toMatch(new RegExp(`^continuing rotation job ${job.id} \\(running`, 'm'));
    } else {
      finished = await first.exited;
    }
    expect(first.stdout).toMatch(new RegExp(`^added key [0-9a-f]{16} to replace key ${leaked.kid}$`, 'm'));
    const replacement = /^key ([0-9a-f]{16}) is primary$/m.exec(first.stdout)?.[1] as string;
    expect(replacement).toBeDefined();
    expect([finished.stderr, finished.status]).toEqual(['', 0]);
    expect(finished.stdout).toContain(
      `accounts: matched ${CLI_ACCOUNTS}, re-sealed ${CLI_ACCOUNTS}, failed 0, remaining 0`,
    );
    expect(finished.stdout).toContain(
      'provider client secrets: matched 1, re-sealed 1, failed 0, remaining 0',
    );
    expect(finished.stdout).toContain(`key ${leaked.kid} is retired`);
    const third = await runCli(['incident:key', leaked.kid], env);
    expect([third.status, third.stdout.split('\n')[0]]).toEqual([
      0,
      `key ${leaked.kid} is already retired: nothing to do`,
    ]);

    if (stopReading) {
      const { reads, errors } = await stopReading();
      expect(errors).toEqual([]);
      expect(reads).toBeGreaterThan(0);
    } else {
      app = await createRotationApp(registryEnv());
    }
    const after = app as RotationApp;
    expect(await keyStates(after)).toEqual({ [leaked.kid]: 'retired', [replacement]: 'primary' });
    expect(await keyIdsOfAccounts(after)).toEqual([replacement]);
    expect(await after.rotation.listJobs(10)).toEqual([
      expect.objectContaining({ status: 'completed', targetKeyId: replacement }),
    ]);
    const trail = await http()
      .get('/admin/audit')
      .query({ action: `CLI incident:key ${leaked.kid}` })
      .set(admin);
    expect(trail.body.events.map((event: { statusCode: number }) => event.statusCode).sort()).toEqual([
      200, 200,
    ]);
  }, 120_000);
});
