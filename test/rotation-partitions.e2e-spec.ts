import { hostname } from 'node:os';
import type { TokenSet } from '../src/connectors/token-set';
import type { RotationJobView } from '../src/rotation/rotation-job.view';
import { truncateAll } from './create-app';
import { CliProcess, cliEnv } from './support/rotation-cli';
import {
  createRotationApp,
  holdRotationJob,
  keyEnv,
  newKey,
  type RotationApp,
} from './support/rotation-fixtures';
import { describeIfPostgres, poll, storedRows } from './support/fixtures';
import { insertSealedAccounts, randomSecret, verifyOnKey } from './support/safety-fixtures';

const ACCOUNTS = 6_000;
const PARTITION_SIZE = 500;

interface PartitionRow {
  part: number;
  lease_owner: string | null;
  cursor: number;
  after_id: number;
  done: boolean;
  scanned: number;
  rotated: number;
  accounts: number;
}

/** Each partition as stored, with how many accounts its id range holds. */
async function partitionsOf(app: RotationApp, jobId: number): Promise<PartitionRow[]> {
  return app.dataSource.query(
    `SELECT p.part, p.lease_owner, p.cursor, p.after_id, p.done, p.scanned, p.rotated,
            (SELECT count(*)::int FROM external_accounts a
              WHERE a.id > p.after_id AND (p.through_id IS NULL OR a.id <= p.through_id)) AS accounts
       FROM key_rotation_partitions p WHERE p.job_id = $1 ORDER BY p.part`,
    [jobId],
  );
}

describe('rotation jobs split into partitions', () => {
  const keyA = newKey();
  const keyB = newKey();
  const apps: RotationApp[] = [];

  async function open(extra: Record<string, string> = {}): Promise<RotationApp> {
    const app = await createRotationApp(
      keyEnv(keyB, [keyA], { ROTATION_PARTITION_SIZE: String(PARTITION_SIZE), ...extra }),
    );
    apps.push(app);
    return app;
  }

  async function seed(app: RotationApp, count: number): Promise<Map<number, TokenSet>> {
    await truncateAll(app.dataSource);
    const seeded = await insertSealedAccounts(
      app.dataSource,
      keyA,
      Array.from({ length: count }, (_, index) => ({
        access_token: `part-${index}-${randomSecret('', 6)}`,
        refresh_token: `part-refresh-${index}`,
      })),
    );
    return new Map(seeded.map((account) => [account.id, account.tokens]));
  }

  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });

  it('runs a job partition after partition, its totals the sums of its partitions', async () => {
    const app = await open();
    const expected = await seed(app, 1_250);
    const job = await app.rotation.startRotation({ batchSize: 100, requestedBy: 'test' });
    expect(job).toMatchObject({ totalEstimate: 1_250, partitions: { total: 3, done: 0, workers: [] } });

    const seen: RotationJobView[] = [];
    const final = await app.worker.runJob(job.id, { onProgress: (view) => void seen.push(view) });

    expect(final).toMatchObject({
      status: 'completed',
      scanned: 1_250,
      rotated: 1_250,
      skipped: 0,
      failed: 0,
      progressPercent: 100,
      partitions: { total: 3, done: 3, workers: [] },
      leaseOwner: null,
    });
    // While it ran: one worker, and a cursor below which every account was read.
    expect(seen.map((view) => view.partitions.workers)).toContainEqual([app.worker.owner]);
    expect(seen.map((view) => view.scanned)).toEqual(
      [...seen.map((view) => view.scanned)].sort((a, b) => a - b),
    );
    const partitions = await partitionsOf(app, job.id);
    expect(partitions.map((partition) => partition.scanned)).toEqual(
      partitions.map((partition) => partition.accounts),
    );
    expect(verifyOnKey(await storedRows(app.dataSource), keyB, expected)).toEqual({ offKey: [], wrong: [] });
  });

  describeIfPostgres('across processes (PostgreSQL)', () => {
    /** Counts each account's committed rewrites: a rotation writes each one exactly once. */
    async function countWrites(app: RotationApp): Promise<() => Promise<void>> {
      await app.dataSource.query(`
        CREATE TABLE test_account_writes (id INTEGER PRIMARY KEY, writes INTEGER NOT NULL);
        CREATE FUNCTION test_count_account_write() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO test_account_writes VALUES (NEW.id, 1)
            ON CONFLICT (id) DO UPDATE SET writes = test_account_writes.writes + 1;
          RETURN NEW;
        END $$;
        CREATE TRIGGER test_count_account_write AFTER UPDATE OF access_token ON external_accounts
          FOR EACH ROW EXECUTE FUNCTION test_count_account_write();`);
      return async () => {
        await app.dataSource.query(`
          DROP TRIGGER IF EXISTS test_count_account_write ON external_accounts;
          DROP FUNCTION IF EXISTS test_count_account_write();
          DROP TABLE IF EXISTS test_account_writes;`);
      };
    }

    it('completes with every account rotated once when a worker is SIGKILLed mid-partition', async () => {
      const app = await open();
      // An instance with ROTATION_WORKER_ENABLED=false takes no part, however long the job runs.
      const bystander = await open({ ROTATION_WORKER_ENABLED: 'false', ROTATION_POLL_SECONDS: '1' });
      const expected = await seed(app, ACCOUNTS);
      const dropCounter = await countWrites(app);
      let cli: CliProcess | undefined;
      try {
        const job = await app.rotation.startRotation({ batchSize: 25, requestedBy: 'test' });
        expect(job.partitions.total).toBe(ACCOUNTS / PARTITION_SIZE);
        cli = new CliProcess(
          ['rotate'],
          cliEnv({
            ...keyEnv(keyB, [keyA]),
            ROTATION_LEASE_SECONDS: '5',
            ROTATION_PARTITION_SIZE: String(PARTITION_SIZE),
          }),
        );
        const killed = `${hostname()}:${cli.child.pid}:`;
        const byCli = (partition: PartitionRow) =>
          partition.lease_owner?.startsWith(killed) === true && !partition.done;
        const command = cli;
        await poll(async () => {
          if (command.child.exitCode !== null)
            throw new Error(`rotate ended:\n${command.stdout}${command.stderr}`);
          const partitions = await partitionsOf(app, job.id);
          return partitions.some((partition) => byCli(partition) && partition.scanned > 0) ? true : undefined;
        });

        // This process runs the job beside the command: both hold partitions at once.
        const running = app.worker.runJob(job.id);
        const workersSeen = new Set<string>();
        let ran = false;
        const watching = (async () => {
          while (!ran) {
            (await app.rotation.getJob(job.id)).partitions.workers.forEach((worker) =>
              workersSeen.add(worker),
            );
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })();
        void running.finally(() => (ran = true));
        const side = await poll(async () => {
          const view = await app.rotation.getJob(job.id);
          const both = view.partitions.workers.some((worker) => worker.startsWith(killed));
          return both && view.partitions.workers.includes(app.worker.owner) ? view : undefined;
        });
        expect(side.partitions.workers).toHaveLength(2);

        // Held at a batch boundary, the command is mid-partition when it dies.
        let midPartition: PartitionRow | undefined;
        while (!midPartition) {
          const release = await holdRotationJob(app.dataSource, job.id);
          midPartition = (await partitionsOf(app, job.id)).find(byCli);
          if (midPartition) cli.child.kill('SIGKILL');
          await release();
        }
        expect((await cli.exited).signal).toBe('SIGKILL');
        expect(midPartition.cursor).toBeGreaterThan(midPartition.after_id);

        const final = await running;
        await watching;
        expect(final).toMatchObject({
          status: 'completed',
          pass: 1,
          scanned: ACCOUNTS,
          rotated: ACCOUNTS,
          skipped: 0,
          failed: 0,
          partitions: { total: ACCOUNTS / PARTITION_SIZE, done: ACCOUNTS / PARTITION_SIZE },
        });
        const partitions = await partitionsOf(app, job.id);
        expect(partitions.map((partition) => [partition.scanned, partition.rotated])).toEqual(
          partitions.map((partition) => [partition.accounts, partition.accounts]),
        );
        const [writes] = await app.dataSource.query(
          `SELECT count(*)::int AS accounts, count(*) FILTER (WHERE writes = 1)::int AS once FROM test_account_writes`,
        );
        expect(writes).toEqual({ accounts: ACCOUNTS, once: ACCOUNTS });
        expect(verifyOnKey(await storedRows(app.dataSource), keyB, expected)).toEqual({
          offKey: [],
          wrong: [],
        });
        expect([...workersSeen].filter((worker) => !worker.startsWith(killed))).toEqual([app.worker.owner]);
        expect(workersSeen.has(bystander.worker.owner)).toBe(false);
      } finally {
        if (cli?.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
        await dropCounter();
      }
    }, 120_000);
  });
});
