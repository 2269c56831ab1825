import type { AuditRecord } from '../src/audit/admin-audit-event.entity';
import { AdminAuditService } from '../src/audit/admin-audit.service';
import { DROPPED_ACTION } from '../src/audit/audit-buffer';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { poll } from './support/fixtures';
import { OutputCapture } from './support/output-capture';
import { newApiToken } from './support/auth';

const ADMIN_TOKEN = newApiToken('admin');

function refusal(index: number): AuditRecord {
  return {
    action: 'GET /admin/keys',
    outcome: 'unauthorized',
    statusCode: 401,
    actor: null,
    clientAddress: `10.0.${index >> 8}.${index & 255}`,
    requestId: `refused-${index}`,
  };
}

function allowed(index: number): AuditRecord {
  return {
    action: 'GET /admin/keys',
    outcome: 'allowed',
    statusCode: 200,
    actor: 'admin',
    clientAddress: '127.0.0.1',
    requestId: `allowed-${index}`,
  };
}

/** The audit trail's limits, through the service every admin request records into. */
describe('the admin audit trail under a flood and an outage', () => {
  let testApp: TestApp;
  let audit: AdminAuditService;

  beforeAll(async () => {
    testApp = await createTestApp({ ADMIN_API_TOKEN: ADMIN_TOKEN, ROTATION_WORKER_ENABLED: 'false' });
    audit = testApp.app.get(AdminAuditService);
  });
  afterAll(() => testApp.close());
  beforeEach(() => truncateAll(testApp.dataSource));

  it('writes the first 1 000 kinds of refusal as a row each, and folds the rest into one row per outcome', async () => {
    for (let index = 0; index < 1_005; index += 1) audit.record(refusal(index));
    await audit.flush();

    const rows: { action: string; client_address: string | null; count: number }[] =
      await testApp.dataSource.query(`SELECT action, client_address, count FROM admin_audit_events`);
    expect(rows).toHaveLength(1_001);
    expect(rows.filter((row) => row.action === '*')).toEqual([
      { action: '*', client_address: null, count: 5 },
    ]);
    expect(rows.filter((row) => row.action !== '*').every((row) => row.count === 1)).toBe(true);
  });

  it('keeps at most 10 000 events while writes fail, retries with a growing delay, then writes them and the count dropped', async () => {
    const { dataSource } = testApp;
    // Every insert fails, and counts its attempt in a sequence (which no rollback undoes).
    await dataSource.query(`CREATE SEQUENCE audit_attempts`);
    await dataSource.query(`
      CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM nextval('audit_attempts');
        RAISE EXCEPTION 'audit writes refused';
      END $$`);
    await dataSource.query(`CREATE TRIGGER audit_refuse BEFORE INSERT ON admin_audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse()`);
    const attempts = async (): Promise<number> =>
      Number(
        (
          await dataSource.query(
            `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM audit_attempts`,
          )
        )[0].n,
      );
    const capture = new OutputCapture();
    capture.start();
    try {
      const recorded = 10_010;
      for (let index = 0; index < recorded; index += 1) audit.record(allowed(index));

      // Each attempt is seen when the sequence moves; the delays between them grow.
      const seenAt: number[] = [];
      await poll(
        async () => {
          const count = await attempts();
          while (seenAt.length < count) seenAt.push(Date.now());
          return count >= 3 ? true : undefined;
        },
        20_000,
        20,
      );
      const [first, second] = [seenAt[1] - seenAt[0], seenAt[2] - seenAt[1]];
      expect(first).toBeGreaterThanOrEqual(400);
      expect(second).toBeGreaterThan(first);
      expect(await dataSource.query(`SELECT 1 FROM admin_audit_events`)).toEqual([]);

      await dataSource.query(`DROP TRIGGER audit_refuse ON admin_audit_events`);
      const rows = await poll(async () => {
        const found: { action: string; count: number }[] = await dataSource.query(
          `SELECT action, count FROM admin_audit_events`,
        );
        return found.some((row) => row.action === DROPPED_ACTION) ? found : undefined;
      });
      const written = rows.filter((row) => row.action !== DROPPED_ACTION);
      const [dropped] = rows.filter((row) => row.action === DROPPED_ACTION);
      // 10 000 wait for the database, and the one in flight when the first write failed.
      expect(written.length).toBeGreaterThanOrEqual(10_000);
      expect(written.length).toBeLessThanOrEqual(10_001);
      expect(written.length + dropped.count).toBe(recorded);
      // The failure and the drop are logged by code and count; the database's message (which may
      // quote a row) is not.
      await poll(async () => (capture.text().includes('audit events were dropped') ? true : undefined));
      expect(capture.text()).toContain('audit events could not be written; retrying');
      expect(capture.text()).not.toContain('audit writes refused');
    } finally {
      capture.stop();
      await dataSource.query(`DROP TRIGGER IF EXISTS audit_refuse ON admin_audit_events`);
      await dataSource.query(`DROP FUNCTION IF EXISTS audit_refuse()`);
      await dataSource.query(`DROP SEQUENCE IF EXISTS audit_attempts`);
    }
  });
});
