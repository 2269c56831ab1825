import { Inject, Injectable, Logger } from '@nestjs/common';
import { setImmediate } from 'node:timers/promises';
import type { ConfigType } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { databaseConfig, rotationConfig } from '../config/configuration';
import { ExternalAccountsRepository } from '../connectors/external-accounts.repository';
import { TokenStorage } from '../connectors/token-storage';
import { EnvelopeService } from '../crypto/envelope.service';
import { KeyRing } from '../crypto/key-ring';
import { ProviderClientsService } from '../providers/provider-clients.service';
import { BatchReadAhead } from './batch-read-ahead';
import { databaseErrorCodeOf, isTransient } from '../common/database-errors';
import { isActive, type PartitionWork, type RotationJobRecord } from './key-rotation-job.entity';
import { InThreadSealer, ResealPool, type RowSealer } from './reseal-pool';
import type { RowCrypto } from './reseal-row';
import { RotationBatchTransactions, type Step, type StepOutcome } from './rotation-batch.transactions';
import { RotationJobsRepository } from './rotation-jobs.repository';
import { toRotationJobView, type RotationJobView } from './rotation-job.view';
import { backoffMs } from '../common/backoff';
import { sleep } from '../common/sleep';

export interface RunJobOptions {
  /**
   * Called after the first committed batch of the run, then after every batch, or at most every
   * `progressEveryMs`; awaited, so a slow callback slows the job down.
   */
  onProgress?: (view: RotationJobView) => void | Promise<void>;
  /**
   * The view `onProgress` gets sums up every partition of the job: a reporter that shows it a few
   * times a second spares the database that query after every batch.
   */
  progressEveryMs?: number;
  /** Stops at the next batch boundary and gives the lease up; the job stays resumable. */
  signal?: AbortSignal;
}

/** How a worker's run of one partition ended. */
type PartitionEnd = Exclude<StepOutcome, 'continue' | 'cancel'> | 'stopped';

/** A partition this worker holds, and its batches read ahead. */
interface Lane {
  work: PartitionWork;
  batches: BatchReadAhead;
}

const OUTAGE_BACKOFF = { firstMs: 1_000, maxMs: 30_000 };

/**
 * Runs the partitions of a job one after the other, as long as this worker can lease one. A
 * partition is run batch by batch, each in its own transaction (RotationBatchTransactions);
 * while a batch commits, the next one is read and re-sealed, on other cores when there are any,
 * and written only after, in its own transaction. A database outage only delays the work.
 */
@Injectable()
export class RotationJobRunner {
  private readonly logger = new Logger(RotationJobRunner.name);
  private readonly crypto: RowCrypto;
  private readonly transactions: RotationBatchTransactions;
  private readonly resealThreads: number;
  private readonly leaseSeconds: number;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly jobs: RotationJobsRepository,
    private readonly accounts: ExternalAccountsRepository,
    private readonly ring: KeyRing,
    envelopes: EnvelopeService,
    storage: TokenStorage,
    providerClients: ProviderClientsService,
    @Inject(rotationConfig.KEY) config: ConfigType<typeof rotationConfig>,
    @Inject(databaseConfig.KEY) database: ConfigType<typeof databaseConfig>,
  ) {
    this.crypto = {
      inspect: (stored) => envelopes.inspect(stored),
      reseal: (stored, binding) => envelopes.reseal(stored, binding),
      openPlaintext: (row) => storage.open(row),
      seal: (binding, tokens) => envelopes.encryptJsonBlob(tokens, binding),
    };
    // PGlite runs its queries on this thread, and a busy query loop starves the pool's replies.
    this.resealThreads = database.embedded ? 0 : config.resealThreads;
    this.leaseSeconds = config.leaseSeconds;
    this.transactions = new RotationBatchTransactions(
      dataSource,
      jobs,
      accounts,
      config.leaseSeconds,
      this.logger,
      (manager, targetKeyId) => providerClients.resealSecrets(manager, targetKeyId),
    );
  }

  /**
   * From a claimed partition until the job ends, fails for good, `signal` stops it, or no other
   * partition of the job is free; returns the job as it then stands. Once a partition's reads
   * reach its end, the next partition is claimed and its first batches read and sealed while
   * the last ones of this partition commit, so the work flows on from partition to partition.
   */
  async run(claimed: PartitionWork, owner: string, options: RunJobOptions = {}): Promise<RotationJobRecord> {
    const sealer = this.newSealer();
    const progress = { shownAt: Number.NEGATIVE_INFINITY };
    let lane: Lane | undefined = this.lane(claimed, sealer);
    let following: Promise<Lane | undefined> | undefined;
    const claimNext = () =>
      this.resilient(claimed, options.signal, () =>
        this.jobs.claimPartition(owner, claimed.targetKeyId, this.leaseSeconds, claimed.jobId),
      ).then((work) => work && this.lane(work, sealer));
    try {
      while (lane) {
        const end = await this.runPartition(
          lane,
          owner,
          options,
          progress,
          () => (following ??= claimNext()),
        );
        await lane.batches.close();
        lane = undefined;
        if (end === 'ended' || end === 'stopped') break;
        lane = await (following ?? claimNext());
        following = undefined;
      }
    } finally {
      await lane?.batches.close();
      await this.dismiss(following, owner);
      await sealer.close();
    }
    return this.current(claimed.jobId, options.signal);
  }

  /** The job as it stands; while the database is away, retried until `signal` stops the run. */
  current(jobId: number, signal?: AbortSignal): Promise<RotationJobRecord> {
    return this.resilient({ jobId }, signal, async () => {
      const job = await this.jobs.findById(jobId);
      if (!job) throw new Error(`rotation job ${jobId} is gone`);
      return job;
    });
  }

  /** A partition's batches, read from its cursor up to its end, re-sealed by the run's sealer. */
  private lane(work: PartitionWork, sealer: RowSealer): Lane {
    const { throughId, targetKeyId, batchSize } = work;
    const batches = new BatchReadAhead(
      (cursor) => this.accounts.offKeyAfter(cursor, throughId, targetKeyId, batchSize),
      (rows) => sealer.reseal(rows),
    );
    batches.prefetch(work.cursor, work.pass);
    return { work, batches };
  }

  /** A partition claimed ahead that the run will not get to: its reads end, its lease is given up. */
  private async dismiss(following: Promise<Lane | undefined> | undefined, owner: string): Promise<void> {
    const spare = await following?.catch(() => undefined);
    if (!spare) return;
    await spare.batches.close();
    await this.release(spare.work, owner);
  }

  private async runPartition(
    lane: Lane,
    owner: string,
    options: RunJobOptions,
    progress: { shownAt: number },
    reachedEnd: () => void,
  ): Promise<PartitionEnd> {
    const { batches } = lane;
    let work = lane.work;
    let outages = 0;
    while (!options.signal?.aborted) {
      // The embedded database answers without I/O, so a job would run as one chain of promises
      // and a signal (Ctrl-C on the command line) would wait for its end: each batch lets the
      // event loop turn once.
      await setImmediate();
      let step: Step;
      let view: RotationJobView | undefined;
      try {
        step = await this.step(work, owner, batches);
        work = step.work;
        if (step.outcome === 'cancel') step = await this.transactions.cancel(work);
        const now = performance.now();
        if (
          step.outcome === 'continue' &&
          options.onProgress &&
          now - progress.shownAt >= (options.progressEveryMs ?? 0)
        ) {
          progress.shownAt = now;
          view = await this.view(work.jobId);
        }
      } catch (error) {
        if (!isTransient(error)) return this.fail(work, owner, error);
        outages += 1;
        if (outages === 1) {
          this.logger.warn(
            `rotation job ${work.jobId}: batch rolled back (${databaseErrorCodeOf(error)}), retrying`,
          );
        }
        await sleep(backoffMs(outages, OUTAGE_BACKOFF), options.signal);
        continue;
      }
      if (outages > 0) {
        this.logger.log(`rotation job ${work.jobId}: database reachable again after ${outages} attempts`);
      }
      outages = 0;
      if (step.outcome !== 'continue') return step.outcome as PartitionEnd;
      if (batches.reachedEnd) reachedEnd();
      if (view) await options.onProgress?.(view);
    }
    await this.release(work, owner);
    return 'stopped';
  }

  private async step(work: PartitionWork, owner: string, batches: BatchReadAhead): Promise<Step> {
    const batch = await batches.take(work.cursor, work.pass);
    if (batch.scanned === 0) return this.transactions.endPartition(work, owner);
    return this.transactions.commitBatch(work, owner, batch);
  }

  private async view(jobId: number): Promise<RotationJobView | undefined> {
    const job = await this.jobs.findById(jobId);
    return job && toRotationJobView(job);
  }

  /** `ROTATION_RESEAL_THREADS` threads, or this thread when that is 0 or the database is embedded. */
  private newSealer(): RowSealer {
    const threads = this.resealThreads;
    if (threads < 1 || !this.ring.primary) return new InThreadSealer(this.crypto);
    return new ResealPool(this.ring, threads, this.crypto);
  }

  /** Retries `work` while the database is unreachable, until `signal` stops the run. */
  private async resilient<T>(
    on: { jobId: number },
    signal: AbortSignal | undefined,
    work: () => Promise<T>,
  ): Promise<T> {
    for (let outages = 1; ; outages += 1) {
      try {
        return await work();
      } catch (error) {
        if (!isTransient(error) || signal?.aborted) throw error;
        if (outages === 1) {
          this.logger.warn(`rotation job ${on.jobId}: database unreachable (${databaseErrorCodeOf(error)})`);
        }
        await sleep(backoffMs(outages, OUTAGE_BACKOFF), signal);
      }
    }
  }

  /** A failure that retrying cannot fix ends the job for every worker, if this one still runs it. */
  private async fail(work: PartitionWork, owner: string, error: unknown): Promise<PartitionEnd> {
    const code = databaseErrorCodeOf(error);
    this.logger.error(`rotation job ${work.jobId} failed (${code})`);
    try {
      await this.dataSource.transaction(async (manager) => {
        const job = await this.jobs.lockJob(manager, work.jobId);
        const current = await this.jobs.lockPartition(manager, work);
        if (!job || !isActive(job.status) || current?.leaseOwner !== owner) return;
        await this.jobs.finish(manager, job.id, 'failed', code);
      });
    } catch (recordError) {
      this.logger.warn(
        `rotation job ${work.jobId}: could not record the failure (${databaseErrorCodeOf(recordError)})`,
      );
    }
    return 'ended';
  }

  private async release(work: PartitionWork, owner: string): Promise<void> {
    try {
      await this.jobs.release(work, owner);
    } catch (error) {
      this.logger.warn(
        `rotation job ${work.jobId}: lease not released (${databaseErrorCodeOf(error)}); it will expire`,
      );
    }
  }
}
