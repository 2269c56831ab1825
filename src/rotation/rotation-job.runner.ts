import { Inject, Injectable, Logger } from '@nestjs/common';
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
import { isActive, type KeyRotationJob } from './key-rotation-job.entity';
import { InThreadSealer, ResealPool, type RowSealer } from './reseal-pool';
import type { RowCrypto } from './reseal-row';
import { RotationBatchTransactions, type Step } from './rotation-batch.transactions';
import { RotationJobsRepository } from './rotation-jobs.repository';
import { toRotationJobView, type RotationJobView } from './rotation-job.view';
import { backoffMs } from '../common/backoff';
import { sleep } from '../common/sleep';

export interface RunJobOptions {
  /** Called after every committed batch; awaited, so a slow callback slows the job down. */
  onProgress?: (view: RotationJobView) => void | Promise<void>;
  /** Stops at the next batch boundary and gives the lease up; the job stays resumable. */
  signal?: AbortSignal;
}

const OUTAGE_BACKOFF = { firstMs: 1_000, maxMs: 30_000 };

/**
 * Runs one claimed job batch by batch, each in its own transaction (RotationBatchTransactions).
 * While a batch commits, the next one is read and re-sealed, on other cores when there are any;
 * it is written only after, in its own transaction. A database outage only delays the job.
 */
@Injectable()
export class RotationJobRunner {
  private readonly logger = new Logger(RotationJobRunner.name);
  private readonly crypto: RowCrypto;
  private readonly transactions: RotationBatchTransactions;
  private readonly resealThreads: number;

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
    this.transactions = new RotationBatchTransactions(
      dataSource,
      jobs,
      accounts,
      config.leaseSeconds,
      this.logger,
      (manager, targetKeyId) => providerClients.resealSecrets(manager, targetKeyId),
    );
  }

  /** Until the job ends, is cancelled, loses its lease, fails for good, or `signal` stops it. */
  async run(claimed: KeyRotationJob, owner: string, options: RunJobOptions = {}): Promise<KeyRotationJob> {
    const sealer = this.newSealer();
    const batches = new BatchReadAhead(
      (cursor) => this.accounts.offKeyAfter(cursor, claimed.targetKeyId, claimed.batchSize),
      (rows) => sealer.reseal(rows),
    );
    try {
      return await this.loop(claimed, owner, batches, options);
    } finally {
      await batches.close();
      await sealer.close();
    }
  }

  private async loop(
    claimed: KeyRotationJob,
    owner: string,
    batches: BatchReadAhead,
    options: RunJobOptions,
  ): Promise<KeyRotationJob> {
    let job = claimed;
    let outages = 0;
    while (!options.signal?.aborted) {
      let step: Step;
      try {
        step = await this.step(job, owner, batches);
      } catch (error) {
        if (!isTransient(error)) return this.fail(job, owner, error);
        outages += 1;
        if (outages === 1) {
          this.logger.warn(
            `rotation job ${job.id}: batch rolled back (${databaseErrorCodeOf(error)}), retrying`,
          );
        }
        await sleep(backoffMs(outages, OUTAGE_BACKOFF), options.signal);
        continue;
      }
      if (outages > 0) {
        this.logger.log(`rotation job ${job.id}: database reachable again after ${outages} attempts`);
      }
      outages = 0;
      job = step.job;
      if (step.done) return job;
      await options.onProgress?.(toRotationJobView(job));
    }
    return this.release(job, owner);
  }

  private async step(job: KeyRotationJob, owner: string, batches: BatchReadAhead): Promise<Step> {
    const batch = await batches.take(job.cursor, job.pass);
    if (batch.scanned === 0) return this.transactions.endPass(job, owner);
    return this.transactions.commitBatch(job, owner, batch);
  }

  /** `ROTATION_RESEAL_THREADS` threads, or this thread when that is 0 or the database is embedded. */
  private newSealer(): RowSealer {
    const threads = this.resealThreads;
    if (threads < 1 || !this.ring.primary) return new InThreadSealer(this.crypto);
    return new ResealPool(this.ring, threads, this.crypto);
  }

  private async fail(job: KeyRotationJob, owner: string, error: unknown): Promise<KeyRotationJob> {
    const code = databaseErrorCodeOf(error);
    this.logger.error(`rotation job ${job.id} failed (${code})`);
    try {
      return await this.dataSource.transaction(async (manager) => {
        const current = await this.jobs.findById(job.id, manager, true);
        if (!current || current.leaseOwner !== owner || !isActive(current.status)) return current ?? job;
        return this.jobs.finish(manager, current.id, 'failed', code);
      });
    } catch (recordError) {
      this.logger.warn(
        `rotation job ${job.id}: could not record the failure (${databaseErrorCodeOf(recordError)})`,
      );
      return job;
    }
  }

  private async release(job: KeyRotationJob, owner: string): Promise<KeyRotationJob> {
    try {
      return (await this.jobs.release(job.id, owner)) ?? job;
    } catch (error) {
      this.logger.warn(
        `rotation job ${job.id}: lease not released (${databaseErrorCodeOf(error)}); it will expire`,
      );
      return job;
    }
  }
}
