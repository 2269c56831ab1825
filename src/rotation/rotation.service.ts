import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { rotationConfig } from '../config/configuration';
import { ExternalAccountsRepository } from '../connectors/external-accounts.repository';
import { KeyRing } from '../crypto/key-ring';
import {
  BATCH_SIZE_LIMITS,
  isActive,
  type RotationFailure,
  type RotationJobRecord,
} from './key-rotation-job.entity';
import { planPartitions } from './partition-plan';
import { RotationJobsRepository } from './rotation-jobs.repository';
import { toRotationJobView, type RotationJobView } from './rotation-job.view';
import {
  RotationAlreadyActiveError,
  RotationInvalidRequestError,
  RotationNotCancellableError,
  RotationNotFoundError,
  RotationPrimaryKeyMissingError,
} from './rotation.errors';
import { constraintOf } from '../common/database-errors';

export interface StartRotationRequest {
  dryRun?: boolean;
  batchSize?: number;
  /** Who asked: an admin token fingerprint, `cli:<user>@<host>`...; never a secret. */
  requestedBy: string;
}

const ONE_ACTIVE_JOB_INDEX = 'ux_key_rotation_jobs_one_active';
const MAX_LIST_LIMIT = 100;

/** The rotation API the admin routes and the CLI call: start, watch and cancel jobs. */
@Injectable()
export class RotationService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly ring: KeyRing,
    private readonly jobs: RotationJobsRepository,
    private readonly accounts: ExternalAccountsRepository,
    @Inject(rotationConfig.KEY) private readonly config: ConfigType<typeof rotationConfig>,
  ) {}

  /**
   * Creates a pending job, its accounts split by id into partitions of about
   * ROTATION_PARTITION_SIZE accounts that background workers and `runJob` run side by side.
   * One active job at a time.
   */
  async startRotation(request: StartRotationRequest): Promise<RotationJobView> {
    const targetKeyId = this.ring.primaryKeyId;
    if (!targetKeyId) throw new RotationPrimaryKeyMissingError();
    const batchSize = request.batchSize ?? this.config.batchSize;
    const { min, max } = BATCH_SIZE_LIMITS;
    if (!Number.isInteger(batchSize) || batchSize < min || batchSize > max) {
      throw new RotationInvalidRequestError('batchSize', `must be an integer between ${min} and ${max}`);
    }
    const requestedBy = request.requestedBy?.trim();
    if (!requestedBy || requestedBy.length > 200) {
      throw new RotationInvalidRequestError('requestedBy', 'must be 1 to 200 characters');
    }
    const totalEstimate = await this.accounts.countOffKey(targetKeyId);
    const partitions = planPartitions(
      totalEstimate,
      await this.accounts.idRange(),
      this.config.partitionSize,
    );
    try {
      const dryRun = request.dryRun === true;
      return toRotationJobView(
        await this.jobs.insert({ dryRun, batchSize, targetKeyId, totalEstimate, requestedBy }, partitions),
      );
    } catch (error) {
      if (constraintOf(error) !== ONE_ACTIVE_JOB_INDEX) throw error;
      throw new RotationAlreadyActiveError((await this.jobs.findActive())?.id);
    }
  }

  async getJob(id: number): Promise<RotationJobView> {
    const job = await this.jobs.findById(id);
    if (!job) throw new RotationNotFoundError(id);
    return toRotationJobView(job);
  }

  /** Newest first. */
  async listJobs(limit = 20): Promise<RotationJobView[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new RotationInvalidRequestError('limit', `must be an integer between 1 and ${MAX_LIST_LIMIT}`);
    }
    const now = new Date();
    return (await this.jobs.list(limit)).map((job) => toRotationJobView(job, now));
  }

  async findActiveJob(): Promise<RotationJobView | null> {
    const job = await this.jobs.findActive();
    return job ? toRotationJobView(job) : null;
  }

  /** Every failed account of a job (the view holds a sample), by account id. */
  async listFailures(id: number, limit = 1000): Promise<RotationFailure[]> {
    if (!(await this.jobs.findById(id))) throw new RotationNotFoundError(id);
    return this.jobs.failuresOf(id, limit);
  }

  /**
   * Pending, or running without a live lease on any partition: cancelled at once. Running under a
   * live lease: `cancelling`, and the first worker to reach a batch boundary ends it; the others
   * stop at theirs. Cancelling again is harmless.
   */
  async cancelJob(id: number): Promise<RotationJobView> {
    const job = await this.dataSource.transaction(async (manager) => {
      const current = await this.jobs.lockJob(manager, id);
      if (!current) throw new RotationNotFoundError(id);
      if (!isActive(current.status)) throw new RotationNotCancellableError(id, current.status);
      // Judged by the database's clock: a worker whose lease ended stops at its next batch anyway.
      if (current.status === 'pending' || !(await this.jobs.hasLiveLease(manager, id))) {
        await this.jobs.finish(manager, id, 'cancelled');
      } else if (current.status === 'running') {
        await this.jobs.markCancelling(manager, id);
      }
      return this.jobs.findById(id, manager);
    });
    return toRotationJobView(job as RotationJobRecord);
  }
}
