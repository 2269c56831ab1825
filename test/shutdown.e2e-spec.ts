import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { newKey } from './support/rotation-fixtures';
import { describeIfPostgres, poll } from './support/fixtures';

const SERVICE_TOKEN = randomBytes(24).toString('base64url');
const APPLICATION_NAME = 'connectors-backend';

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/**
 * The server as it runs in production: its own process, stopped with SIGTERM. A request in
 * flight is held by a row lock the test takes, so the signal provably arrives while it runs.
 */
describeIfPostgres('graceful shutdown (PostgreSQL)', () => {
  it('finishes the request in flight on SIGTERM, then closes its pool and exits', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
      cwd: resolve(__dirname, '..'),
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        DATABASE_URL: process.env.E2E_DATABASE_URL,
        DB_MIGRATE_ON_START: 'false',
        CONNECTORS_API_TOKEN: SERVICE_TOKEN,
        WORKFLOWS_ARTIFACT_ENC_KEY: newKey().key,
        ROTATION_WORKER_ENABLED: 'false',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.on('exit', (code, signal) => done({ code, signal })),
    );
    const db = new Client({ connectionString: process.env.E2E_DATABASE_URL });
    await db.connect();
    try {
      const base = `http://127.0.0.1:${port}`;
      const auth = { authorization: `Bearer ${SERVICE_TOKEN}`, 'content-type': 'application/json' };
      await poll(
        () =>
          fetch(`${base}/health/ready`).then(
            (r) => (r.ok ? true : undefined),
            () => undefined,
          ),
        60_000,
        200,
      );
      const created = await fetch(`${base}/users/3/accounts`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ provider: 'notion', tokens: { access_token: 'before' } }),
      }).then((r) => r.json());

      await db.query('BEGIN');
      await db.query('SELECT id FROM external_accounts WHERE id = $1 FOR UPDATE', [created.id]);
      const inFlight = fetch(`${base}/users/3/accounts/${created.id}/tokens`, {
        method: 'PUT',
        headers: auth,
        body: JSON.stringify({ access_token: 'after' }),
      });
      await poll(async () => {
        const { rows } = await db.query(
          `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [APPLICATION_NAME],
        );
        return rows.length > 0 ? true : undefined;
      }, 30_000);

      child.kill('SIGTERM');
      // New connections are refused while the held request is still being served.
      await poll(
        () =>
          fetch(`${base}/health`).then(
            () => undefined,
            () => true,
          ),
        30_000,
      );
      expect(child.exitCode).toBeNull();
      await db.query('COMMIT');

      const response = await inFlight;
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ id: created.id, version: 2 });
      const { code, signal } = await exited;
      expect(code === 0 || signal === 'SIGTERM').toBe(true);
      // The server's sessions end with it; the database notices a closed socket promptly, not at once.
      await poll(async () => {
        const { rows } = await db.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`,
          [APPLICATION_NAME],
        );
        return rows[0].n === 0 ? true : undefined;
      }, 10_000);
      const [row] = (await db.query('SELECT version FROM external_accounts WHERE id = $1', [created.id]))
        .rows;
      expect(row.version).toBe(2);
    } finally {
      child.kill('SIGKILL');
      await db.end();
    }
  }, 120_000);
});
