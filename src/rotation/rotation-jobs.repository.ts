import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import {
  ACTIVE_STATUSES_SQL,
  type KeyRotationJob,
  type RotationFailure,
  type RotationStatus,
} from './key-rotation-job.entity';
import { queryRows } from '../database/query-rows';

const JOB_COLUMNS = `id, status, dry_run AS "dryRun", batch_size AS "batchSize", target_key_id AS "targetKeyId",
  cursor, pass, total_estimate AS "totalEstimate", scanned, rotated, skipped, failed, failures,
  lease_owner AS "leaseOwner", lease_expires_at AS "leaseExpiresAt", requested_by AS "requestedBy",
  last_error_code AS "lastErrorCode", created_at AS "createdAt", started_at AS "startedAt",
  finished_at AS "finishedAt", updated_at AS "updatedAt"`;

/** SQL for the end of a lease that starts now; `parameter` holds its length in seconds. */
const leaseUntil = (parameter: string) => `now() + make_interval(secs => ${parameter}::int)`;

export interface NewJob {
  dryRun: boolean;
  batchSize: number;
  targetKeyId: string;
  totalEstimate: number;
  requestedBy: string;
}

export interface BatchProgress {
  cursor: number;
  scanned: number;
  rotated: number;
  skipped: number;
  newFailures: RotationFailure[];
}

/** Keeps the job row's failure list a bounded sample; the failures table has them all. */
export const FAILURE_SAMPLE_SIZE = 100;

/** All SQL over key_rotation_jobs and key_rotation_job_failures. */
@Injectable()
export class RotationJobsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Throws the unique violation of ux_key_rotation_jobs_one_active when a job is active. */
  async insert(job: NewJob): Promise<KeyRotationJob> {
    const [created] = await queryRows<KeyRotationJob>(
      this.dataSource.manager,
      `INSERT INTO key_rotation_jobs (status, dry_run, batch_size, target_key_id, total_estimate, requested_by)
       VALUES ('pending', $1, $2, $3, $4, $5) RETURNING ${JOB_COLUMNS}`,
      [job.dryRun, job.batchSize, job.targetKeyId, job.totalEstimate, job.requestedBy],
    );
    return created;
  }

  async findById(
    id: number,
    manager = this.dataSource.manager,
    lock = false,
  ): Promise<KeyRotationJob | undefined> {
    const sql = `SELECT ${JOB_COLUMNS} FROM key_rotation_jobs WHERE id = $1${lock ? ' FOR UPDATE' : ''}`;
    const [job] = await queryRows<KeyRotationJob>(manager, sql, [id]);
    return job;
  }

  async findActive(): Promise<KeyRotationJob | undefined> {
    const [job] = await queryRows<KeyRotationJob>(
      this.dataSource.manager,
      `SELECT ${JOB_COLUMNS} FROM key_rotation_jobs WHERE status IN ${ACTIVE_STATUSES_SQL} LIMIT 1`,
    );
    return job;
  }

  async list(limit: number): Promise<KeyRotationJob[]> {
    return queryRows(
      this.dataSource.manager,
      `SELECT ${JOB_COLUMNS} FROM key_rotation_jobs ORDER BY id DESC LIMIT $1`,
      [limit],
    );
  }

  async failuresOf(jobId: number, limit: number): Promise<RotationFailure[]> {
    return queryRows(
      this.dataSource.manager,
      `SELECT account_id AS "accountId", reason_code AS "reason" FROM key_rotation_job_failures
        WHERE job_id = $1 ORDER BY account_id LIMIT $2`,
      [jobId, limit],
    );
  }

  /**
   * The one atomic claim: takes the active job (or the given one) when nobody holds its lease or
   * the lease expired, and only for a worker whose primary key is the job's target.
   */
  async claim(
    owner: string,
    targetKeyId: string,
    leaseSeconds: number,
    jobId?: number,
  ): Promise<KeyRotationJob | undefined> {
    const [job] = await queryRows<KeyRotationJob>(
      this.dataSource.manager,
      `UPDATE key_rotation_jobs
          SET status = CASE WHEN status = 'pending' THEN 'running' ELSE status END,
              lease_owner = $1, lease_expires_at = ${leaseUntil('$3')},
              started_at = COALESCE(started_at, now()), updated_at = now()
        WHERE status IN ${ACTIVE_STATUSES_SQL} AND target_key_id = $2
          AND (lease_owner IS NULL OR lease_expires_at < now())
          AND ($4::int IS NULL OR id = $4::int)
        RETURNING ${JOB_COLUMNS}`,
      [owner, targetKeyId, leaseSeconds, jobId ?? null],
    );
    return job;
  }

  /** Advances the cursor and counts and renews the lease, in the batch's transaction. */
  async advance(manager: EntityManager, job: KeyRotationJob, progress: BatchProgress, leaseSeconds: number) {
    const room = Math.max(0, FAILURE_SAMPLE_SIZE - job.failures.length);
    const sample = [...job.failures, ...progress.newFailures.slice(0, room)];
    const [advanced] = await queryRows<KeyRotationJob>(
      manager,
      `UPDATE key_rotation_jobs
          SET cursor = $2, scanned = scanned + $3, rotated = rotated + $4, skipped = skipped + $5,
              failed = failed + $6, failures = $7::jsonb, lease_expires_at = ${leaseUntil('$8')},
              updated_at = now()
        WHERE id = $1 RETURNING ${JOB_COLUMNS}`,
      [
        job.id,
        progress.cursor,
        progress.scanned,
        progress.rotated,
        progress.skipped,
        progress.newFailures.length,
        JSON.stringify(sample),
        leaseSeconds,
      ],
    );
    return advanced;
  }

  async startNextPass(manager: EntityManager, jobId: number, remaining: number, leaseSeconds: number) {
    const [job] = await queryRows<KeyRotationJob>(
      manager,
      `UPDATE key_rotation_jobs
          SET cursor = 0, pass = pass + 1, total_estimate = total_estimate + $2,
              lease_expires_at = ${leaseUntil('$3')}, updated_at = now()
        WHERE id = $1 RETURNING ${JOB_COLUMNS}`,
      [jobId, remaining, leaseSeconds],
    );
    return job;
  }

  /** Ends the job and gives up its lease; an error code already recorded is kept when none is given. */
  async finish(manager: EntityManager, jobId: number, status: RotationStatus, errorCode?: string) {
    const [job] = await queryRows<KeyRotationJob>(
      manager,
      `UPDATE key_rotation_jobs
          SET status = $2, finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
              last_error_code = COALESCE($3, last_error_code), updated_at = now()
        WHERE id = $1 RETURNING ${JOB_COLUMNS}`,
      [jobId, status, errorCode ?? null],
    );
    return job;
  }

  async markCancelling(manager: EntityManager, jobId: number): Promise<KeyRotationJob> {
    const [job] = await queryRows<KeyRotationJob>(
      manager,
      `UPDATE key_rotation_jobs SET status = 'cancelling', updated_at = now() WHERE id = $1 RETURNING ${JOB_COLUMNS}`,
      [jobId],
    );
    return job;
  }

  /** Gives the lease up so another instance can resume at once; a no-op if it was lost meanwhile. */
  async release(jobId: number, owner: string): Promise<KeyRotationJob | undefined> {
    const [job] = await queryRows<KeyRotationJob>(
      this.dataSource.manager,
      `UPDATE key_rotation_jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id = $1 AND lease_owner = $2 RETURNING ${JOB_COLUMNS}`,
      [jobId, owner],
    );
    return job;
  }

  /** Records failures; returns only the accounts not recorded for this job before. */
  async recordFailures(
    manager: EntityManager,
    jobId: number,
    failures: RotationFailure[],
  ): Promise<RotationFailure[]> {
    if (failures.length === 0) return [];
    return queryRows(
      manager,
      `INSERT INTO key_rotation_job_failures (job_id, account_id, reason_code)
       SELECT $1, f.account_id, f.reason_code FROM unnest($2::int[], $3::text[]) AS f(account_id, reason_code)
       ON CONFLICT (job_id, account_id) DO NOTHING
       RETURNING account_id AS "accountId", reason_code AS "reason"`,
      [jobId, failures.map((failure) => failure.accountId), failures.map((failure) => failure.reason)],
    );
  }
}
