import type { TokenSet } from '../src/connectors/token-set';
import type { DomainError } from '../src/common/domain-error';
import type { RotationJobView } from '../src/rotation/rotation-job.view';
import { truncateAll } from './create-app';
import { CliProcess, cliEnv, type CliResult } from './support/rotation-cli';
import {
  createRotationApp,
  holdRotationJob,
  keyEnv,
  newKey,
  setLease,
  type RotationApp,
} from './support/rotation-fixtures';
import { insertSealedAccounts, randomSecret, verifyOnKey } from './support/safety-fixtures';
import { describeIfPostgres, sleep, storedRows } from './support/fixtures';

const ACCOUNTS = 8_000;
const WRITERS = 8;
const MIN_WRITES_DURING_ROTATION = 2_000;

/**
 * Two server instances run the rotation (one hands it to the other half-way) while writers update
 * tokens through ExternalAccountsService: no update is lost, no row stays on the old key, and one
 * job did all of it.
 */
describeIfPostgres('rotation under concurrent token writes and two workers (PostgreSQL)', () => {
  const keyA = newKey();
  const keyB = newKey();
  const apps: RotationApp[] = [];

  afterAll(async () => {
    for (const app of apps) await app.close();
  });

  async function open(worker: boolean): Promise<RotationApp> {
    const app = await createRotationApp(
      keyEnv(keyB, [keyA], {
        ROTATION_WORKER_ENABLED: String(worker),
        ROTATION_POLL_SECONDS: '1',
        ROTATION_LEASE_SECONDS: '5',
      }),
    );
    apps.push(app);
    return app;
  }

  it('loses no update, leaves no row on the old key and runs exactly one job', async () => {
    const writerApp = await open(false);
    await truncateAll(writerApp.dataSource);
    const seeded = await insertSealedAccounts(
      writerApp.dataSource,
      keyA,
      Array.from({ length: ACCOUNTS }, (_, index) => ({
        access_token: `seed-${index}-${randomSecret('', 6)}`,
        refresh_token: `seed-refresh-${index}`,
      })),
    );
    const expected = new Map<number, TokenSet>(seeded.map((account) => [account.id, account.tokens]));
    const workers = [await open(true), await open(true)];

    const starts = await Promise.allSettled(
      workers.map((app) => app.rotation.startRotation({ batchSize: 10, requestedBy: 'safety-concurrency' })),
    );
    expect(starts.filter((start) => start.status === 'fulfilled')).toHaveLength(1);
    const refused = starts.flatMap((start) =>
      start.status === 'rejected' ? [(start.reason as DomainError).code] : [],
    );
    expect(refused).toEqual(['ROTATION_ALREADY_ACTIVE']);
    const jobId = (
      starts.find((start) => start.status === 'fulfilled') as PromiseFulfilledResult<RotationJobView>
    ).value.id;

    let view = await writerApp.rotation.getJob(jobId);
    const owners = new Set<string>();
    let handedOver = false;
    let cliResult: CliResult | undefined;
    let writesDuringRotation = 0;
    // The barrier (holdRotationJob) stops the holder at its next batch while a claim still finds
    // the lease held; the lease is lengthened by the database's clock meanwhile, so the holder
    // stays the holder whatever the machine's speed.
    let release: (() => Promise<void>) | undefined;
    let barrierState = 'open' as 'open' | 'held' | 'released';
    const holdJob = async () => {
      release = await holdRotationJob(writerApp.dataSource, jobId);
      await setLease(writerApp.dataSource, jobId, 600);
      barrierState = 'held';
    };
    const releaseJob = async () => {
      await release?.();
      barrierState = 'released';
    };
    const watcher = (async () => {
      while (['pending', 'running', 'cancelling'].includes(view.status)) {
        view = await writerApp.rotation.getJob(jobId);
        if (view.leaseOwner) owners.add(view.leaseOwner);
        // The command line tries too while a worker holds the job: it must leave it alone.
        if (barrierState === 'open' && view.leaseOwner && view.scanned > 0) {
          await holdJob();
          const cli = new CliProcess(['rotate'], cliEnv(keyEnv(keyB, [keyA])));
          void cli.exited.then((result) => (cliResult = result));
        }
        if (barrierState === 'held' && cliResult && writesDuringRotation >= MIN_WRITES_DURING_ROTATION) {
          await releaseJob();
        }
        // Then the worker holding the job stops and the other one takes over.
        if (barrierState === 'released' && !handedOver && view.leaseOwner) {
          handedOver = true;
          const holder = workers.find((app) => app.worker.owner === view.leaseOwner) as RotationApp;
          apps.splice(apps.indexOf(holder), 1);
          await holder.close();
        }
        await sleep(20);
      }
    })();

    const writers = Array.from({ length: WRITERS }, async (_, writer) => {
      const mine = seeded.filter((_, index) => index % WRITERS === writer);
      for (let write = 0; ; write += 1) {
        const rotating = ['pending', 'running', 'cancelling'].includes(view.status);
        if (!rotating) return;
        // Half the writes aim just past the rotation's cursor: the rows its next batches read.
        const ahead = mine.filter((account) => account.id > view.cursor).slice(0, 20);
        const pool = write % 2 === 0 && ahead.length > 0 ? ahead : mine;
        const account = pool[Math.floor(Math.random() * pool.length)];
        const keepRefresh = write % 4 === 3;
        const tokens: TokenSet = { access_token: `w${writer}-${write}-${randomSecret('', 6)}` };
        if (!keepRefresh) tokens.refresh_token = `w${writer}-${write}-refresh`;
        await writerApp.accounts.updateAccountTokens(account.userId, account.id, tokens);
        const previous = expected.get(account.id) as TokenSet;
        expected.set(account.id, {
          ...tokens,
          refresh_token: keepRefresh ? previous.refresh_token : tokens.refresh_token,
        });
        if (['pending', 'running', 'cancelling'].includes(view.status)) writesDuringRotation += 1;
      }
    });
    await Promise.all([watcher, ...writers]);

    expect(cliResult?.status).toBe(3);
    expect(cliResult?.stderr).toContain(`Rotation job ${jobId} is leased by`);
    expect(handedOver).toBe(true);
    expect(owners.size).toBeGreaterThanOrEqual(2);
    expect(writesDuringRotation).toBeGreaterThanOrEqual(MIN_WRITES_DURING_ROTATION);
    expect(view).toMatchObject({ status: 'completed', failed: 0, lastErrorCode: null });
    expect(view.rotated + view.skipped).toBe(view.scanned);
    expect(await writerApp.rotation.listJobs(10)).toHaveLength(1);

    const rows = await storedRows(writerApp.dataSource);
    expect(rows).toHaveLength(ACCOUNTS);
    expect(rows.filter((row) => row.token_key_id !== keyB.kid).map((row) => row.id)).toEqual([]);
    expect(verifyOnKey(rows, keyB, expected)).toEqual({ offKey: [], wrong: [] });
    for (const id of [seeded[0].id, seeded[ACCOUNTS - 1].id]) {
      const { userId } = seeded.find((account) => account.id === id)!;
      expect(await writerApp.accounts.getAccountTokens(userId, id)).toMatchObject(
        expected.get(id) as TokenSet,
      );
    }
  }, 120_000);
});
