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
import { isActive, type KeyRotationJob } from './key-rotation-job.entity';
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

/**
 * Runs rotation jobs: in the background on every server instance (polling for a pending job or
 * one whose lease expired), or in the foreground for the CLI. Only an instance whose primary key
 * is the job's target claims it, so an instance still on the old configuration never does.
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
   * Runs a job in the foreground until it ends and returns its final view; a job already
   * finished is returned as is. Throws ROTATION_LEASE_HELD while another worker's lease is live.
   */
  async runJob(jobId: number, options: RunJobOptions = {}): Promise<RotationJobView> {
    const primaryKeyId = this.ring.primaryKeyId;
    if (!primaryKeyId) throw new RotationPrimaryKeyMissingError();
    const claimed = await this.jobs.claim(this.owner, primaryKeyId, this.config.leaseSeconds, jobId);
    if (!claimed) return toRotationJobView(await this.unclaimable(jobId, primaryKeyId));
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.stopping.signal])
      : this.stopping.signal;
    return toRotationJobView(await this.track(this.runner.run(claimed, this.owner, { ...options, signal })));
  }

  private async unclaimable(jobId: number, primaryKeyId: string): Promise<KeyRotationJob> {
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
        const job =
          primaryKeyId && (await this.jobs.claim(this.owner, primaryKeyId, this.config.leaseSeconds));
        failing = false;
        if (job) await this.runInBackground(job, signal);
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

  private async runInBackground(job: KeyRotationJob, signal: AbortSignal): Promise<void> {
    const verb = job.scanned > 0 || job.pass > 1 ? 'resuming' : 'starting';
    this.logger.log(`rotation job ${job.id}: ${verb} at pass ${job.pass}, after account ${job.cursor}`);
    const final = await this.runner.run(job, this.owner, { signal });
    this.logger.log(
      `rotation job ${final.id}: ${final.status}; scanned ${final.scanned}, rotated ${final.rotated}, ` +
        `skipped ${final.skipped}, failed ${final.failed}`,
    );
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    const forget = () => this.running.delete(work);
    work.then(forget, forget);
    return work;
  }
}
