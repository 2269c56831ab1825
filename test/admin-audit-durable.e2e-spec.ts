import { Client } from 'pg';
import { freePort, startBuiltServer, type BuiltServer } from './support/built-server';
import { newApiToken } from './support/auth';
import { describeIfPostgres, poll } from './support/fixtures';
import { newKey } from './support/rotation-fixtures';

const ADMIN_TOKEN = newApiToken('admin');

interface Change {
  name: string;
  settings: Record<string, string>;
  method: 'POST' | 'PUT';
  path: string;
  body: object;
  status: number;
  action: string;
}

const CHANGES: Change[] = [
  {
    name: 'a key added',
    settings: { KEY_WRAPPING: 'local', ROOT_KEY: newKey().key },
    method: 'POST',
    path: '/admin/keys',
    body: {},
    status: 201,
    action: 'POST /admin/keys ',
  },
  {
    name: 'a provider client stored',
    settings: { WORKFLOWS_ARTIFACT_ENC_KEY: newKey().key },
    method: 'PUT',
    path: '/admin/providers/acme',
    body: { tokenUrl: 'https://oauth.example/token', clientId: 'client', clientSecret: 'secret-of-acme' },
    status: 200,
    action: 'PUT /admin/providers/:provider',
  },
  {
    name: 'a caller added',
    settings: { WORKFLOWS_ARTIFACT_ENC_KEY: newKey().key },
    method: 'POST',
    path: '/admin/clients',
    body: { name: 'durable', scopes: ['tokens:read'] },
    status: 201,
    action: 'POST /admin/clients durable',
  },
];

/**
 * A built server SIGKILLed the moment an admin change answers: the change's audit row must be
 * in the database already. Inserts into the trail are slowed by a trigger, so a row written after
 * the answer (as the batching buffer would) is provably still in flight when the process dies.
 */
describeIfPostgres('admin changes recorded before they answer (built server, PostgreSQL)', () => {
  const database = new Client({ connectionString: process.env.E2E_DATABASE_URL });
  let server: BuiltServer | undefined;

  beforeAll(async () => {
    await database.connect();
    await database.query(
      'TRUNCATE admin_audit_events, key_registry, key_registry_instances, provider_clients, service_clients CASCADE',
    );
    await database.query(`
      CREATE FUNCTION slow_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_sleep(0.3);
        RETURN NEW;
      END $$`);
    await database.query(
      'CREATE TRIGGER slow_audit BEFORE INSERT ON admin_audit_events FOR EACH ROW EXECUTE FUNCTION slow_audit()',
    );
  });

  afterAll(async () => {
    if (server && server.exitCode === null) server.kill('SIGKILL');
    await database.query('DROP TRIGGER IF EXISTS slow_audit ON admin_audit_events');
    await database.query('DROP FUNCTION IF EXISTS slow_audit()');
    await database.end();
  });

  it.each(CHANGES)(
    'keeps the row of $name',
    async (change) => {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      server = startBuiltServer(port, {
        NODE_ENV: 'production',
        DATABASE_URL: process.env.E2E_DATABASE_URL,
        ADMIN_API_TOKEN: ADMIN_TOKEN,
        ROTATION_WORKER_ENABLED: 'false',
        ...change.settings,
      });
      const running = server;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      await poll(
        () =>
          fetch(`${base}/health`).then(
            (r) => (r.ok ? true : undefined),
            () => undefined,
          ),
        60_000,
        100,
      );
      const requestId = `durable-${change.path.split('/')[2]}`;
      const answer = await fetch(`${base}${change.path}`, {
        method: change.method,
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          'content-type': 'application/json',
          'x-request-id': requestId,
        },
        body: JSON.stringify(change.body),
      });
      running.kill('SIGKILL');
      expect(answer.status).toBe(change.status);
      await exited;
      const rows: { action: string; status_code: number; outcome: string }[] = (
        await database.query(
          `SELECT action, status_code, outcome FROM admin_audit_events WHERE request_id = $1`,
          [requestId],
        )
      ).rows;
      expect(rows).toEqual([
        { action: expect.stringContaining(change.action), status_code: change.status, outcome: 'allowed' },
      ]);
    },
    90_000,
  );
});
