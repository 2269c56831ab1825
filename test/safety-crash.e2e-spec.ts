import type { Client } from 'pg';
import type { TokenSet } from '../src/connectors/token-set';
import { RotationService } from '../src/rotation/rotation.service';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { CliProcess, cliEnv } from './support/rotation-cli';
import { newKey, tamperedEnvelope } from './support/rotation-fixtures';
import { directClient, insertSealedAccounts, randomSecret, verifyOnKey } from './support/safety-fixtures';
import { describeIfPostgres, poll, sleep, storedRows } from './support/fixtures';

const ACCOUNTS = 20_000;
const TAMPERED_EVERY = 1_999;
const KILLS_AFTER_PROGRESS = 5;
const LEASE_SECONDS = 5;

interface JobRow {
  id: number;
  status: string;
  scanned: number;
  rotated: number;
  skipped: number;
  failed: number;
  pass: number;
  cursor: number;
}

/**
 * The offline rotation is killed with SIGKILL at random points (during start-up and mid-batch),
 * each time after it made progress, then run to the end: every account is on the new key with the
 * plaintext it was seeded with, and the job's counts add up.
 */
describeIfPostgres('rotation killed at random points (PostgreSQL)', () => {
  const keyA = newKey();
  const keyB = newKey();
  const env = cliEnv({
    WORKFLOWS_ARTIFACT_ENC_KEY: keyB.key,
    WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: keyA.key,
    ROTATION_LEASE_SECONDS: String(LEASE_SECONDS),
  });
  let testApp: TestApp;
  let client: Client;

  beforeAll(async () => {
    testApp = await createTestApp({ WORKFLOWS_ARTIFACT_ENC_KEY: keyA.key, ROTATION_WORKER_ENABLED: 'false' });
    client = await directClient();
  });
  afterAll(async () => {
    await client.end();
    await testApp.close();
  });

  /** The newest job as the service reports it: its partitions summed up. */
  async function currentJob(): Promise<JobRow | undefined> {
    const [job] = await testApp.app.get(RotationService).listJobs(1);
    return job;
  }

  /** A killed worker's lease must run out before the next command may take the job. */
  async function waitForFreeLease(): Promise<void> {
    const { rows } = await client.query<{ wait: number | null }>(
      `SELECT GREATEST(0, EXTRACT(EPOCH FROM max(lease_expires_at) - now()) * 1000)::int AS wait
         FROM key_rotation_partitions WHERE lease_owner IS NOT NULL AND NOT done`,
    );
    if (rows[0]?.wait !== null) await sleep((rows[0]?.wait ?? 0) + 150);
  }

  /** Starts `rotate`, waits until the job has scanned `atLeast` accounts, then kills it mid-work. */
  async function killAfterProgress(atLeast: number): Promise<JobRow> {
    await waitForFreeLease();
    const cli = new CliProcess(['rotate', '--batch-size', '100'], env);
    let ended = false;
    void cli.exited.then(() => (ended = true));
    await poll(
      async () => {
        if (ended) throw new Error(`rotate ended before it was killed:\n${cli.stdout}\n${cli.stderr}`);
        const job = await currentJob();
        return job && job.scanned >= atLeast ? job : undefined;
      },
      60_000,
      5,
    );
    await sleep(Math.floor(Math.random() * 40));
    cli.child.kill('SIGKILL');
    expect((await cli.exited).signal).toBe('SIGKILL');
    return (await currentJob()) as JobRow;
  }

  it('loses no account and no count when the CLI rotation is SIGKILLed at random points, then finishes', async () => {
    await truncateAll(testApp.dataSource);
    const tokens: TokenSet[] = Array.from({ length: ACCOUNTS }, (_, index) => ({
      access_token: `crash-${index}-${randomSecret('', 9)}`,
      refresh_token: `crash-refresh-${index}`,
      index,
    }));
    const seeded = await insertSealedAccounts(testApp.dataSource, keyA, tokens);
    const expected = new Map(seeded.map((account) => [account.id, account.tokens]));
    const tampered = seeded.filter((_, index) => index % TAMPERED_EVERY === 7).map((account) => account.id);
    await testApp.dataSource.query(
      `UPDATE external_accounts SET access_token = t.envelope
           FROM unnest($1::int[], $2::text[]) AS t(id, envelope) WHERE external_accounts.id = t.id`,
      [
        tampered,
        (await storedRows(testApp.dataSource))
          .filter((row) => tampered.includes(row.id))
          .map((row) => tamperedEnvelope(row.access_token as string)),
      ],
    );
    const tamperedBefore = (await storedRows(testApp.dataSource)).filter((row) => tampered.includes(row.id));

    // Killed during start-up: the job may exist without any progress yet.
    const early = new CliProcess(['rotate', '--batch-size', '100'], env);
    await early.waitForOutput(/started rotation job \d+/);
    await sleep(Math.floor(Math.random() * 300));
    early.child.kill('SIGKILL');
    await early.exited;

    const seen: JobRow[] = [];
    let goal = 0;
    for (let kill = 0; kill < KILLS_AFTER_PROGRESS; kill += 1) {
      goal = (seen.at(-1)?.scanned ?? 0) + 500 + Math.floor(Math.random() * 2000);
      seen.push(await killAfterProgress(goal));
    }
    expect(seen.every((job) => job.status === 'running' && job.pass === 1)).toBe(true);
    expect(seen.map((job) => job.scanned)).toEqual([...seen.map((job) => job.scanned)].sort((a, b) => a - b));
    expect(seen.at(-1)!.scanned).toBeLessThan(ACCOUNTS);

    await waitForFreeLease();
    const last = await new CliProcess(['rotate'], env).exited;
    expect(last.status).toBe(1);
    expect(last.stdout).toContain(`resuming rotation job ${seen[0].id} (running`);
    expect(last.stdout).toContain(`${tampered.length} accounts could not be rotated:`);

    const { rows: jobs } = await client.query(`SELECT id FROM key_rotation_jobs`);
    expect(jobs).toHaveLength(1);
    const final = (await currentJob()) as JobRow;
    expect(final).toMatchObject({
      status: 'completed_with_errors',
      pass: 1,
      scanned: ACCOUNTS,
      failed: tampered.length,
    });
    expect(final.rotated + final.skipped + final.failed).toBe(final.scanned);
    expect(final).toMatchObject({ rotated: ACCOUNTS - tampered.length, skipped: 0 });
    const { rows: failures } = await client.query(
      `SELECT account_id, reason_code FROM key_rotation_job_failures ORDER BY account_id`,
    );
    expect(failures).toEqual(tampered.map((id) => ({ account_id: id, reason_code: 'ENVELOPE_AUTH_FAILED' })));

    const rows = await storedRows(testApp.dataSource);
    expect(rows).toHaveLength(ACCOUNTS);
    expect(verifyOnKey(rows, keyB, expected)).toEqual({ offKey: tampered, wrong: [] });
    expect(rows.filter((row) => tampered.includes(row.id))).toEqual(tamperedBefore);
    expect(rows.every((row) => row.version === 1)).toBe(true);
  }, 180_000);
});
