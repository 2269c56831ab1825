import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort, startBuiltServer, waitReady } from './support/built-server';
import { describeIfEmbedded, describeIfPostgres, poll } from './support/fixtures';

const SERVICE_TOKEN = randomBytes(24).toString('base64url');
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const service = { authorization: `Bearer ${SERVICE_TOKEN}`, 'content-type': 'application/json' };

interface Running {
  child: ChildProcess;
  base: string;
  /** The log lines so far, stdout and stderr. */
  lines(): string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** The built server with info logs, its output collected line by line. */
async function start(settings: Record<string, string | undefined>): Promise<Running> {
  const port = await freePort();
  const child = startBuiltServer(port, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    CONNECTORS_API_TOKEN: SERVICE_TOKEN,
    ...settings,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((done) =>
    child.on('exit', (code, signal) => done({ code, signal, at: Date.now() })),
  );
  const base = `http://127.0.0.1:${port}`;
  await waitReady(base).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`the server did not start: ${output.slice(0, 800)} (${String(error)})`);
  });
  return { child, base, exited, lines: () => output.split('\n').filter(Boolean) };
}

/** The `msg` of each JSON log line that has one. */
function messages(lines: string[]): string[] {
  return lines.flatMap((line) => {
    try {
      const record = JSON.parse(line) as { msg?: unknown };
      return typeof record.msg === 'string' ? [record.msg] : [];
    } catch {
      return [line];
    }
  });
}

function logged(server: Running, pattern: RegExp): Promise<string> {
  return poll(async () => messages(server.lines()).find((message) => pattern.test(message)), 15_000);
}

async function refused(base: string): Promise<boolean> {
  return fetch(`${base}/health`).then(
    () => false,
    () => true,
  );
}

describeIfEmbedded('stopping the built server (embedded database)', () => {
  let dataDir: string;
  beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), 'connectors-stop-'))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses new connections as soon as it logs that it is stopping, then logs that it stopped and exits 0', async () => {
    const server = await start({ DATA_DIR: dataDir });
    try {
      expect((await fetch(`${server.base}/health`)).status).toBe(200);
      server.child.kill('SIGTERM');
      await logged(server, /^stopping on SIGTERM/);
      expect(await refused(server.base)).toBe(true);
      expect(await server.exited).toMatchObject({ code: 0 });
      const stopLines = messages(server.lines()).filter((message) => /^(stopping|stopped)\b/.test(message));
      expect(stopLines).toEqual([
        expect.stringMatching(/^stopping on SIGTERM/),
        expect.stringMatching(/^stopped/),
      ]);
    } finally {
      server.child.kill('SIGKILL');
    }
  }, 120_000);

  it('exits with code 1 after SHUTDOWN_TIMEOUT_SECONDS when a request is stuck on a provider that never answers', async () => {
    const held: Socket[] = [];
    const provider = createServer((socket) => held.push(socket));
    await new Promise<void>((done) => provider.listen(0, '127.0.0.1', done));
    const { port } = provider.address() as { port: number };
    const server = await start({
      DATA_DIR: dataDir,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      PROVIDER_TIMEOUT_MS: '60000',
      REFRESH_LEASE_SECONDS: '120',
      SHUTDOWN_TIMEOUT_SECONDS: '2',
    });
    try {
      const configured = await fetch(`${server.base}/admin/providers/acme`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          tokenUrl: `http://127.0.0.1:${port}/token`,
          clientId: 'client',
          clientSecret: randomBytes(16).toString('hex'),
        }),
      });
      expect(configured.status).toBe(200);
      const expired = {
        access_token: 'a',
        refresh_token: 'r',
        expires_at: Math.floor(Date.now() / 1000) - 60,
      };
      const created = await fetch(`${server.base}/users/1/accounts`, {
        method: 'POST',
        headers: service,
        body: JSON.stringify({ provider: 'acme', tokens: expired }),
      });
      const { id } = (await created.json()) as { id: number };
      const stuck = fetch(`${server.base}/users/1/accounts/${id}/tokens?minValidity=60`, {
        headers: service,
      }).catch(() => 'cut');
      await poll(async () => (held.length > 0 ? true : undefined), 15_000);

      const signalled = Date.now();
      server.child.kill('SIGTERM');
      await logged(server, /^stopping on SIGTERM: no new connections; 1 requests in flight/);
      expect(await refused(server.base)).toBe(true);
      const { code, at } = await server.exited;
      expect(code).toBe(1);
      expect(at - signalled).toBeGreaterThanOrEqual(1900);
      expect(at - signalled).toBeLessThan(10_000);
      expect(messages(server.lines())).toContainEqual(expect.stringMatching(/^not stopped within 2 s/));
      expect(await stuck).toBe('cut');
    } finally {
      server.child.kill('SIGKILL');
      for (const socket of held) socket.destroy();
      provider.close();
    }
  }, 120_000);
});

describeIfPostgres('stopping the built server (PostgreSQL)', () => {
  it('exits with code 1 after SHUTDOWN_TIMEOUT_SECONDS while a request waits on a row lock', async () => {
    const server = await start({
      DATABASE_URL: process.env.E2E_DATABASE_URL,
      DB_MIGRATE_ON_START: 'false',
      ROTATION_WORKER_ENABLED: 'false',
      SHUTDOWN_TIMEOUT_SECONDS: '2',
    });
    const db = new Client({ connectionString: process.env.E2E_DATABASE_URL });
    await db.connect();
    try {
      const created = await fetch(`${server.base}/users/4/accounts`, {
        method: 'POST',
        headers: service,
        body: JSON.stringify({ provider: 'notion', tokens: { access_token: 'before' } }),
      });
      const { id } = (await created.json()) as { id: number };
      await db.query('BEGIN');
      await db.query('SELECT id FROM external_accounts WHERE id = $1 FOR UPDATE', [id]);
      const stuck = fetch(`${server.base}/users/4/accounts/${id}/tokens`, {
        method: 'PUT',
        headers: service,
        body: JSON.stringify({ access_token: 'after' }),
      }).catch(() => 'cut');
      await poll(async () => {
        const { rows } = await db.query(
          `SELECT 1 FROM pg_stat_activity WHERE application_name = 'connectors-backend' AND wait_event_type = 'Lock' AND datname = current_database()`,
        );
        return rows.length > 0 ? true : undefined;
      }, 30_000);

      server.child.kill('SIGTERM');
      const { code } = await server.exited;
      expect(code).toBe(1);
      expect(messages(server.lines())).toContainEqual(expect.stringMatching(/^not stopped within 2 s/));
      expect(await stuck).toBe('cut');
    } finally {
      server.child.kill('SIGKILL');
      await db.query('ROLLBACK').catch(() => undefined);
      await db.end();
    }
  }, 120_000);
});
