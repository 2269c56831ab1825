import { Client } from 'pg';
import request from 'supertest';
import { createTestApp, truncateAll, type TestApp, type TestEnv } from './create-app';
import { itIfPostgres, onPostgres, poll } from './support/fixtures';
import { bearer, newApiToken } from './support/auth';

const SERVICE_TOKEN = newApiToken('service');
const service = bearer(SERVICE_TOKEN);
const itIfEmbedded = onPostgres ? it.skip : it;

/** Every wait on the database is bounded; a request that runs out answers 503 with a code. */
describe('database waits', () => {
  let testApp: TestApp | undefined;
  const http = () => request((testApp as TestApp).app.getHttpServer());

  async function open(env: TestEnv): Promise<number> {
    testApp = await createTestApp({
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      ROTATION_WORKER_ENABLED: 'false',
      ...env,
    });
    await truncateAll(testApp.dataSource);
    const created = await http()
      .post('/users/1/accounts')
      .set(service)
      .send({ provider: 'notion', tokens: { access_token: 'before' } })
      .expect(201);
    return created.body.id as number;
  }

  afterEach(async () => {
    await testApp?.close();
    testApp = undefined;
  });

  /** Runs `work` while a separate session holds the account's row lock. */
  async function withRowLocked(id: number, work: (db: Client) => Promise<void>): Promise<void> {
    const db = new Client({ connectionString: process.env.E2E_DATABASE_URL });
    await db.connect();
    try {
      await db.query('BEGIN');
      await db.query('SELECT id FROM external_accounts WHERE id = $1 FOR UPDATE', [id]);
      await work(db);
    } finally {
      await db.query('ROLLBACK');
      await db.end();
    }
  }

  const update = (id: number) =>
    http().put(`/users/1/accounts/${id}/tokens`).set(service).send({ access_token: 'after' });

  itIfPostgres(
    'answers 503 DATABASE_TIMEOUT when a lock is not granted within DATABASE_LOCK_TIMEOUT_MS',
    async () => {
      const id = await open({ DATABASE_LOCK_TIMEOUT_MS: '300' });
      await withRowLocked(id, async () => {
        const response = await update(id);
        expect([response.status, response.body.error]).toEqual([503, 'DATABASE_TIMEOUT']);
        expect(response.headers['retry-after']).toBe('1');
      });
      await update(id).expect(200);
    },
  );

  itIfPostgres(
    'answers 503 DATABASE_TIMEOUT when a statement runs past DATABASE_STATEMENT_TIMEOUT_MS',
    async () => {
      const id = await open({ DATABASE_STATEMENT_TIMEOUT_MS: '300', DATABASE_LOCK_TIMEOUT_MS: '600000' });
      await withRowLocked(id, async () => {
        const response = await update(id);
        expect([response.status, response.body.error]).toEqual([503, 'DATABASE_TIMEOUT']);
      });
    },
  );

  itIfPostgres(
    'answers 503 DATABASE_TIMEOUT when no pooled connection is free within DATABASE_POOL_TIMEOUT_MS',
    async () => {
      const id = await open({
        DATABASE_POOL_SIZE: '1',
        DATABASE_POOL_TIMEOUT_MS: '300',
        DATABASE_LOCK_TIMEOUT_MS: '600000',
        DATABASE_STATEMENT_TIMEOUT_MS: '600000',
      });
      let held: Promise<number> | undefined;
      await withRowLocked(id, async (db) => {
        // The pool's one connection waits on the lock with this update.
        held = update(id).then((response) => response.status);
        await poll(async () => {
          const { rows } = await db.query(
            `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`,
          );
          return rows.length > 0 ? true : undefined;
        });
        const response = await http().get('/users/1/accounts').set(service);
        expect([response.status, response.body.error]).toEqual([503, 'DATABASE_TIMEOUT']);
      });
      expect(await held).toBe(200);
    },
  );

  itIfEmbedded(
    'answers 503 DATABASE_TIMEOUT when the embedded session is not free within DATABASE_POOL_TIMEOUT_MS',
    async () => {
      await open({ DATABASE_POOL_TIMEOUT_MS: '300' });
      const app = testApp as TestApp;
      // A transaction holds the embedded database's one session while the request arrives.
      const status = await app.dataSource.transaction(async (manager) => {
        await manager.query('SELECT 1');
        // Bounded, so that without the timeout the transaction ends and the test fails instead of hanging.
        const response = await http().get('/users/1/accounts').set(service).timeout(10_000);
        return [response.status, response.body.error];
      });
      expect(status).toEqual([503, 'DATABASE_TIMEOUT']);
      await http().get('/users/1/accounts').set(service).expect(200);
    },
    20_000,
  );
});
