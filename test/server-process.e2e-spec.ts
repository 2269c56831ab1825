import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import {
  ensureBuilt,
  freePort,
  ROOT,
  runBuiltServer,
  startBuiltServer,
  waitReady,
} from './support/built-server';
import { newKey } from './support/rotation-fixtures';
import { SecretRegistry } from './support/safety-secrets';
import { describeIfPostgres, poll } from './support/fixtures';
import { newApiToken } from './support/auth';

const SERVICE_TOKEN = newApiToken('service');
const APPLICATION_NAME = 'connectors-backend';

describeIfPostgres('the production start (PostgreSQL)', () => {
  it('serves with every secret read from a *_FILE variable, trailing newlines trimmed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'connectors-secrets-'));
    const secret = (name: string, value: string) => {
      writeFileSync(join(dir, name), `${value}\n`, { mode: 0o600 });
      return join(dir, name);
    };
    const serviceToken = randomBytes(24).toString('base64url');
    const adminToken = randomBytes(24).toString('base64url');
    const key = newKey().key;
    const secrets = new SecretRegistry();
    secrets.add('service API token', serviceToken);
    secrets.add('admin API token', adminToken);
    secrets.addKey('token key', key);
    const port = await freePort();
    const child = startBuiltServer(port, {
      NODE_ENV: 'production',
      LOG_LEVEL: 'trace',
      DATABASE_URL: process.env.E2E_DATABASE_URL,
      CONNECTORS_API_TOKEN_FILE: secret('service', serviceToken),
      ADMIN_API_TOKEN_FILE: secret('admin', adminToken),
      WORKFLOWS_ARTIFACT_ENC_KEY_FILE: secret('key', key),
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
      const denied = await fetch(`${base}/admin/keys`, {
        headers: { authorization: `Bearer ${serviceToken}` },
      });
      expect(denied.status).toBe(403);
      await poll(async () => (child.output().includes('request completed') ? true : undefined));
      expect(secrets.find(child.output(), 'server output')).toEqual([]);
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
    const key = newKey().key;
    const child = startBuiltServer(port, {
      NODE_ENV: 'test',
      LOG_LEVEL: 'trace',
      DATABASE_URL: process.env.E2E_DATABASE_URL,
      DB_MIGRATE_ON_START: 'false',
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: key,
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
          `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND datname = current_database()`,
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
      // Still running: neither exited nor killed by the signal.
      expect({ code: child.exitCode, signal: child.signalCode }).toEqual({ code: null, signal: null });
      await db.query('COMMIT');

      const response = await inFlight;
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ id: created.id, version: 2 });
      // A clean exit: code 0, not a death by the signal.
      expect(await exited).toEqual({ code: 0, signal: null });
      const secrets = new SecretRegistry();
      secrets.add('service API token', SERVICE_TOKEN);
      secrets.addKey('token key', key);
      expect(child.output()).toContain('request completed');
      expect(secrets.find(child.output(), 'server output through SIGTERM')).toEqual([]);
      // The server's sessions end with it; the database notices a closed socket promptly, not at once.
      await poll(async () => {
        const { rows } = await db.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`,
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

/** The fenced block of the README's "Production with PostgreSQL" section, as written. */
function readmeProductionRecipe(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Production with PostgreSQL'));
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('the README has no production recipe');
  return block[1].trimEnd().split('\n');
}

describeIfPostgres("the README's production recipe (PostgreSQL)", () => {
  it('runs as written: secrets from files written by echo, migrations as a deploy step, then serves', async () => {
    const lines = readmeProductionRecipe();
    const dir = mkdtempSync(join(tmpdir(), 'connectors-recipe-'));
    const serviceToken = randomBytes(24).toString('base64url');
    const adminToken = randomBytes(24).toString('base64url');
    const port = await freePort();
    for (const [name, value] of [
      ['connectors_api_token', serviceToken],
      ['admin_api_token', adminToken],
      ['token_key', newKey().key],
    ]) {
      writeFileSync(join(dir, name), `${value}\n`, { mode: 0o600 });
    }
    // The machine's own values, and nothing else, replace the recipe's: its database and its
    // secrets folder. `npm ci && npm run build` already ran for this test run.
    const script = lines
      .filter((line) => line !== 'npm ci && npm run build')
      .map((line) =>
        line
          .replaceAll('postgres://connectors@db:5432/connectors', String(process.env.E2E_DATABASE_URL))
          .replaceAll('/run/secrets/', `${dir}/`)
          .replace(/^node dist\/src\/main\.js$/, 'exec node dist/src/main.js'),
      );
    expect(lines).toContain('npm ci && npm run build');
    expect(script[script.length - 1]).toBe('exec node dist/src/main.js');
    ensureBuilt();
    const child = spawn('bash', ['-e', '-c', script.join('\n')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitReady(base, 90_000).catch((error: unknown) => {
        throw new Error(`the recipe did not serve: ${stderr.slice(0, 800)} (${String(error)})`);
      });
      const service = { authorization: `Bearer ${serviceToken}`, 'content-type': 'application/json' };
      const created = await fetch(`${base}/users/5/accounts`, {
        method: 'POST',
        headers: service,
        body: JSON.stringify({ provider: 'notion', tokens: { access_token: 'recipe-token-1' } }),
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: number };
      const tokens = await fetch(`${base}/users/5/accounts/${id}/tokens`, { headers: service });
      expect(await tokens.json()).toMatchObject({ access_token: 'recipe-token-1' });
      const keys = await fetch(`${base}/admin/keys`, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(keys.status).toBe(200);
      // Production defaults: no API documentation.
      expect((await fetch(`${base}/docs/openapi.json`)).status).toBe(404);
      expect(stderr).not.toContain(serviceToken);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('start-up refusals of the built server', () => {
  const key = newKey().key;
  const tokens = { CONNECTORS_API_TOKEN: randomBytes(24).toString('base64url') };

  it.each<[string, Record<string, string>, string]>([
    [
      'the admin token equal to the service token',
      { ...tokens, ADMIN_API_TOKEN: tokens.CONNECTORS_API_TOKEN, WORKFLOWS_ARTIFACT_ENC_KEY: key },
      'Configuration error: ADMIN_API_TOKEN: must differ from CONNECTORS_API_TOKEN',
    ],
    [
      'a token of 15 characters once trimmed',
      { CONNECTORS_API_TOKEN: '   abcdefghijklmno \n', WORKFLOWS_ARTIFACT_ENC_KEY: key },
      'Configuration error: CONNECTORS_API_TOKEN: must be at least 16 characters, not counting surrounding whitespace',
    ],
    [
      'a token of spaces only',
      { ADMIN_API_TOKEN: '                    ', WORKFLOWS_ARTIFACT_ENC_KEY: key },
      'Configuration error: ADMIN_API_TOKEN: must be at least 16 characters, not counting surrounding whitespace',
    ],
    [
      'a token with whitespace inside',
      { ADMIN_API_TOKEN: 'abcdefghij klmnopqrst', WORKFLOWS_ARTIFACT_ENC_KEY: key },
      'Configuration error: ADMIN_API_TOKEN: must not contain whitespace',
    ],
    [
      'no key in production',
      { ...tokens },
      'Configuration error: WORKFLOWS_ARTIFACT_ENC_KEY: is required in production (set CONNECTORS_ALLOW_PLAINTEXT_TOKENS=true to store tokens unencrypted)',
    ],
  ])('refuses %s with one line and exit code 2', (_name, settings, line) => {
    const result = runBuiltServer({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://u@127.0.0.1:1/x',
      ...settings,
    });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([line]);
    for (const value of Object.values(settings)) {
      if (value.trim().length >= 8) expect(result.stderr).not.toContain(value.trim());
    }
  });

  it('names the database host and the reason in one line when it refuses the connection, never the password', async () => {
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const port = await freePort();
    const result = runBuiltServer({
      NODE_ENV: 'production',
      DATABASE_URL: `postgres://connectors:${password}@127.0.0.1:${port}/connectors`,
      WORKFLOWS_ARTIFACT_ENC_KEY: key,
      ...tokens,
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([
      `Start-up failed: cannot use the database at 127.0.0.1:${port} (DATABASE_URL): ECONNREFUSED`,
    ]);
    expect(result.stderr).not.toContain(password);
  });

  it('starts in production without a key only when plaintext storage is allowed explicitly, and says so', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'connectors-plaintext-'));
    const port = await freePort();
    const child = startBuiltServer(port, {
      NODE_ENV: 'production',
      DATA_DIR: dataDir,
      CONNECTORS_ALLOW_PLAINTEXT_TOKENS: 'true',
      ...tokens,
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    try {
      await waitReady(`http://127.0.0.1:${port}`);
    } finally {
      child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
    expect(stderr).toBe('');
    expect(child.output()).toContain('OAuth tokens are stored unencrypted');
    expect(child.output()).not.toContain(tokens.CONNECTORS_API_TOKEN);
  }, 120_000);
});
