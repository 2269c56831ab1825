import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, freePort, ROOT, waitReady } from './support/built-server';
import { describeIfEmbedded } from './support/fixtures';

const BUILT = join(ROOT, 'dist', 'src', 'main.js');

/** `npm start` as a user runs it, in a process group of its own so that npm and node stop together. */
function npmStart(port: number, dataDir: string): { child: ChildProcess; output: () => string } {
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    detached: true,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      DATA_DIR: dataDir,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      CONNECTORS_API_TOKEN: randomBytes(24).toString('base64url'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  return { child, output: () => output };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise((done) => child.on('exit', done));
  process.kill(-child.pid, 'SIGTERM');
  await exited;
}

async function startAndServe(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'connectors-npm-start-'));
  const port = await freePort();
  const started = npmStart(port, dataDir);
  try {
    await waitReady(`http://127.0.0.1:${port}`, 180_000).catch((error: unknown) => {
      throw new Error(`npm start did not serve: ${started.output().slice(-1500)} (${String(error)})`);
    });
    return started.output();
  } finally {
    await stop(started.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describeIfEmbedded('npm start', () => {
  it('starts from dist/ without rebuilding when no source changed, and rebuilds after a source changes', async () => {
    ensureBuilt();
    const builtAt = statSync(BUILT).mtimeMs;
    const unchanged = await startAndServe();
    expect(unchanged).toContain('not rebuilding');
    expect(statSync(BUILT).mtimeMs).toBe(builtAt);

    // A source saved after the build, its content unchanged.
    const source = join(ROOT, 'src', 'main.ts');
    const later = new Date(builtAt + 2000);
    utimesSync(source, later, later);
    const changed = await startAndServe();
    expect(changed).toContain('sources changed since the last build: building');
    expect(statSync(BUILT).mtimeMs).toBeGreaterThan(builtAt);
  }, 300_000);
});

describeIfEmbedded('.env in the working directory', () => {
  it('gives the start-up its port, data directory and tokens, the environment winning over the file', async () => {
    ensureBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'connectors-env-file-'));
    const port = await freePort();
    const serviceToken = randomBytes(24).toString('base64url');
    const fileAdmin = randomBytes(24).toString('base64url');
    const givenAdmin = randomBytes(24).toString('base64url');
    writeFileSync(
      join(dir, '.env'),
      [
        '# as in .env.example',
        'NODE_ENV=development',
        `PORT=${port}`,
        `DATA_DIR=${join(dir, 'data')}`,
        `CONNECTORS_API_TOKEN="${serviceToken}"`,
        `ADMIN_API_TOKEN=${fileAdmin}`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [BUILT], {
      cwd: dir,
      detached: true,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ADMIN_API_TOKEN: givenAdmin },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const base = `http://127.0.0.1:${port}`;
    const status = async (path: string, token: string) =>
      (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } })).status;
    try {
      await waitReady(base, 180_000).catch((error: unknown) => {
        throw new Error(
          `the server did not serve on the port of .env: ${output.slice(-1500)} (${String(error)})`,
        );
      });
      expect(await status('/users/1/accounts', serviceToken)).toBe(200);
      expect(await status('/admin/keys', givenAdmin)).toBe(200);
      expect(await status('/admin/keys', fileAdmin)).toBe(403);
      // Both tokens were set: no development credentials were generated in the file's DATA_DIR.
      expect(existsSync(join(dir, 'data', 'pglite'))).toBe(true);
      expect(existsSync(join(dir, 'data', 'dev-credentials.json'))).toBe(false);
    } finally {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
