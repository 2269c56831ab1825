import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { EventEmitter2 } from '@nestjs/event-emitter';
import request from 'supertest';
import { ACCOUNT_EVENTS, type AccountEvent } from '../src/connectors/account-events';
import type { TokenSet } from '../src/connectors/token-set';
import { RefreshAheadWorker } from '../src/connectors/refresh/refresh-ahead.worker';
import { TokenStorage } from '../src/connectors/token-storage';
import { NOTICES_APPLICATION_NAME } from '../src/database/database-notices';
import { KeyUsageService } from '../src/key-lifecycle/key-usage.service';
import { RotationService } from '../src/rotation/rotation.service';
import { truncateAll, type TestApp } from './create-app';
import { AuthorizationServer, newClient } from './support/authorization-server';
import { freePort } from './support/built-server';
import { describeIfPostgres, poll, storedRows } from './support/fixtures';
import {
  createExpiredAccount,
  createRefreshApp,
  putProvider,
  refreshEnv,
  service,
} from './support/refresh-fixtures';
import { newKey, waitForStatus } from './support/rotation-fixtures';

const client = newClient();
const keyA = newKey();
const keyB = newKey();

describeIfPostgres('one refresh per account across instances (PostgreSQL)', () => {
  let as: AuthorizationServer;
  const apps = new Set<TestApp>();

  async function open(env = refreshEnv(keyA)): Promise<TestApp> {
    const app = await createRefreshApp(env);
    apps.add(app);
    return app;
  }

  const tokensVia = (app: TestApp, userId: number, id: number) =>
    request(app.app.getHttpServer())
      .get(`/users/${userId}/accounts/${id}/tokens?minValidity=60`)
      .set(service);

  beforeAll(async () => {
    as = await AuthorizationServer.start([client]);
  });

  afterEach(async () => {
    for (const app of [...apps]) {
      apps.delete(app);
      await app.close();
    }
  });

  afterAll(async () => {
    await as?.stop();
  });

  it('answers 50 concurrent reads over two instances with one provider call and one new token', async () => {
    const first = await open();
    const second = await open();
    await truncateAll(first.dataSource);
    expect((await putProvider(first, 'google_drive', client, as.tokenUrl)).status).toBe(200);
    const refreshToken = await as.mint(client);
    const { id } = await createExpiredAccount(first, 5, 'google_drive', refreshToken);
    const calls = await as.tokenRequests();

    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, index) => tokensVia(index % 2 === 0 ? first : second, 5, id)),
    );

    expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
    const accessTokens = new Set(answers.map((answer) => (answer.body as TokenSet).access_token));
    expect(accessTokens.size).toBe(1);
    expect(await as.tokenRequests()).toBe(calls + 1);
    const stored = (
      await request(second.app.getHttpServer()).get(`/users/5/accounts/${id}/tokens`).set(service)
    ).body as TokenSet;
    expect(stored.access_token).toBe([...accessTokens][0]);
    expect(stored.refresh_token).not.toBe(refreshToken);
    expect(await as.introspect(client, stored.refresh_token as string)).toMatchObject({ active: true });
  });

  it('wakes the callers waiting on another instance by a notice, and by their poll when notices are lost', async () => {
    // Nothing but a notice can wake a waiter of `listening` before the test times out: its polls
    // and the holder's lease are all longer than that.
    const long = {
      REFRESH_POLL_MS: '600000',
      REFRESH_NOTICE_FALLBACK_MS: '600000',
      REFRESH_LEASE_SECONDS: '300',
      PROVIDER_TIMEOUT_MS: '120000',
      REFRESH_WAIT_MS: '600000',
    };
    const holder = await open(refreshEnv(keyA, long));
    const listening = await open(refreshEnv(keyA, long));
    const deaf = await open(
      refreshEnv(keyA, { ...long, REFRESH_NOTICES_ENABLED: 'false', REFRESH_POLL_MS: '20' }),
    );
    await truncateAll(holder.dataSource);
    expect((await putProvider(holder, 'google_drive', client, as.tokenUrl)).status).toBe(200);
    const { id } = await createExpiredAccount(holder, 8, 'google_drive', await as.mint(client));
    const calls = await as.tokenRequests();

    await as.behave({ holdUntilReleased: true });
    // A supertest request is sent once something awaits it: `then` sends these at once.
    const refreshing = tokensVia(holder, 8, id).then((answer) => answer);
    await poll(async () => ((await as.held()) === 1 ? true : undefined));
    // Each waiter opens the stored tokens once it has read the row and found the lease held.
    const opens = [listening, deaf].map((app) => jest.spyOn(app.app.get(TokenStorage), 'open'));
    const waiting = Array.from({ length: 20 }, (_, index) =>
      tokensVia(index < 10 ? listening : deaf, 8, id).then((answer) => answer),
    );
    await poll(async () => (opens.every((spy) => spy.mock.calls.length === 10) ? true : undefined));
    // Ten waiters, one connection that listens: waiters hold none of their own.
    await poll(async () => {
      const [{ count }] = await holder.dataSource.query(
        `SELECT count(*)::int AS count FROM pg_stat_activity WHERE application_name = $1`,
        [NOTICES_APPLICATION_NAME],
      );
      return count === 1 ? true : undefined;
    });
    opens.forEach((spy) => spy.mockRestore());
    await as.release();
    const answers = [await refreshing, ...(await Promise.all(waiting))];
    await as.behave({});

    expect(answers.map((answer) => answer.status)).toEqual(Array(21).fill(200));
    expect(new Set(answers.map((answer) => (answer.body as TokenSet).access_token)).size).toBe(1);
    expect(await as.tokenRequests()).toBe(calls + 1);
  });

  it('shares one failure and one needs_reauth event with the callers of both instances', async () => {
    // The provider answer is held until every caller is in: no timeout may end the hold first.
    const patient = { PROVIDER_TIMEOUT_MS: '60000', REFRESH_LEASE_SECONDS: '90' };
    const first = await open(refreshEnv(keyA, patient));
    const second = await open(refreshEnv(keyA, patient));
    await truncateAll(first.dataSource);
    expect((await putProvider(first, 'google_drive', client, as.tokenUrl)).status).toBe(200);
    const refreshToken = await as.mint(client);
    const { id } = await createExpiredAccount(first, 7, 'google_drive', refreshToken);
    const reauthEvents: number[] = [];
    for (const app of [first, second]) {
      app.app.get(EventEmitter2).on(ACCOUNT_EVENTS.needsReauth, (event: AccountEvent) => {
        reauthEvents.push(event.accountId);
      });
    }
    const readAll = () =>
      Promise.all(
        Array.from({ length: 10 }, (_, index) => tokensVia(index % 2 === 0 ? first : second, 7, id)),
      );

    // Each caller opens the stored tokens once it has read the row, and the refresh once more
    // before its provider call: eleven opens, and the call held, mean every caller saw the row
    // before the failure was recorded.
    const opens = [first, second].map((app) => jest.spyOn(app.app.get(TokenStorage), 'open'));
    await as.behave({ failStatus: 503, holdUntilReleased: true });
    let calls = await as.tokenRequests();
    const failing = readAll();
    await poll(async () =>
      opens.reduce((sum, spy) => sum + spy.mock.calls.length, 0) === 11 && (await as.held()) === 1
        ? true
        : undefined,
    );
    await as.release();
    const failed = await failing;
    opens.forEach((spy) => spy.mockRestore());
    expect(failed.map((answer) => answer.status)).toEqual(Array(10).fill(502));
    expect(await as.tokenRequests()).toBe(calls + 1);

    await as.behave({});
    await as.revoke(client, refreshToken);
    calls = await as.tokenRequests();
    const refused = await readAll();
    expect(refused.map((answer) => answer.body.error)).toEqual(Array(10).fill('ACCOUNT_NEEDS_REAUTH'));
    expect(await as.tokenRequests()).toBe(calls + 1);
    expect(reauthEvents).toEqual([id]);
  });

  it('lets the next caller finish within the lease when the refreshing instance is killed mid-call', async () => {
    const survivor = await open(
      refreshEnv(keyA, { REFRESH_LEASE_SECONDS: '5', PROVIDER_TIMEOUT_MS: '4000' }),
    );
    await truncateAll(survivor.dataSource);
    expect((await putProvider(survivor, 'google_drive', client, as.tokenUrl)).status).toBe(200);
    const { id } = await createExpiredAccount(survivor, 6, 'google_drive', await as.mint(client));

    const port = await freePort();
    const env = refreshEnv(keyA, { REFRESH_LEASE_SECONDS: '5', PROVIDER_TIMEOUT_MS: '4000' });
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
      cwd: resolve(__dirname, '..'),
      env: {
        PATH: process.env.PATH,
        ...Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined)),
        NODE_ENV: 'test',
        DATABASE_URL: process.env.E2E_DATABASE_URL,
        PORT: String(port),
        LOG_LEVEL: 'warn',
        REFRESH_AHEAD_SECONDS: '0',
      },
      stdio: 'ignore',
    });
    const exited = new Promise((done) => child.once('exit', done));
    try {
      const base = `http://127.0.0.1:${port}`;
      await poll(
        () =>
          fetch(`${base}/health/ready`).then(
            (r) => (r.ok ? true : undefined),
            () => undefined,
          ),
        90_000,
        250,
      );
      await as.behave({ holdMs: 120_000 });
      const calls = await as.tokenRequests();
      const inFlight = fetch(`${base}/users/6/accounts/${id}/tokens?minValidity=60`, {
        headers: service,
      }).catch(() => undefined);
      await poll(async () => ((await as.tokenRequests()) === calls + 1 ? true : undefined));
      child.kill('SIGKILL');
      await exited;
      await inFlight;
      await as.behave({});

      // The provider spent the refresh token for the killed instance; its reuse revokes the grant.
      const [{ until }] = await survivor.dataSource.query(
        `SELECT (extract(epoch FROM refresh_lease_until) * 1000)::float8 AS until
           FROM external_accounts WHERE id = $1 AND refresh_lease_owner IS NOT NULL`,
        [id],
      );
      const askedAt = Date.now();
      const next = await tokensVia(survivor, 6, id);
      const answeredAt = Date.now();
      // The next caller waits for the dead instance's lease to expire and then takes over: it is
      // delayed by the lease (5 s), plus the slack of a poll and the provider's answer on a loaded
      // machine, never by a second lease.
      expect(answeredAt).toBeGreaterThanOrEqual(until);
      expect(answeredAt - askedAt).toBeLessThan(5_000 + 3_000);
      expect(next.status).toBe(409);
      expect(next.body.error).toBe('ACCOUNT_NEEDS_REAUTH');
      expect(await as.tokenRequests()).toBe(calls + 2);
      const account = await request(survivor.app.getHttpServer()).get(`/users/6/accounts/${id}`).set(service);
      expect(account.body).toMatchObject({ status: 'needs_reauth', statusReason: 'invalid_grant' });

      const after = await Promise.all([tokensVia(survivor, 6, id), tokensVia(survivor, 6, id)]);
      expect(after.map((answer) => answer.status)).toEqual([409, 409]);
      expect(await as.tokenRequests()).toBe(calls + 2);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await as.behave({});
    }
  }, 180_000);

  it('keeps every refreshed token while a rotation job re-seals the same accounts, secrets included', async () => {
    const seeding = await open(refreshEnv(keyA));
    await truncateAll(seeding.dataSource);
    expect((await putProvider(seeding, 'google_drive', client, as.tokenUrl)).status).toBe(200);
    const accounts: number[] = [];
    for (let index = 0; index < 40; index += 1) {
      accounts.push(
        (await createExpiredAccount(seeding, 10 + (index % 4), 'google_drive', await as.mint(client))).id,
      );
    }
    apps.delete(seeding);
    await seeding.close();
    const rotating = await open(refreshEnv(keyB, { ROTATION_WORKER_ENABLED: 'true' }, [keyA]));
    const other = await open(refreshEnv(keyB, {}, [keyA]));
    const calls = await as.tokenRequests();
    const rotation = rotating.app.get(RotationService);

    const job = await rotation.startRotation({ batchSize: 2, requestedBy: 'test' });
    const storm = await Promise.all(
      accounts.map((id, index) => tokensVia(index % 2 === 0 ? rotating : other, 10 + (index % 4), id)),
    );
    const final = await waitForStatus(rotation, job.id, ['completed', 'completed_with_errors', 'failed']);

    expect(final.status).toBe('completed');
    expect(storm.map((answer) => answer.status)).toEqual(Array(accounts.length).fill(200));
    expect(await as.tokenRequests()).toBe(calls + accounts.length);
    const rows = await storedRows(other.dataSource);
    expect(rows.map((row) => row.token_key_id)).toEqual(Array(accounts.length).fill(keyB.kid));
    for (const [index, id] of accounts.entries()) {
      const stored = (await tokensVia(other, 10 + (index % 4), id)).body as TokenSet;
      expect(stored.access_token).toBe((storm[index].body as TokenSet).access_token);
      expect(await as.introspect(client, stored.refresh_token as string)).toMatchObject({ active: true });
    }
    const inventory = await rotating.app.get(KeyUsageService).inventory();
    expect(inventory).toMatchObject({
      accountsToRotate: 0,
      providerClientsToRotate: 0,
      providerClients: [{ keyId: keyB.kid, role: 'primary', clients: 1 }],
    });
    expect(inventory.keys.find((entry) => entry.keyId === keyA.kid)?.safeToRetire).toBe(true);
    const [secret] = await other.dataSource.query(`SELECT client_secret FROM provider_clients`);
    expect(secret.client_secret).toContain(`"kid":"${keyB.kid}"`);
    expect(secret.client_secret).not.toContain(client.clientSecret);
    expect(await as.tokenRequests()).toBe(calls + accounts.length);
  }, 120_000);

  it('runs the refresh-ahead job on one instance at a time, and hands it over when that one stops', async () => {
    const ahead = { REFRESH_AHEAD_SECONDS: '600', REFRESH_AHEAD_POLL_SECONDS: '3600' };
    const first = await open(refreshEnv(keyA, ahead));
    const second = await open(refreshEnv(keyA, ahead));
    await truncateAll(first.dataSource);
    expect((await putProvider(first, 'google_drive', client, as.tokenUrl)).status).toBe(200);
    const { id } = await createExpiredAccount(first, 30, 'google_drive', await as.mint(client));

    expect(await second.app.get(RefreshAheadWorker).runOnce()).toMatchObject({ refreshed: 1 });
    expect(await first.app.get(RefreshAheadWorker).runOnce()).toBeUndefined();
    apps.delete(second);
    await second.close();
    expect(await first.app.get(RefreshAheadWorker).runOnce()).toEqual({
      refreshed: 0,
      failed: {},
      deferred: 0,
    });
    const account = await request(first.app.getHttpServer()).get(`/users/30/accounts/${id}`).set(service);
    expect(account.body.lastRefreshedAt).toEqual(expect.any(String));
  });
});
