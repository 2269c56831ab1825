import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { createTestApp, type TestApp, truncateAll } from './create-app';
import { findLeaks, OutputCapture } from './support/output-capture';
import { TcpProxy, throughProxy } from './support/tcp-proxy';
import { describeIfPostgres, poll, sleep, storedRows } from './support/fixtures';
import type { Client } from 'pg';
import type { TokenSet } from '../src/connectors/token-set';
import { createRotationApp, keyEnv, newKey, type RotationApp } from './support/rotation-fixtures';
import { directClient, insertSealedAccounts, randomSecret, verifyOnKey } from './support/safety-fixtures';
import { bearer, newApiToken } from './support/auth';

const SERVICE_TOKEN = newApiToken('service');
const KEY = randomBytes(32).toString('base64');

describeIfPostgres('database outage', () => {
  const target = new URL(process.env.E2E_DATABASE_URL ?? 'postgres://127.0.0.1:5432/x');
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  const capture = new OutputCapture();
  const auth = bearer(SERVICE_TOKEN);
  const secrets = [KEY, SERVICE_TOKEN];
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    capture.start();
    const port = await proxy.start();
    testApp = await createTestApp({
      DATABASE_URL: throughProxy(process.env.E2E_DATABASE_URL as string, port),
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: KEY,
      ROTATION_WORKER_ENABLED: 'false',
      LOG_LEVEL: 'trace',
    });
    await truncateAll(testApp.dataSource);
  });

  afterAll(async () => {
    const output = capture.stop();
    await proxy.restore();
    await testApp.close();
    await proxy.cut();
    expect(findLeaks(output, secrets)).toEqual([]);
  });

  it('answers 503 during the outage, writes nothing half-way, and recovers', async () => {
    const tokens = {
      access_token: `ya29.${randomBytes(16).toString('hex')}`,
      refresh_token: `1//${randomBytes(16).toString('hex')}`,
    };
    secrets.push(tokens.access_token, tokens.refresh_token);
    const created = await http()
      .post('/users/5/accounts')
      .set(auth)
      .send({ provider: 'notion', tokens })
      .expect(201);
    const id = created.body.id;

    await proxy.cut();
    const newer = { access_token: `ya29.${randomBytes(16).toString('hex')}` };
    secrets.push(newer.access_token);
    for (const call of [
      http().get(`/users/5/accounts/${id}/tokens`).set(auth),
      http().put(`/users/5/accounts/${id}/tokens`).set(auth).send(newer),
      http().post('/users/5/accounts').set(auth).send({ provider: 'notion', tokens: newer }),
    ]) {
      const response = await call;
      expect(response.status).toBe(503);
      expect(response.body.error).toBe('DATABASE_UNAVAILABLE');
    }
    const ready = await http().get('/health/ready');
    expect(ready.status).toBe(503);

    await proxy.restore();
    let read = await http().get(`/users/5/accounts/${id}/tokens`).set(auth);
    for (let attempt = 0; attempt < 20 && read.status !== 200; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      read = await http().get(`/users/5/accounts/${id}/tokens`).set(auth);
    }
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject(tokens);
    const [{ count, version }] = await testApp.dataSource.query(
      `SELECT count(*)::int AS count, max(version) AS version FROM external_accounts`,
    );
    expect({ count, version }).toEqual({ count: 1, version: 1 });
  });
});

const ACCOUNTS = 6_000;
const OUTAGE_MS = 4_000;

interface Progress {
  status: string;
  scanned: number;
  rotated: number;
  last_error_code: string | null;
  on_new_key: number;
}

/**
 * The database disappears for a few seconds in the middle of a rotation run by a server's
 * background worker: the job stops advancing, nothing is half-written, and once the database is
 * back the same job resumes and completes.
 */
describeIfPostgres('database outage during a rotation (PostgreSQL)', () => {
  const keyA = newKey();
  const keyB = newKey();
  const target = new URL(process.env.E2E_DATABASE_URL ?? 'postgres://127.0.0.1:5432/none');
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  let app: RotationApp;
  let client: Client;

  beforeAll(async () => {
    const port = await proxy.start();
    app = await createRotationApp(
      keyEnv(keyB, [keyA], {
        DATABASE_URL: throughProxy(process.env.E2E_DATABASE_URL as string, port),
        ROTATION_WORKER_ENABLED: 'true',
        ROTATION_POLL_SECONDS: '1',
        // Longer than the test waits: a run that gave up could only be resumed once it expired.
        ROTATION_LEASE_SECONDS: '120',
      }),
    );
    client = await directClient();
  });
  afterAll(async () => {
    await proxy.restore();
    await app.close();
    await proxy.cut();
    await client.end();
  });

  async function progress(jobId: number): Promise<Progress> {
    const { rows } = await client.query<Progress>(
      `SELECT j.status, t.scanned, t.rotated, j.last_error_code,
              (SELECT count(*)::int FROM external_accounts WHERE token_key_id = $2) AS on_new_key
         FROM key_rotation_jobs j
        CROSS JOIN LATERAL (SELECT sum(scanned)::int AS scanned, sum(rotated)::int AS rotated
                              FROM key_rotation_partitions WHERE job_id = j.id) AS t
        WHERE j.id = $1`,
      [jobId, keyB.kid],
    );
    return rows[0];
  }

  /** Every row opens either under the old key or the new one, to its seeded plaintext. */
  async function expectWholeRows(expected: Map<number, TokenSet>): Promise<void> {
    const { rows } = await client.query(
      `SELECT id, user_id, access_token, refresh_token, token_key_id, version FROM external_accounts ORDER BY id`,
    );
    const onA = verifyOnKey(rows, keyA, expected);
    const onB = verifyOnKey(rows, keyB, expected);
    expect([onA.wrong, onB.wrong]).toEqual([[], []]);
    expect(onA.offKey.filter((id) => onB.offKey.includes(id))).toEqual([]);
  }

  it('pauses while the database is gone, writes nothing half-way, and completes once it is back', async () => {
    await truncateAll(app.dataSource);
    const seeded = await insertSealedAccounts(
      app.dataSource,
      keyA,
      Array.from({ length: ACCOUNTS }, (_, index) => ({
        access_token: `outage-${index}-${randomSecret('', 6)}`,
        index,
      })),
    );
    const expected = new Map(seeded.map((account) => [account.id, account.tokens]));
    const job = await app.rotation.startRotation({ batchSize: 10, requestedBy: 'safety-outage' });
    await poll(async () => ((await progress(job.id)).scanned >= ACCOUNTS / 5 ? true : undefined), 60_000, 5);

    await proxy.cut();
    await sleep(500);
    const atCut = await progress(job.id);
    expect(atCut).toMatchObject({ status: 'running', last_error_code: null });
    expect(atCut.scanned).toBeLessThan(ACCOUNTS);
    // A batch and its progress commit together: as many rows on the new key as the job counts.
    expect(atCut.on_new_key).toBe(atCut.rotated);
    await expectWholeRows(expected);
    await sleep(OUTAGE_MS);
    const duringOutage = await progress(job.id);
    expect(duringOutage).toEqual(atCut);

    await proxy.restore();
    const final = await poll(
      async () => {
        const view = await progress(job.id);
        return view.status === 'running' || view.status === 'pending' ? undefined : view;
      },
      30_000,
      100,
    );

    expect(final).toEqual({
      status: 'completed',
      scanned: ACCOUNTS,
      rotated: ACCOUNTS,
      last_error_code: null,
      on_new_key: ACCOUNTS,
    });
    expect((await client.query(`SELECT count(*)::int AS jobs FROM key_rotation_jobs`)).rows).toEqual([
      { jobs: 1 },
    ]);
    const rows = await storedRows(app.dataSource);
    expect(verifyOnKey(rows, keyB, expected)).toEqual({ offKey: [], wrong: [] });
    const { userId, id } = seeded[ACCOUNTS - 1];
    expect(await app.accounts.getAccountTokens(userId, id)).toMatchObject(expected.get(id) as TokenSet);
  });
});
