import { Client } from 'pg';
import request from 'supertest';
import { TokenReadAuditService } from '../src/audit/token-read-audit.service';
import { createTestApp, truncateAll, type TestApp, type TestEnv } from './create-app';
import { bearer, newApiToken } from './support/auth';
import { onPostgres, poll } from './support/fixtures';
import { OutputCapture } from './support/output-capture';
import { newKey } from './support/rotation-fixtures';

const ADMIN_TOKEN = newApiToken('admin');
const SERVICE_TOKEN = newApiToken('service');
const key = newKey();
const admin = bearer(ADMIN_TOKEN);

const env = (settings: TestEnv = {}): TestEnv => ({
  ADMIN_API_TOKEN: ADMIN_TOKEN,
  WORKFLOWS_ARTIFACT_ENC_KEY: key.key,
  ROTATION_WORKER_ENABLED: 'false',
  ...settings,
});

const tokens = (tag: string) => ({ access_token: `at-${tag}`, refresh_token: `rt-${tag}`, expires_in: 3600 });

interface ReadView {
  id: string;
  occurredAt: string;
  caller: string;
  accountId: number;
  outcome: string;
}

async function addCaller(testApp: TestApp, name: string, scopes: string[]): Promise<Record<string, string>> {
  const added = await request(testApp.app.getHttpServer())
    .post('/admin/clients')
    .set(admin)
    .send({ name, scopes })
    .expect(201);
  return bearer(added.body.secret as string);
}

/** Every page of the token-read trail for `query`, following `nextCursor`. */
async function allPages(testApp: TestApp, query: string, limit: number): Promise<ReadView[]> {
  const reads: ReadView[] = [];
  let cursor = '';
  do {
    const page = await request(testApp.app.getHttpServer())
      .get(`/admin/audit/token-reads?${query}&limit=${limit}${cursor}`)
      .set(admin)
      .expect(200);
    reads.push(...page.body.reads);
    cursor = page.body.nextCursor ? `&cursor=${page.body.nextCursor}` : '';
  } while (cursor);
  return reads;
}

describe('the token-read trail', () => {
  const apps: TestApp[] = [];
  afterAll(async () => {
    for (const testApp of apps) await testApp.close();
  });

  it(`records exactly 1 000 reads by three callers over ${onPostgres ? 'two instances' : 'one instance'}, and answers who read an account`, async () => {
    apps.push(await createTestApp(env({ CONNECTORS_API_TOKEN: SERVICE_TOKEN })));
    // The embedded database has one process: two instances need PostgreSQL.
    if (onPostgres) apps.push(await createTestApp(env({ CONNECTORS_API_TOKEN: SERVICE_TOKEN })));
    const [first] = apps;
    await truncateAll(first.dataSource);
    const callers = [
      ['reader-one', await addCaller(first, 'reader-one', ['tokens:read'])],
      ['reader-two', await addCaller(first, 'reader-two', ['tokens:read'])],
      ['reader-three', await addCaller(first, 'reader-three', ['tokens:read'])],
    ] as const;
    const accounts: { userId: number; id: number }[] = [];
    for (let n = 0; n < 10; n += 1) {
      const userId = 1 + (n % 5);
      const created = await request(first.app.getHttpServer())
        .post(`/users/${userId}/accounts`)
        .set(bearer(SERVICE_TOKEN))
        .send({ provider: n % 2 ? 'notion' : 'google_drive', tokens: tokens(`a${n}`) })
        .expect(201);
      accounts.push({ userId, id: created.body.id });
    }

    const expected = new Map<string, [caller: string, userId: number, accountId: number]>();
    const statuses: number[] = [];
    for (let start = 0; start < 1_000; start += 25) {
      await Promise.all(
        Array.from({ length: 25 }, async (_, offset) => {
          const n = start + offset;
          const [caller, header] = callers[n % 3];
          const { userId, id } = accounts[n % 10];
          const testApp = apps[n % apps.length];
          expected.set(`read-${n}`, [caller, userId, id]);
          const answer = await request(testApp.app.getHttpServer())
            .get(`/users/${userId}/accounts/${id}/tokens`)
            .set({ ...header, 'X-Request-Id': `read-${n}` });
          statuses.push(answer.status);
        }),
      );
    }
    expect(statuses.filter((status) => status !== 200)).toEqual([]);

    for (const testApp of apps) await testApp.app.get(TokenReadAuditService).flush();
    const records: {
      request_id: string;
      caller: string;
      user_id: number;
      account_id: number;
      outcome: string;
      provider: string;
    }[] = await first.dataSource.query(
      `SELECT request_id, caller, user_id, account_id, outcome, provider FROM token_read_audit`,
    );
    expect(records).toHaveLength(1_000);
    expect(new Set(records.map((record) => record.outcome))).toEqual(new Set(['served']));
    expect(
      Object.fromEntries(records.map((r) => [r.request_id, [r.caller, r.user_id, r.account_id]])),
    ).toEqual(Object.fromEntries(expected));

    // Each instance counts its own reads by caller.
    const counted = new Map<string, number>();
    for (const testApp of apps) {
      const metrics = (await request(testApp.app.getHttpServer()).get('/metrics').set(admin).expect(200))
        .text;
      for (const [, caller, count] of metrics.matchAll(
        /connectors_token_reads_total\{caller="([a-z-]+)",outcome="served"\} ([0-9]+)/g,
      ))
        counted.set(caller, (counted.get(caller) ?? 0) + Number(count));
    }
    expect(Object.fromEntries(counted)).toEqual({
      'reader-one': 334,
      'reader-two': 333,
      'reader-three': 333,
    });

    // Who read account X, and when: one request.
    const target = accounts[3];
    const whoRead = await request(first.app.getHttpServer())
      .get(`/admin/audit/token-reads?accountId=${target.id}&limit=1000`)
      .set(admin)
      .expect(200);
    const reads = whoRead.body.reads as ReadView[];
    expect(reads).toHaveLength(100);
    expect(new Set(reads.map((read) => read.caller))).toEqual(
      new Set(['reader-one', 'reader-two', 'reader-three']),
    );
    expect(reads.every((read) => read.accountId === target.id)).toBe(true);
    const times = reads.map((read) => read.occurredAt);
    expect(times).toEqual([...times].sort().reverse());
    expect(whoRead.body.nextCursor).toBeNull();

    // The same answer page by page, and narrowed by caller and time.
    expect(await allPages(first, `accountId=${target.id}`, 30)).toEqual(reads);
    const byTwo = await allPages(first, `accountId=${target.id}&caller=reader-two`, 1000);
    expect(byTwo.map((read) => read.id)).toEqual(
      reads.filter((read) => read.caller === 'reader-two').map((read) => read.id),
    );
    const middle = reads[50].occurredAt;
    const since = await allPages(first, `accountId=${target.id}&since=${encodeURIComponent(middle)}`, 1000);
    const until = await allPages(first, `accountId=${target.id}&until=${encodeURIComponent(middle)}`, 1000);
    expect(since.every((read) => read.occurredAt >= middle)).toBe(true);
    expect(until.every((read) => read.occurredAt < middle)).toBe(true);
    expect(since.length + until.length).toBe(100);
    const ofUser = await allPages(first, `userId=${target.userId}&provider=notion`, 1000);
    expect(ofUser.length).toBe(
      100 * accounts.filter((a, n) => a.userId === target.userId && n % 2 === 1).length,
    );

    await request(first.app.getHttpServer())
      .get('/admin/audit/token-reads?accountId=abc')
      .set(admin)
      .expect(400);
    await request(first.app.getHttpServer())
      .get('/admin/audit/token-reads?until=2021-02-30')
      .set(admin)
      .expect(400);
  });
});

/**
 * Makes the trail unwritable for real. PostgreSQL: another session holds a lock on the table that
 * INSERT waits for (reads of it go on). Embedded (one session): the table is renamed away.
 */
async function blockTrail(testApp: TestApp): Promise<() => Promise<void>> {
  if (onPostgres) {
    const holder = new Client({ connectionString: process.env.E2E_DATABASE_URL });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE token_read_audit IN EXCLUSIVE MODE');
    return async () => {
      await holder.query('COMMIT');
      await holder.end();
    };
  }
  await testApp.dataSource.query('ALTER TABLE token_read_audit RENAME TO token_read_audit_away');
  return async () => {
    await testApp.dataSource.query('ALTER TABLE token_read_audit_away RENAME TO token_read_audit');
  };
}

describe('the token-read trail when it cannot be written', () => {
  let testApp: TestApp | undefined;
  let unblock: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await unblock?.();
    unblock = undefined;
    await testApp?.close();
    testApp = undefined;
  });

  async function start(settings: TestEnv) {
    // Registered callers alone: no CONNECTORS_API_TOKEN in this deployment.
    const opened = await createTestApp(env(settings));
    testApp = opened;
    await truncateAll(opened.dataSource);
    const caller = await addCaller(opened, 'worker', ['accounts:read', 'accounts:write', 'tokens:read']);
    const http = () => request(opened.app.getHttpServer());
    const created = await http()
      .post('/users/9/accounts')
      .set(caller)
      .send({ provider: 'notion', tokens: tokens('x') })
      .expect(201);
    const id = created.body.id as number;
    return {
      app: opened,
      http,
      read: () => http().get(`/users/9/accounts/${id}/tokens`).set(caller),
      metadata: () => http().get(`/users/9/accounts/${id}`).set(caller),
      list: () => http().get('/users/9/accounts').set(caller),
      write: () => http().put(`/users/9/accounts/${id}/tokens`).set(caller).send(tokens('y')),
      served: async () =>
        Number(
          (
            await opened.dataSource.query(
              `SELECT count(*)::int AS n FROM token_read_audit WHERE outcome = 'served'`,
            )
          )[0].n,
        ),
    };
  }

  it('fails closed: token reads 503 AUDIT_UNAVAILABLE within AUDIT_MAX_LAG_SECONDS, metadata served, reads back once writes resume', async () => {
    const trail = await start({ AUDIT_FAIL_CLOSED: 'true', AUDIT_MAX_LAG_SECONDS: '1' });
    await trail.read().expect(200);
    unblock = await blockTrail(trail.app);
    const blockedAt = Date.now();
    let servedWhileBlocked = 0;
    const refused = await poll(
      async () => {
        const answer = await trail.read();
        if (answer.status === 200) servedWhileBlocked += 1;
        return answer.status === 503 ? answer : undefined;
      },
      10_000,
      50,
    );
    expect(Date.now() - blockedAt).toBeLessThan(1_000 + 2_000);
    expect(servedWhileBlocked).toBeGreaterThan(0);
    expect(refused.body).toMatchObject({ statusCode: 503, error: 'AUDIT_UNAVAILABLE' });
    expect(refused.body).not.toHaveProperty('access_token');
    expect(refused.headers['retry-after']).toBe('1');
    await trail.read().expect(503);
    await trail.metadata().expect(200);
    await trail.write().expect(200);
    await trail.list().expect(200);
    const metrics = (await trail.http().get('/metrics').set(admin).expect(200)).text;
    const lag = Number(/connectors_audit_lag_seconds\{trail="token_reads"\} ([0-9.]+)/.exec(metrics)?.[1]);
    expect(lag).toBeGreaterThan(1);

    await unblock();
    unblock = undefined;
    await poll(async () => ((await trail.read()).status === 200 ? true : undefined), 10_000, 50);
    await trail.app.app.get(TokenReadAuditService).flush();
    // Every read that was served has its record: the one before, those while blocked, the one after.
    expect(await trail.served()).toBe(1 + servedWhileBlocked + 1);
    const refusals = await trail
      .http()
      .get('/admin/audit/token-reads?outcome=refused')
      .set(admin)
      .expect(200);
    expect(refusals.body.reads[0]).toMatchObject({ caller: 'worker', code: 'AUDIT_UNAVAILABLE' });
  });

  it('fails open: reads go on, the records past AUDIT_MAX_PENDING are dropped, counted and reported', async () => {
    const capture = new OutputCapture();
    const trail = await start({ AUDIT_FAIL_CLOSED: 'false', AUDIT_MAX_PENDING: '10' });
    unblock = await blockTrail(trail.app);
    capture.start();
    try {
      for (let n = 0; n < 30; n += 1) await trail.read().expect(200);
      const metrics = (await trail.http().get('/metrics').set(admin).expect(200)).text;
      const dropped = Number(
        /connectors_audit_dropped_total\{trail="token_reads"\} ([0-9]+)/.exec(metrics)?.[1],
      );
      expect(dropped).toBeGreaterThanOrEqual(20);
      await unblock();
      unblock = undefined;
      const report = await poll(async () => {
        const rows: { count: number }[] = await trail.app.dataSource.query(
          `SELECT count FROM admin_audit_events WHERE action = 'token read records dropped'`,
        );
        return rows.length > 0 ? rows : undefined;
      });
      expect(report).toEqual([{ count: dropped }]);
      expect((await trail.served()) + dropped).toBe(30);
      expect(capture.text()).toContain('token-read records were dropped while they could not be written');
    } finally {
      capture.stop();
    }
  });
});
