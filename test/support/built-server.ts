import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { poll } from './fixtures';
import { runCli, type CliResult } from './rotation-cli';

export const ROOT = resolve(__dirname, '..', '..');

/**
 * Builds the server once per test run (`npm run build`, as the README says), so start-up cases
 * run the compiled JavaScript that production runs.
 */
export function ensureBuilt(): void {
  const marker = `${process.env.E2E_DATA_DIR ?? resolve(ROOT, 'dist')}.built`;
  if (existsSync(marker)) return;
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  if (build.status !== 0)
    throw new Error(`npm run build failed: ${build.stdout.slice(-2000)}${build.stderr.slice(-2000)}`);
  writeFileSync(marker, '');
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** A built server process, with everything it printed so far on stdout and stderr. */
export type BuiltServer = ChildProcess & { output(): string };

/** The built server in a process of its own, with only the settings given; its output is kept. */
export function startBuiltServer(port: number, settings: Record<string, string | undefined>): BuiltServer {
  ensureBuilt();
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: String(port), LOG_LEVEL: 'warn', ...settings },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output += chunk.toString('utf8'));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return Object.assign(child, { output: () => output });
}

/** The built server run to its end: for settings that must stop it at start-up. */
export function runBuiltServer(settings: Record<string, string | undefined>): SpawnSyncReturns<string> {
  ensureBuilt();
  return spawnSync(process.execPath, ['dist/src/main.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', ...settings },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** The built `connectors` command (the package's bin) run to its end, with only the settings given. */
export function runBuiltCli(
  args: string[],
  settings: Record<string, string | undefined>,
): Promise<CliResult> {
  ensureBuilt();
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LOG_LEVEL: 'warn' };
  for (const [name, value] of Object.entries(settings)) if (value !== undefined) env[name] = value;
  return runCli(args, env, 'built');
}

export async function waitReady(base: string, timeoutMs = 60_000): Promise<void> {
  await poll(
    () =>
      fetch(`${base}/health/ready`).then(
        (r) => (r.ok ? true : undefined),
        () => undefined,
      ),
    timeoutMs,
    200,
  );
}
