import { Client } from 'pg';
import type { DomainError } from '../src/common/domain-error';
import { type TestEnv } from './create-app';
import {
  createRotationApp,
  expectTokens,
  keyEnv,
  newKey,
  seedAccounts,
  waitForStatus,
  type RotationApp,
} from './support/rotation-fixtures';
import { describeIfPostgres, poll, storedRows } from './support/fixtures';
import { OutputCapture } from './support/output-capture';

describeIfPostgres('key rotation with several instances (PostgreSQL)', () => {
  const keyA = newKey();
  const keyB = newKey();
  const apps = new Set<RotationApp>();

  async function open(extra: TestEnv = {}): Promise<RotationApp> {
    const app = await createRotationApp(keyEnv(keyB, [keyA], { ROTATION_LEASE_SECONDS: '5', ...extra }));
    apps.add(app);
    return app;
  }

  async function close(app: RotationApp): Promise<void> {
    apps.delete(app);
    await app.close();
  }

  async function admin<T = unknown>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: process.env.E2E_DATABASE_URL });
    await client.connect();
    try {
      return (await client.query(sql, parameters)).rows as T[];
    } finally {
      await client.end();
    }
  }

  afterEach(async () => {
    for (const app of [...apps]) await close(app);
  });

  it('runs one job at a time and hands it over intact when the instance running it stops', async () => {
    const expected = await seedAccounts(keyA, { sealed: 3000 });
    const first = await open({ ROTATION_WORKER_ENABLED: 'true' });
    const second = await open({ ROTATION_WORKER_ENABLED: 'true' });
    const starts = await Promise.allSettled(
      [first, second].map((app) => app.rotation.startRotation({ batchSize: 10, requestedBy: 'test' })),
    );
    const started = starts.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const refused = starts.flatMap((result) =>
      result.status === 'rejected' ? [result.reason as DomainError] : [],
    );
    expect(started).toHaveLength(1);
    expect(refused.map((error) => error.code)).toEqual(['ROTATION_ALREADY_ACTIVE']);

    const before = await poll(async () => {
      const view = await first.rotation.getJob(started[0].id);
      return view.scanned > 0 && view.leaseOwner ? view : undefined;
    });
    const [running, other] = before.leaseOwner === first.worker.owner ? [first, second] : [second, first];
    await close(running);
    const handedOver = await other.rotation.getJob(started[0].id);
    expect(handedOver.status).toBe('running');
    expect([null, other.worker.owner]).toContain(handedOver.leaseOwner);
    expect(handedOver.scanned).toBeLessThan(3000);
    const final = await waitForStatus(other.rotation, started[0].id, [
      'completed',
      'completed_with_errors',
      'failed',
    ]);

    expect(final).toMatchObject({ status: 'completed', scanned: 3000, rotated: 3000, skipped: 0, failed: 0 });
    expect(await other.rotation.listJobs(10)).toHaveLength(1);
    await expectTokens(other, expected);
  });

  it('refuses to run a job whose lease another live worker holds', async () => {
    await seedAccounts(keyA, { sealed: 50 });
    const first = await open();
    const second = await open();
    const job = await first.rotation.startRotation({ batchSize: 10, requestedBy: 'test' });
    let refusal: DomainError | undefined;
    const final = await first.worker.runJob(job.id, {
      onProgress: async () => {
        refusal ??= await second.worker.runJob(job.id).then(
          () => undefined,
          (error: DomainError) => error,
        );
      },
    });
    expect(refusal?.code).toBe('ROTATION_LEASE_HELD');
    expect(refusal?.message).toContain(first.worker.owner);
    expect(final).toMatchObject({ status: 'completed', rotated: 50 });
  });

  it('leaves alone a row a token write commits while the batch waits for it', async () => {
    await seedAccounts(keyA, { sealed: 20 });
    const app = await open();
    const [target] = await storedRows(app.dataSource);
    const writer = new Client({ connectionString: process.env.E2E_DATABASE_URL });
    await writer.connect();
    try {
      // An instance without a key writes plaintext tokens; its transaction holds the row.
      const [{ pid: writerPid }] = (await writer.query('SELECT pg_backend_pid() AS pid')).rows;
      await writer.query('BEGIN');
      await writer.query(
        `UPDATE external_accounts SET access_token = 'written-meanwhile', refresh_token = 'r',
                version = version + 1 WHERE id = $1`,
        [target.id],
      );
      const job = await app.rotation.startRotation({ requestedBy: 'test' });
      const run = app.worker.runJob(job.id);
      // The batch waits on this writer's row, not on any lock elsewhere in the cluster.
      await poll(async () =>
        (await admin(`SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`, [writerPid]))
          .length > 0
          ? true
          : undefined,
      );
      await writer.query('COMMIT');
      const final = await run;

      expect(final).toMatchObject({ status: 'completed', pass: 2, skipped: 1, rotated: 20 });
      expect(await app.accounts.getAccountTokens(target.user_id, target.id)).toMatchObject({
        access_token: 'written-meanwhile',
        refresh_token: 'r',
      });
    } finally {
      await writer.end();
    }
  });

  it('rolls a batch back when the database drops its connections, and resumes without loss', async () => {
    const expected = await seedAccounts(keyA, { sealed: 1500 });
    const app = await open();
    const job = await app.rotation.startRotation({ batchSize: 10, requestedBy: 'test' });
    const capture = new OutputCapture();
    const rolledBack = `rotation job ${job.id}: batch rolled back`;
    let terminated = 0;
    let outage: Promise<void> | undefined;
    capture.start();
    let final: Awaited<ReturnType<typeof app.worker.runJob>>;
    try {
      final = await app.worker.runJob(job.id, {
        onProgress: () => {
          // Once the first batch is in, the instance's sessions are ended until a batch is seen to fail.
          outage ??= (async () => {
            const deadline = Date.now() + 30_000;
            while (!capture.text().includes(rolledBack) && Date.now() < deadline) {
              const ended = await admin<{ ended: boolean }>(
                `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
                  WHERE datname = current_database() AND application_name = 'connectors-backend'`,
              );
              const count = ended.filter((row) => row.ended).length;
              terminated += count;
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
          })();
        },
      });
      await outage;
    } finally {
      capture.stop();
    }

    expect(terminated).toBeGreaterThan(0);
    expect(capture.text()).toContain(rolledBack);
    expect(final).toMatchObject({
      status: 'completed',
      scanned: 1500,
      rotated: 1500,
      failed: 0,
      lastErrorCode: null,
    });
    await expectTokens(app, expected);
  });

  it('counts accounts by the key id their envelopes hold, without reading a token', async () => {
    const app = await open();
    await app.dataSource.query(`TRUNCATE external_accounts RESTART IDENTITY CASCADE`);
    await app.dataSource.query(
      `INSERT INTO external_accounts (user_id, provider, access_token)
       SELECT n % 1000, 'p', CASE WHEN kid IS NULL THEN (ARRAY['{"_enc": "aesgcm:v1"}', 'x'])[1 + n % 2]
                                  ELSE '{"_enc":"aesgcm:v3","kid":"' || kid || '","nonce":"x"}' END
         FROM generate_series(1, 100000) AS n,
              LATERAL (SELECT (ARRAY[$1, $2, NULL, NULL, 'ffffffffffffffff'])[1 + n % 5] AS kid) AS k`,
      [keyA.kid, keyB.kid],
    );
    expect(await app.keyUsage.inventory()).toMatchObject({
      totalAccounts: 100000,
      legacyV1Accounts: 20000,
      plaintextAccounts: 20000,
      unknownKeyAccounts: 20000,
      accountsToRotate: 80000,
    });
    await app.dataSource.query(`TRUNCATE external_accounts RESTART IDENTITY CASCADE`);
  });
});
