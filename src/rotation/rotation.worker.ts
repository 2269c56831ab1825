import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { rotationConfig } from '../config/configuration';
import { KeyRing } from '../crypto/key-ring';
import { databaseErrorCodeOf } from '../common/database-errors';
import { isActive, type PartitionWork, type RotationJobRecord } from './key-rotation-job.entity';
import { RotationJobRunner, type RunJobOptions } from './rotation-job.runner';
import { RotationJobsRepository } from './rotation-jobs.repository';
import { toRotationJobView, type RotationJobView } from './rotation-job.view';
import {
  RotationLeaseHeldError,
  RotationNotFoundError,
  RotationPrimaryKeyMissingError,
  RotationTargetKeyMismatchError,
} from './rotation.errors';
import { sleep } from '../common/sleep';

/** How often a foreground run that has no partition left looks at the job and for free partitions. */
const FOLLOW_MS = 250;

/**
 * Runs rotation jobs, a partition at a time: in the background on every server instance
 * (polling for a partition nobody holds or whose lease expired), or in the foreground for the
 * CLI. Several workers run one job side by side, each on its own partitions. Only an instance
 * whose primary key is the job's target claims it, so one still on the old configuration never does.
 */
@Injectable()
export class RotationWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** This worker's name in `lease_owner`; the random part tells apart two instances in one process. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly logger = new Logger(RotationWorker.name);
  private readonly stopping = new AbortController();
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly jobs: RotationJobsRepository,
    private readonly runner: RotationJobRunner,
    private readonly ring: KeyRing,
    @Inject(rotationConfig.KEY) private readonly config: ConfigType<typeof rotationConfig>,
  ) {}

  onApplicationBootstrap(): void {
    // A registry-managed ring gains its primary at run time, so its loop starts without one.
    const sealing = this.ring.primaryKeyId !== undefined || this.ring.managed;
    // The loop reports and retries its own errors; shutdown awaits it through `running`.
    if (this.config.workerEnabled && sealing) void this.track(this.pollLoop());
  }

  /** Stops at the current batch boundary and releases the lease, while the database is still open. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.running);
  }

  /**
   * Runs a job in the foreground, with any other worker on it, until it ends and returns its
   * final view; a job already finished is returned as is. Throws ROTATION_LEASE_HELD when other
   * live workers hold every partition left to run.
   */
  async runJob(jobId: number, options: RunJobOptions = {}): Promise<RotationJobView> {
    const primaryKeyId = this.ring.primaryKeyId;
    if (!primaryKeyId) throw new RotationPrimaryKeyMissingError();
    const claimed = await this.claim(primaryKeyId, jobId);
    if (!claimed) return toRotationJobView(await this.unclaimable(jobId, primaryKeyId));
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.stopping.signal])
      : this.stopping.signal;
    const run = { ...options, signal };
    return toRotationJobView(await this.track(this.runToEnd(claimed, primaryKeyId, run)));
  }

  /**
   * Runs partitions while there are free ones, then follows the job while others run the rest,
   * taking over a partition whose worker stopped renewing its lease.
   */
  private async runToEnd(
    claimed: PartitionWork,
    primaryKeyId: string,
    options: RunJobOptions & { signal: AbortSignal },
  ): Promise<RotationJobRecord> {
    let job = await this.runner.run(claimed, this.owner, options);
    const follow = Math.min(FOLLOW_MS, this.config.pollSeconds * 1000);
    while (isActive(job.status) && !options.signal.aborted) {
      await sleep(follow, options.signal);
      const next = await this.claim(primaryKeyId, job.id).catch((error: unknown) => {
        this.logger.warn(
          `rotation job ${job.id}: cannot look for a partition (${databaseErrorCodeOf(error)})`,
        );
        return undefined;
      });
      const seen = next
        ? this.runner.run(next, this.owner, options)
        : this.runner.current(job.id, options.signal);
      const previous = job;
      job = await seen;
      if (job.scanned !== previous.scanned || job.status !== previous.status) {
        await options.onProgress?.(toRotationJobView(job));
      }
    }
    return job;
  }

  private claim(primaryKeyId: string, jobId?: number): Promise<PartitionWork | undefined> {
    return this.jobs.claimPartition(this.owner, primaryKeyId, this.config.leaseSeconds, jobId);
  }

  private async unclaimable(jobId: number, primaryKeyId: string): Promise<RotationJobRecord> {
    const job = await this.jobs.findById(jobId);
    if (!job) throw new RotationNotFoundError(jobId);
    if (!isActive(job.status)) return job;
    if (job.targetKeyId !== primaryKeyId) {
      throw new RotationTargetKeyMismatchError(jobId, job.targetKeyId, primaryKeyId);
    }
    throw new RotationLeaseHeldError(jobId, job.leaseOwner, job.leaseExpiresAt);
  }

  private async pollLoop(): Promise<void> {
    const signal = this.stopping.signal;
    let failing = false;
    while (!signal.aborted) {
      try {
        const primaryKeyId = this.ring.primaryKeyId;
        const claimed = primaryKeyId && (await this.claim(primaryKeyId));
        failing = false;
        if (claimed) await this.runInBackground(claimed, signal);
      } catch (error) {
        if (!failing) {
          this.logger.warn(
            `rotation worker cannot poll for jobs (${databaseErrorCodeOf(error)}), will retry`,
          );
        }
        failing = true;
      }
      await sleep(this.config.pollSeconds * 1000, signal);
    }
  }

  private async runInBackground(claimed: PartitionWork, signal: AbortSignal): Promise<void> {
    const { jobId, part, pass, cursor } = claimed;
    const verb = cursor > claimed.afterId || pass > 1 ? 'resuming' : 'starting';
    this.logger.log(
      `rotation job ${jobId}: ${verb} partition ${part} at pass ${pass}, after account ${cursor}`,
    );
    const job = await this.runner.run(claimed, this.owner, { signal });
    if (isActive(job.status)) return;
    this.logger.log(
      `rotation job ${job.id}: ${job.status}; scanned ${job.scanned}, rotated ${job.rotated}, ` +
        `skipped ${job.skipped}, failed ${job.failed}`,
    );
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    const forget = () => this.running.delete(work);
    work.then(forget, forget);
    return work;
  }
}
