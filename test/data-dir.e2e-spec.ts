import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runBuiltCli, runBuiltServer, startBuiltServer, waitReady } from './support/built-server';
import { describeIfEmbedded } from './support/fixtures';
import { newKey } from './support/rotation-fixtures';
import { freshDataDir } from './test-database';

/** The embedded database's directory, as `npm start` uses it: one built server process at a time. */
describeIfEmbedded('the embedded data directory', () => {
  const dataDir = freshDataDir('connectors-data-dir-');
  const settings = {
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    CONNECTORS_API_TOKEN: randomBytes(24).toString('base64url'),
    WORKFLOWS_ARTIFACT_ENC_KEY: newKey().key,
  };
  let server: ChildProcess | undefined;

  afterAll(() => {
    server?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is locked by the server: a second server and every database command refuse in one line naming it', async () => {
    const port = await freePort();
    server = startBuiltServer(port, settings);
    const exited = new Promise((done) => server?.on('exit', done));
    await waitReady(`http://127.0.0.1:${port}`);
    const pid = server.pid as number;
    expect(JSON.parse(readFileSync(join(dataDir, 'lock'), 'utf8'))).toMatchObject({ pid });

    const holder = new RegExp(
      `^(Start-up failed|error): (DATA_DIR_IN_USE: )?DATA_DIR ${dataDir} is in use by process ${pid} ` +
        `\\(node dist/src/main\\.js, since [^)]+\\): stop it first[^\\n]*\\n$`,
    );
    const second = runBuiltServer({ ...settings, PORT: String(await freePort()) });
    expect([second.status, second.stderr]).toEqual([1, expect.stringMatching(holder)]);
    const registry = { DATA_DIR: dataDir, KEY_WRAPPING: 'local', ROOT_KEY: newKey().key };
    const commands = await Promise.all(
      [
        runBuiltCli(['keys:status'], settings),
        runBuiltCli(['rotate'], settings),
        runBuiltCli(['migrate'], settings),
        runBuiltCli(['keys:add'], registry),
        runBuiltCli(['keys:retire', '0123456789abcdef'], registry),
      ].map((command) => command.then(({ status, stderr }) => ({ status, stderr }))),
    );
    for (const command of commands) {
      expect(command).toEqual({ status: 1, stderr: expect.stringMatching(holder) });
    }

    server.kill('SIGKILL');
    await exited;
    server = undefined;
    // The lock its killed owner left behind is stale: the next process takes it over.
    const status = await runBuiltCli(['keys:status', '--json'], settings);
    expect([status.status, status.stderr]).toEqual([0, '']);
    expect(existsSync(join(dataDir, 'lock'))).toBe(false);
  }, 240_000);

  it('keeps its files private: folders 0700, files 0600, an existing open directory restricted with one warning', async () => {
    const openDir = freshDataDir('connectors-open-dir-');
    try {
      chmodSync(openDir, 0o755);
      writeFileSync(join(openDir, 'notes.txt'), 'operator notes\n', { mode: 0o644 });
      chmodSync(join(openDir, 'notes.txt'), 0o644);
      const port = await freePort();
      const child = startBuiltServer(port, { ...settings, DATA_DIR: openDir });
      const exited = new Promise((done) => child.on('exit', done));
      try {
        await waitReady(`http://127.0.0.1:${port}`);
        const created = await fetch(`http://127.0.0.1:${port}/users/1/accounts`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${settings.CONNECTORS_API_TOKEN}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ provider: 'notion', tokens: { access_token: 'private-files-token' } }),
        });
        expect(created.status).toBe(201);
        const open = entriesUnder(openDir).filter((entry) => (entry.mode & 0o077) !== 0);
        expect(open).toEqual([]);
        const kinds = entriesUnder(openDir).map((entry) =>
          entry.directory ? entry.mode === 0o700 : entry.mode === 0o600,
        );
        expect(kinds.length).toBeGreaterThan(10);
        expect(kinds.every(Boolean)).toBe(true);
        const warnings = child
          .output()
          .split('\n')
          .filter((line) => line.includes('open to other users'));
        expect(warnings).toEqual([
          expect.stringContaining(`DATA_DIR ${openDir} had 2 files or folders open`),
        ]);
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
    } finally {
      rmSync(openDir, { recursive: true, force: true });
    }
  }, 240_000);
});

function entriesUnder(dir: string): { path: string; mode: number; directory: boolean }[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((name) => {
    const stat = lstatSync(join(dir, name));
    return { path: name, mode: stat.mode & 0o777, directory: stat.isDirectory() };
  });
}
