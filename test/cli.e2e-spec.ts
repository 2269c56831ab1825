import { createSecretKey } from 'node:crypto';
import { keyIdOf } from '../src/crypto/key-ring';
import { CliProcess, cliEnv, runCli, type CliResult } from './support/rotation-cli';
import {
  createRotationApp,
  expectTokens,
  holdRotationJob,
  keyEnv,
  newKey,
  seedAccounts,
  setLease,
  setToken,
  tamperedEnvelope,
  type ExpectedTokens,
  type RotationApp,
  waitForStatus,
} from './support/rotation-fixtures';
import { describeIfEmbedded, describeIfPostgres, storedRows } from './support/fixtures';

describe('command line', () => {
  const keyA = newKey();
  const keyB = newKey();
  const rotationEnv = (extra = {}) =>
    cliEnv({
      WORKFLOWS_ARTIFACT_ENC_KEY: keyB.key,
      WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: keyA.key,
      ...extra,
    });
  let app: RotationApp | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** No key, token or envelope in anything the command printed. */
  function expectNoSecrets(result: CliResult, expected: ExpectedTokens = new Map()): void {
    const output = result.stdout + result.stderr;
    for (const secret of [
      keyA.key,
      keyB.key,
      '"_enc"',
      ...[...expected.values()].map((set) => set.access_token),
    ]) {
      expect(output).not.toContain(secret);
    }
  }

  it('generates a key from the CSPRNG with its key id, without a database', async () => {
    const env = cliEnv({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    const [text, json] = await Promise.all([
      runCli(['keys:generate'], env),
      runCli(['keys:generate', '--json'], env),
    ]);
    expect([text.status, json.status]).toEqual([0, 0]);
    const [, key, kid] = /^key: {4}(\S+)\nkey id: ([0-9a-f]{16})\n$/.exec(text.stdout) ?? [];
    const bytes = Buffer.from(key, 'base64');
    expect(bytes).toHaveLength(32);
    expect(bytes.toString('base64')).toBe(key);
    expect(keyIdOf(createSecretKey(bytes))).toBe(kid);
    const generated = JSON.parse(json.stdout) as { key: string; keyId: string };
    expect(generated.key).not.toBe(key);
    expect(keyIdOf(createSecretKey(Buffer.from(generated.key, 'base64')))).toBe(generated.keyId);
  });

  it('exits 2 on bad usage and bad configuration, naming the variable but never its value', async () => {
    const badKey = 'c2hvcnQta2V5';
    const results = await Promise.all([
      runCli(['rotate', '--batch-size', 'lots'], cliEnv()),
      runCli(['keys:status', '--dry-run'], cliEnv()),
      runCli(['rotate'], cliEnv()),
      runCli(['rotate'], cliEnv({ WORKFLOWS_ARTIFACT_ENC_KEY: badKey })),
      runCli(['keys:status'], cliEnv({ ROTATION_POLL_SECONDS: '0' })),
    ]);
    expect(results.map((result) => result.status)).toEqual([2, 2, 2, 2, 2]);
    expect(results[0].stderr).toContain('--batch-size must be an integer between 1 and 10000');
    expect(results[1].stderr).toContain('--dry-run does not apply to keys:status');
    expect(results[2].stderr.trim()).toBe(
      'Configuration error: WORKFLOWS_ARTIFACT_ENC_KEY: is required to rotate: accounts are re-sealed with it',
    );
    expect(results[3].stderr.trim()).toMatch(
      /^Configuration error: WORKFLOWS_ARTIFACT_ENC_KEY: must be standard base64/,
    );
    expect(results[3].stderr).not.toContain(badKey);
    expect(results[4].stderr.trim()).toBe(
      'Configuration error: ROTATION_POLL_SECONDS: must be between 1 and 3600',
    );
  });

  it('shows the key inventory as a table and as JSON', async () => {
    await seedAccounts(keyA, { sealed: 4, legacy: 2, plaintext: 1 });
    const [table, json] = [
      await runCli(['keys:status'], rotationEnv()),
      await runCli(['keys:status', '--json'], rotationEnv()),
    ];
    expect([table.status, json.status]).toEqual([0, 0]);
    expect(table.stdout).toMatch(new RegExp(`${keyA.kid}\\s+previous\\s+4\\s+no`));
    expect(table.stdout).toContain(`primary key: ${keyB.kid}`);
    expect(JSON.parse(json.stdout)).toMatchObject({
      primaryKeyId: keyB.kid,
      legacyV1Accounts: 2,
      accountsToRotate: 7,
    });
    expectNoSecrets(table);
  });

  it('keys:status --check fails while plaintext accounts remain under encryption, and passes once rotated', async () => {
    await seedAccounts(keyA, { sealed: 3, plaintext: 2 });
    const before = await runCli(['keys:status', '--check'], rotationEnv());
    expect(before.status).toBe(1);
    expect(before.stdout).toContain(
      'WARNING: 2 accounts are stored in plaintext although a key is configured: run a rotation to seal them, then set CONNECTORS_REQUIRE_TOKEN_ENCRYPTION=true',
    );
    expect((await runCli(['keys:status'], rotationEnv())).status).toBe(0);
    expect((await runCli(['rotate'], rotationEnv())).status).toBe(0);
    const after = await runCli(['keys:status', '--check'], rotationEnv());
    expect(after.status).toBe(0);
    expect(after.stdout).not.toContain('WARNING');
  });

  it('keys:status --check fails with plaintext accounts when no key is configured', async () => {
    await seedAccounts(keyA, { sealed: 0, plaintext: 2 });
    const result = await runCli(['keys:status', '--check'], cliEnv());
    expect(result.status).toBe(1);
    expect(result.stdout).toContain(
      'WARNING: 2 accounts are stored in plaintext and no key is configured: set WORKFLOWS_ARTIFACT_ENC_KEY (npx connectors keys:generate), then run a rotation to seal them',
    );
  });

  it('rotates every account and exits 0, printing progress but no secret', async () => {
    const expected = await seedAccounts(keyA, { sealed: 150, legacy: 30, plaintext: 20 });
    const result = await runCli(['rotate', '--batch-size', '50'], rotationEnv());
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^started rotation job \d+: about 200 accounts/);
    expect(result.stdout).toMatch(/^progress: \d+\/200/m);
    expect(result.stdout).toMatch(/completed: scanned 200, rotated 200, skipped 0, failed 0\n$/);
    expectNoSecrets(result, expected);
    app = await createRotationApp(keyEnv(keyB));
    await expectTokens(app, expected);
  });

  it('exits 1 and lists the accounts that failed, in a dry run as in a real one', async () => {
    await seedAccounts(keyA, { sealed: 30 });
    app = await createRotationApp(keyEnv(keyB, [keyA]));
    const [first, second] = await storedRows(app.dataSource);
    await setToken(app.dataSource, second.id, tamperedEnvelope(second.access_token as string));
    await app.close();
    app = undefined;

    const dryRun = await runCli(['rotate', '--dry-run'], rotationEnv());
    expect(dryRun.status).toBe(1);
    expect(dryRun.stdout).toContain(`1 accounts would fail:\n  account ${second.id}: ENVELOPE_AUTH_FAILED\n`);
    // A dry run rotates nothing, and says so on every line, progress included.
    expect(dryRun.stdout).toMatch(/^progress: .*would rotate \d+, skipped \d+, would fail \d+/m);
    expect(dryRun.stdout).not.toMatch(/\b(rotated|failed) \d/);
    const real = await runCli(['rotate'], rotationEnv());
    expect(real.status).toBe(1);
    expect(real.stdout).toContain(
      `1 accounts could not be rotated:\n  account ${second.id}: ENVELOPE_AUTH_FAILED\n`,
    );
    expect(real.stdout).toContain('1 accounts are still not on the primary key');
    expect(real.stdout).not.toContain(`account ${first.id}:`);
  });

  describeIfEmbedded('interrupted (embedded database)', () => {
    it('stops at the batch boundary on Ctrl-C with exit 130, though the database answers without I/O', async () => {
      const expected = await seedAccounts(keyA, { sealed: 5000 });
      const env = rotationEnv();
      const cli = new CliProcess(['rotate', '--batch-size', '10'], env);
      await cli.waitForOutput(/^progress: [1-9]\d*\//m);
      cli.child.kill('SIGINT');
      const stopped = await cli.exited;
      expect(stopped.status).toBe(130);
      expect(stopped.stderr).toContain('stopping after the current batch; the job stays resumable');
      expect(stopped.stdout).toContain('stopped before the end; run rotate again to resume the job');

      const resumed = await runCli(['rotate'], env);
      expect(resumed.status).toBe(0);
      expect(resumed.stdout).toMatch(
        /^resuming rotation job \d+ \(running, pass 1, [1-9]\d* accounts scanned so far\)/m,
      );
      app = await createRotationApp(keyEnv(keyB, [keyA]));
      const [job] = await app.rotation.listJobs(10);
      expect(job).toMatchObject({ status: 'completed', scanned: 5000, rotated: 5000, failed: 0 });
      await expectTokens(app, expected);
    });
  });

  describeIfPostgres('interrupted (PostgreSQL)', () => {
    /** A CLI rotation held at a batch part-way: it is provably mid-job while the test acts. */
    async function heldMidJob(env: NodeJS.ProcessEnv) {
      const expected = await seedAccounts(keyA, { sealed: 3000 });
      app = await createRotationApp(keyEnv(keyB, [keyA]));
      const cli = new CliProcess(['rotate', '--batch-size', '10'], env);
      await cli.waitForOutput(/^progress: [1-9]\d*\//m);
      const [job] = await app.rotation.listJobs(1);
      const release = await holdRotationJob(app.dataSource, job.id);
      return { expected, cli, job, release };
    }

    it('resumes a rotation killed mid-job, exiting 3 while the dead lease lasts, and loses nothing', async () => {
      const env = rotationEnv({ ROTATION_LEASE_SECONDS: '10' });
      const { expected, cli, job, release } = await heldMidJob(env);
      cli.child.kill('SIGKILL');
      expect((await cli.exited).signal).toBe('SIGKILL');
      await release();
      const interrupted = await app!.rotation.getJob(job.id);
      expect(interrupted).toMatchObject({ status: 'running' });
      expect(interrupted.scanned).toBeGreaterThan(0);
      expect(interrupted.scanned).toBeLessThan(3000);

      await setLease(app!.dataSource, job.id, 60);
      const held = await runCli(['rotate'], env);
      expect(held.status).toBe(3);
      expect(held.stderr).toContain(`Rotation job ${job.id} is leased by`);

      await setLease(app!.dataSource, job.id, -1);
      const resumed = await runCli(['rotate'], env);
      expect(resumed.status).toBe(0);
      expect(resumed.stdout).toContain(`resuming rotation job ${job.id} (running`);
      expect(await app!.rotation.getJob(job.id)).toMatchObject({
        status: 'completed',
        scanned: 3000,
        rotated: 3000,
        failed: 0,
      });
      expect(await app!.rotation.listJobs(10)).toHaveLength(1);
      await expectTokens(app!, expected);
    });

    it('has a server instance finish a job whose CLI holder was SIGKILLed, once its lease ends', async () => {
      const { expected, cli, job, release } = await heldMidJob(rotationEnv());
      cli.child.kill('SIGKILL');
      await cli.exited;
      await release();
      await setLease(app!.dataSource, job.id, -1);
      const server = await createRotationApp(keyEnv(keyB, [keyA], { ROTATION_WORKER_ENABLED: 'true' }));
      try {
        const final = await waitForStatus(server.rotation, job.id, [
          'completed',
          'completed_with_errors',
          'failed',
        ]);
        expect(final).toMatchObject({ status: 'completed', scanned: 3000, rotated: 3000, failed: 0 });
        await expectTokens(server, expected);
      } finally {
        await server.close();
      }
    });

    it('stops at the batch boundary on Ctrl-C with exit 130, and the job resumes where it stopped', async () => {
      const env = rotationEnv();
      const { expected, cli, job, release } = await heldMidJob(env);
      cli.child.kill('SIGINT');
      await release();
      const stopped = await cli.exited;
      expect(stopped.status).toBe(130);
      expect(stopped.stderr).toContain('stopping after the current batch; the job stays resumable');
      expect(stopped.stdout).toContain('stopped before the end; run rotate again to resume the job');
      const paused = await app!.rotation.getJob(job.id);
      expect(paused).toMatchObject({ status: 'running', leaseOwner: null });
      expect(paused.scanned).toBeLessThan(3000);

      const resumed = await runCli(['rotate'], env);
      expect(resumed.status).toBe(0);
      expect(await app!.rotation.getJob(job.id)).toMatchObject({ status: 'completed', rotated: 3000 });
      await expectTokens(app!, expected);
    });
  });
});
