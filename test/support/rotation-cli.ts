import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { TestEnv } from '../create-app';

const ROOT = resolve(__dirname, '../..');

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment of a CLI child: the run's database and only the settings given. */
export function cliEnv(settings: TestEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: 'test',
    DATABASE_URL: process.env.E2E_DATABASE_URL,
    DATA_DIR: process.env.E2E_DATA_DIR,
    DB_MIGRATE_ON_START: 'false',
    LOG_LEVEL: 'warn',
  };
  for (const [name, value] of Object.entries(settings)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** The command's entry: the TypeScript source (through ts-node), or the built package's bin. */
export type CliEntry = 'source' | 'built';

const ENTRY: Record<CliEntry, string[]> = {
  source: ['-r', 'ts-node/register/transpile-only', 'src/cli/main.ts'],
  built: ['dist/src/cli/main.js'],
};

/**
 * The one way the suites run the `connectors` command: `npm run cli -- <args>` without npm in
 * between, so signals reach the command itself. `built` runs the compiled bin (build it first).
 */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;

  constructor(args: string[], env: NodeJS.ProcessEnv, entry: CliEntry = 'source') {
    this.child = spawn(process.execPath, [...ENTRY[entry], ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('utf8')));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.exited = new Promise((done) =>
      this.child.on('close', (status, signal) =>
        done({ status, signal, stdout: this.stdout, stderr: this.stderr }),
      ),
    );
  }

  /** Resolves once stdout matches, or rejects when the process ends first. */
  async waitForOutput(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let ended = false;
    void this.exited.then(() => (ended = true));
    while (!pattern.test(this.stdout)) {
      if (ended)
        throw new Error(`the command ended before printing ${pattern}:\n${this.stdout}\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  entry: CliEntry = 'source',
): Promise<CliResult> {
  return new CliProcess(args, env, entry).exited;
}
