import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { AdminAuditService } from '../src/audit/admin-audit.service';
import { fingerprintOf } from '../src/common/bearer-token';
import { createTestApp, truncateAll, type TestApp, type TestEnv } from './create-app';
import { randomSecret } from './support/safety-fixtures';
import { bearer, newApiToken } from './support/auth';

const ADMIN_TOKEN = newApiToken('admin');
const admin = bearer(ADMIN_TOKEN);
const BASE_ENV: TestEnv = {
  ADMIN_API_TOKEN: ADMIN_TOKEN,
  WORKFLOWS_ARTIFACT_ENC_KEY: randomBytes(32).toString('base64'),
  ROTATION_WORKER_ENABLED: 'false',
};

interface AuditRow {
  action: string;
  outcome: string;
  status_code: number;
  count: number;
  client_address: string | null;
  actor: string | null;
}

async function auditRows(app: TestApp): Promise<AuditRow[]> {
  await app.app.get(AdminAuditService).flush();
  return app.dataSource.query(
    `SELECT action, outcome, status_code, count, client_address, actor FROM admin_audit_events ORDER BY id`,
  );
}

/** `total` requests, at most `parallel` in flight at once. */
async function flood(total: number, parallel: number, send: () => Promise<unknown>): Promise<void> {
  let started = 0;
  const lane = async () => {
    while (started < total) {
      started += 1;
      await send();
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
}

describe('admin routes under a flood', () => {
  let app: TestApp;
  const http = () => request(app.app.getHttpServer());

  afterEach(() => app?.close());

  async function start(env: TestEnv = {}): Promise<void> {
    app = await createTestApp({ ...BASE_ENV, ...env });
    await truncateAll(app.dataSource);
  }

  it('records a flood of refusals as one row per kind and address, with the count of each', async () => {
    await start({ ADMIN_FAILED_AUTH_LIMIT_PER_MINUTE: '100000' });
    const wrong = randomSecret('wrong_', 32);
    await flood(300, 20, () => http().get('/admin/keys').set('Authorization', `Bearer ${wrong}`).expect(403));
    await flood(200, 20, () => http().post('/admin/rotations').send({}).expect(401));
    const rows = await auditRows(app);
    expect(rows).toHaveLength(2);
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          action: 'GET /admin/keys',
          outcome: 'forbidden',
          count: 300,
          actor: fingerprintOf(wrong),
        }),
        expect.objectContaining({
          action: 'POST /admin/rotations',
          outcome: 'unauthorized',
          count: 200,
          actor: null,
        }),
      ]),
    );
    const listed = await http().get('/admin/audit?outcome=forbidden').set(admin).expect(200);
    expect(listed.body.events).toEqual([
      expect.objectContaining({
        count: 300,
        occurredAt: expect.any(String),
        lastOccurredAt: expect.any(String),
      }),
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(wrong);
  });

  it('keeps operators in: anonymous traffic spends its own budget, the admin token still gets through', async () => {
    await start({ ADMIN_FAILED_AUTH_LIMIT_PER_MINUTE: '30', ADMIN_RATE_LIMIT_PER_MINUTE: '50' });
    const statuses: number[] = [];
    // One budget for every admin route: the requests alternate between two controllers.
    let sent = 0;
    await flood(125, 10, async () => {
      sent += 1;
      statuses.push((await http().get(sent % 2 ? '/admin/keys' : '/admin/audit')).status);
    });
    expect(statuses.filter((status) => status === 401)).toHaveLength(30);
    expect(statuses.filter((status) => status === 429)).toHaveLength(95);
    const limited = await http().get('/admin/keys');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await http().get('/admin/keys').set(admin)).status).toBe(200);
    const rows = await auditRows(app);
    const countOf = (outcome: string) =>
      rows.filter((row) => row.outcome === outcome).reduce((sum, row) => sum + row.count, 0);
    expect([countOf('unauthorized'), countOf('rate_limited')]).toEqual([30, 96]);
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'GET /admin/keys', outcome: 'unauthorized' }),
        expect.objectContaining({ action: 'GET /admin/audit', outcome: 'rate_limited' }),
        expect.objectContaining({ outcome: 'allowed', count: 1, actor: fingerprintOf(ADMIN_TOKEN) }),
      ]),
    );
  });

  it('writes every admin action of an operator, one row each, during a flood of 200 connections', async () => {
    await start({ ADMIN_FAILED_AUTH_LIMIT_PER_MINUTE: '100000', DATABASE_POOL_SIZE: '2' });
    const attack = flood(2_000, 200, () =>
      http().get('/admin/rotations').set('Authorization', 'Bearer nope-nope-nope'),
    );
    const answered: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      answered.push((await http().get('/admin/keys').set(admin)).status);
    }
    const started = await http().post('/admin/rotations').set(admin).send({ dryRun: true });
    await attack;
    expect(answered.every((status) => status === 200)).toBe(true);
    expect(started.status).toBe(202);
    const rows = await auditRows(app);
    expect(rows.filter((row) => row.outcome === 'allowed' && row.action === 'GET /admin/keys')).toHaveLength(
      20,
    );
    expect(rows.filter((row) => row.action === 'POST /admin/rotations')).toEqual([
      expect.objectContaining({ outcome: 'allowed', status_code: 202, count: 1 }),
    ]);
    const refused = rows.filter((row) => row.outcome === 'forbidden');
    expect(refused.reduce((sum, row) => sum + row.count, 0)).toBe(2_000);
    expect(refused.length).toBeLessThanOrEqual(3);
  });

  it('takes the client address from X-Forwarded-For only behind a trusted proxy (TRUST_PROXY)', async () => {
    await start({ TRUST_PROXY: 'loopback', ADMIN_FAILED_AUTH_LIMIT_PER_MINUTE: '2' });
    const from = (address: string) => http().get('/admin/keys').set('X-Forwarded-For', address);
    expect([(await from('203.0.113.5')).status, (await from('203.0.113.5')).status]).toEqual([401, 401]);
    expect((await from('203.0.113.5')).status).toBe(429);
    // Another client behind the same proxy has a budget of its own.
    expect((await from('198.51.100.7')).status).toBe(401);
    const rows = await auditRows(app);
    expect(rows.map((row) => row.client_address).sort()).toEqual([
      '198.51.100.7',
      '203.0.113.5',
      '203.0.113.5',
    ]);
  });

  it('ignores X-Forwarded-For by default: a client cannot choose its address', async () => {
    await start({ ADMIN_FAILED_AUTH_LIMIT_PER_MINUTE: '2' });
    const from = (address: string) => http().get('/admin/keys').set('X-Forwarded-For', address);
    const statuses = [
      (await from('203.0.113.1')).status,
      (await from('203.0.113.2')).status,
      (await from('203.0.113.3')).status,
    ];
    expect(statuses).toEqual([401, 401, 429]);
    const rows = await auditRows(app);
    // Three refusals, coalesced into rows by outcome, every one from the socket's address.
    expect(rows.reduce((sum, row) => sum + row.count, 0)).toBe(3);
    for (const row of rows) expect(['::ffff:127.0.0.1', '127.0.0.1']).toContain(row.client_address);
  });

  it('filters the trail by outcome, action and time, and pages through it with a cursor', async () => {
    await start();
    for (let i = 0; i < 5; i += 1) await http().get('/admin/keys').set(admin).expect(200);
    await http().get('/admin/rotations').set(admin).expect(200);
    await http().get('/admin/keys').set('Authorization', 'Bearer wrong-token-wrong').expect(403);
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `/admin/audit?outcome=allowed&action=${encodeURIComponent('GET /admin/keys')}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await http().get(query).set(admin).expect(200);
      for (const event of page.body.events) {
        expect(event).toMatchObject({ outcome: 'allowed', action: 'GET /admin/keys' });
        seen.push(event.id);
      }
      cursor = page.body.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(seen).toHaveLength(5);
    expect([...seen].sort((a, b) => b - a)).toEqual(seen);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await http().get(`/admin/audit?since=${future}`).set(admin).expect(200)).body.events).toEqual([]);
    const forbidden = await http().get('/admin/audit?outcome=forbidden').set(admin).expect(200);
    expect(forbidden.body.events).toHaveLength(1);
    for (const bad of [
      'outcome=denied',
      'since=yesterday',
      'cursor=-1',
      'limit=0',
      'limit=1001',
      'other=1',
    ]) {
      const response = await http().get(`/admin/audit?${bad}`).set(admin).expect(400);
      expect(response.body.error).toBe('BAD_REQUEST');
    }
  });

  it('deletes rows older than AUDIT_RETENTION_DAYS at start, and keeps the rest', async () => {
    await start();
    await app.dataSource.query(
      `INSERT INTO admin_audit_events (occurred_at, action, outcome, status_code)
       VALUES (now() - interval '40 days', 'GET /admin/keys', 'allowed', 200),
              (now() - interval '10 days', 'GET /admin/rotations', 'allowed', 200)`,
    );
    await app.close();
    app = await createTestApp({ ...BASE_ENV, AUDIT_RETENTION_DAYS: '30' });
    let actions: string[] = [];
    for (let attempt = 0; attempt < 50; attempt += 1) {
      actions = (await app.dataSource.query(`SELECT action FROM admin_audit_events ORDER BY id`)).map(
        (row: { action: string }) => row.action,
      );
      if (actions.length === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(actions).toEqual(['GET /admin/rotations']);
  });
});
