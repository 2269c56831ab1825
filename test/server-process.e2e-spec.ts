import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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

/** The server from its sources in a process of its own, with only the settings given. */
function startServer(port: number, settings: Record<string, string | undefined>): ChildProcess {
  return spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: resolve(__dirname, '..'),
    env: { PATH: process.env.PATH, PORT: String(port), LOG_LEVEL: 'warn', ...settings },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

async function waitReady(base: string): Promise<void> {
  await poll(
    () =>
      fetch(`${base}/health/ready`).then(
        (r) => (r.ok ? true : undefined),
        () => undefined,
      ),
    60_000,
    200,
  );
}

describeIfPostgres('the production start (PostgreSQL)', () => {
  it('serves with every secret read from a *_FILE variable, trailing newlines trimmed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'connectors-secrets-'));
    const secret = (name: string, value: string) => {
      writeFileSync(join(dir, name), `${value}\n`, { mode: 0o600 });
      return join(dir, name);
    };
    const serviceToken = randomBytes(24).toString('base64url');
    const port = await freePort();
    const child = startServer(port, {
      NODE_ENV: 'production',
      DATABASE_URL: process.env.E2E_DATABASE_URL,
      CONNECTORS_API_TOKEN_FILE: secret('service', serviceToken),
      ADMIN_API_TOKEN_FILE: secret('admin', randomBytes(24).toString('base64url')),
      WORKFLOWS_ARTIFACT_ENC_KEY_FILE: secret('key', newKey().key),
      CONNECTORS_REQUIRE_TOKEN_ENCRYPTION: 'true',
      ROTATION_WORKER_ENABLED: 'false',
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitReady(base).catch((error: unknown) => {
        throw new Error(`the server did not start: ${stderr.slice(0, 500)} (${String(error)})`);
      });
      const list = await fetch(`${base}/users/1/accounts`, {
        headers: { authorization: `Bearer ${serviceToken}` },
      });
      expect(list.status).toBe(200);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

/**
 * The server as it runs in production: its own process, stopped with SIGTERM. A request in
 * flight is held by a row lock the test takes, so the signal provably arrives while it runs.
 */
describeIfPostgres('graceful shutdown (PostgreSQL)', () => {
  it('finishes the request in flight on SIGTERM, then closes its pool and exits', async () => {
    const port = await freePort();
    const child = startServer(port, {
      NODE_ENV: 'test',
      DATABASE_URL: process.env.E2E_DATABASE_URL,
      DB_MIGRATE_ON_START: 'false',
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: newKey().key,
      ROTATION_WORKER_ENABLED: 'false',
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.on('exit', (code, signal) => done({ code, signal })),
    );
    const db = new Client({ connectionString: process.env.E2E_DATABASE_URL });
    await db.connect();
    try {
      const base = `http://127.0.0.1:${port}`;
      const auth = { authorization: `Bearer ${SERVICE_TOKEN}`, 'content-type': 'application/json' };
      await waitReady(base);
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
