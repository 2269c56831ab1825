import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import {
  ACTIVE_STATUSES_SQL,
  type KeyRotationJob,
  type PartitionWork,
  type RotationFailure,
  type RotationJobRecord,
  type RotationPartition,
  type RotationStatus,
} from './key-rotation-job.entity';
import { queryRows } from '../database/query-rows';

const JOB_COLUMNS = `j.id, j.status, j.dry_run AS "dryRun", j.batch_size AS "batchSize",
  j.target_key_id AS "targetKeyId", j.pass, j.total_estimate AS "totalEstimate",
  j.requested_by AS "requestedBy", j.last_error_code AS "lastErrorCode", j.created_at AS "createdAt",
  j.started_at AS "startedAt", j.finished_at AS "finishedAt", j.updated_at AS "updatedAt"`;

const PARTITION_COLUMNS = `p.job_id AS "jobId", p.part, p.after_id AS "afterId", p.through_id AS "throughId",
  p.pass, p.cursor, p.done, p.lease_owner AS "leaseOwner", p.lease_expires_at AS "leaseExpiresAt",
  p.scanned, p.rotated, p.skipped, p.failed`;

/** What a partition's worker needs of its job `j`, besides its status. */
const JOB_WORK_COLUMNS = `j.dry_run AS "dryRun", j.batch_size AS "batchSize", j.target_key_id AS "targetKeyId"`;

/** A partition `p` with what its worker needs of the job `j`. */
const WORK_COLUMNS = `${PARTITION_COLUMNS}, j.status, ${JOB_WORK_COLUMNS}`;

/** Keeps the view's failure list a bounded sample; the failures table has them all. */
export const FAILURE_SAMPLE_SIZE = 100;

/**
 * A job with its partitions summed up: the only place its counts exist. The lease shown is the
 * one ending last among the open partitions (none once the job ended); the failures, a sample.
 */
const JOB_RECORD = `
  SELECT ${JOB_COLUMNS}, t.scanned, t.rotated, t.skipped, t.failed, t.cursor,
         CASE WHEN j.status IN ${ACTIVE_STATUSES_SQL} THEN t.lease_owner END AS "leaseOwner",
         CASE WHEN j.status IN ${ACTIVE_STATUSES_SQL} THEN t.lease_expires_at END AS "leaseExpiresAt",
         jsonb_build_object('total', t.total, 'done', t.done,
           'workers', CASE WHEN j.status IN ${ACTIVE_STATUSES_SQL} THEN t.workers ELSE '{}' END) AS partitions,
         s.failures
    FROM key_rotation_jobs j
   CROSS JOIN LATERAL (
     SELECT count(*)::int AS total, count(*) FILTER (WHERE p.done)::int AS done,
            COALESCE(sum(p.scanned), 0)::int AS scanned, COALESCE(sum(p.rotated), 0)::int AS rotated,
            COALESCE(sum(p.skipped), 0)::int AS skipped, COALESCE(sum(p.failed), 0)::int AS failed,
            COALESCE(min(p.cursor) FILTER (WHERE NOT p.done), max(p.cursor), 0) AS cursor,
            (array_agg(p.lease_owner ORDER BY p.lease_expires_at DESC)
               FILTER (WHERE NOT p.done AND p.lease_owner IS NOT NULL))[1] AS lease_owner,
            max(p.lease_expires_at) FILTER (WHERE NOT p.done AND p.lease_owner IS NOT NULL) AS lease_expires_at,
            COALESCE(array_agg(DISTINCT p.lease_owner)
               FILTER (WHERE NOT p.done AND p.lease_expires_at > now()), '{}') AS workers
       FROM key_rotation_partitions p WHERE p.job_id = j.id) AS t
   CROSS JOIN LATERAL (
     SELECT COALESCE(jsonb_agg(jsonb_build_object('accountId', f.account_id, 'reason', f.reason_code)
                               ORDER BY f.account_id), '[]'::jsonb) AS failures
       FROM (SELECT account_id, reason_code FROM key_rotation_job_failures
              WHERE job_id = j.id ORDER BY account_id LIMIT ${FAILURE_SAMPLE_SIZE}) AS f) AS s`;

/** SQL for the end of a lease that starts now; `parameter` holds its length in seconds. */
const leaseUntil = (parameter: string) => `now() + make_interval(secs => ${parameter}::int)`;

export interface NewJob {
  dryRun: boolean;
  batchSize: number;
  targetKeyId: string;
  totalEstimate: number;
  requestedBy: string;
}

/** One partition's range of account ids: (afterId, throughId], unbounded when throughId is null. */
export interface PartitionRange {
  afterId: number;
  throughId: number | null;
}

export interface BatchProgress {
  cursor: number;
  scanned: number;
  rotated: number;
  skipped: number;
  newFailures: RotationFailure[];
}

/** All SQL over key_rotation_jobs, key_rotation_partitions and key_rotation_job_failures. */
@Injectable()
export class RotationJobsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The job and its partitions; throws the unique violation of ux_key_rotation_jobs_one_active when a job is active. */
  insert(job: NewJob, ranges: PartitionRange[]): Promise<RotationJobRecord> {
    return this.dataSource.transaction(async (manager) => {
      const [{ id }] = await queryRows<{ id: number }>(
        manager,
        `INSERT INTO key_rotation_jobs (status, dry_run, batch_size, target_key_id, total_estimate, requested_by)
         VALUES ('pending', $1, $2, $3, $4, $5) RETURNING id`,
        [job.dryRun, job.batchSize, job.targetKeyId, job.totalEstimate, job.requestedBy],
      );
      await queryRows(
        manager,
        `INSERT INTO key_rotation_partitions (job_id, part, after_id, through_id, cursor)
         SELECT $1, r.part - 1, r.after_id, r.through_id, r.after_id
           FROM unnest($2::int[], $3::int[]) WITH ORDINALITY AS r(after_id, through_id, part)`,
        [id, ranges.map((range) => range.afterId), ranges.map((range) => range.throughId)],
      );
      return (await this.findById(id, manager)) as RotationJobRecord;
    });
  }

  async findById(id: number, manager = this.dataSource.manager): Promise<RotationJobRecord | undefined> {
    const [job] = await queryRows<RotationJobRecord>(manager, `${JOB_RECORD} WHERE j.id = $1`, [id]);
    return job;
  }

  /** The job's own row, locked for the rest of the manager's transaction. */
  async lockJob(manager: EntityManager, id: number): Promise<KeyRotationJob | undefined> {
    const [job] = await queryRows<KeyRotationJob>(
      manager,
      `SELECT ${JOB_COLUMNS} FROM key_rotation_jobs j WHERE j.id = $1 FOR UPDATE`,
      [id],
    );
    return job;
  }

  async findActive(): Promise<RotationJobRecord | undefined> {
    const [job] = await queryRows<RotationJobRecord>(
      this.dataSource.manager,
      `${JOB_RECORD} WHERE j.status IN ${ACTIVE_STATUSES_SQL} LIMIT 1`,
    );
    return job;
  }

  async list(limit: number): Promise<RotationJobRecord[]> {
    return queryRows(this.dataSource.manager, `${JOB_RECORD} ORDER BY j.id DESC LIMIT $1`, [limit]);
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
   * The one atomic claim: leases the first open partition of the active job (or of the given
   * one) that nobody holds or whose lease expired, only for a worker whose primary key is the
   * job's target; a pending job becomes running. A partition being written is skipped: its
   * holder is alive. The job row is only written while it is pending, so no claim waits on it.
   */
  async claimPartition(
    owner: string,
    targetKeyId: string,
    leaseSeconds: number,
    jobId?: number,
  ): Promise<PartitionWork | undefined> {
    const [work] = await queryRows<PartitionWork>(
      this.dataSource.manager,
      `WITH free AS (
         SELECT p.job_id, p.part FROM key_rotation_partitions p
           JOIN key_rotation_jobs j ON j.id = p.job_id
          WHERE j.status IN ${ACTIVE_STATUSES_SQL} AND j.target_key_id = $2
            AND ($4::int IS NULL OR j.id = $4::int)
            AND NOT p.done AND (p.lease_owner IS NULL OR p.lease_expires_at < now())
          ORDER BY p.job_id, p.part
          LIMIT 1
            FOR NO KEY UPDATE OF p SKIP LOCKED
       ), leased AS (
         UPDATE key_rotation_partitions p
            SET lease_owner = $1, lease_expires_at = ${leaseUntil('$3')}, updated_at = now()
           FROM free WHERE p.job_id = free.job_id AND p.part = free.part
         RETURNING p.*
       ), started AS (
         UPDATE key_rotation_jobs j
            SET status = 'running', started_at = COALESCE(j.started_at, now()), updated_at = now()
           FROM leased WHERE j.id = leased.job_id AND j.status = 'pending'
         RETURNING j.id
       )
       SELECT ${PARTITION_COLUMNS}, ${JOB_WORK_COLUMNS},
              CASE WHEN started.id IS NULL THEN j.status ELSE 'running' END AS status
         FROM leased p
         JOIN key_rotation_jobs j ON j.id = p.job_id
         LEFT JOIN started ON started.id = p.job_id`,
      [owner, targetKeyId, leaseSeconds, jobId ?? null],
    );
    return work;
  }

  /** The partition and its job's state, the partition locked for the rest of the transaction. */
  async lockPartition(manager: EntityManager, work: RotationPartition): Promise<PartitionWork | undefined> {
    const [current] = await queryRows<PartitionWork>(
      manager,
      `SELECT ${WORK_COLUMNS} FROM key_rotation_partitions p JOIN key_rotation_jobs j ON j.id = p.job_id
        WHERE p.job_id = $1 AND p.part = $2 FOR UPDATE OF p`,
      [work.jobId, work.part],
    );
    return current;
  }

  /** Advances the cursor and counts and renews the lease, in the batch's transaction. */
  async advance(
    manager: EntityManager,
    work: PartitionWork,
    progress: BatchProgress,
    leaseSeconds: number,
  ): Promise<PartitionWork> {
    const [advanced] = await queryRows<RotationPartition>(
      manager,
      `UPDATE key_rotation_partitions p
          SET cursor = $3, scanned = scanned + $4, rotated = rotated + $5, skipped = skipped + $6,
              failed = failed + $7, lease_expires_at = ${leaseUntil('$8')}, updated_at = now()
        WHERE job_id = $1 AND part = $2 RETURNING ${PARTITION_COLUMNS}`,
      [
        work.jobId,
        work.part,
        progress.cursor,
        progress.scanned,
        progress.rotated,
        progress.skipped,
        progress.newFailures.length,
        leaseSeconds,
      ],
    );
    return { ...work, ...advanced };
  }

  /** Every account of the partition was read in this pass: done, and its lease given up. */
  async endPartition(manager: EntityManager, work: PartitionWork): Promise<void> {
    await queryRows(
      manager,
      `UPDATE key_rotation_partitions
          SET done = true, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE job_id = $1 AND part = $2`,
      [work.jobId, work.part],
    );
  }

  async openPartitions(manager: EntityManager, jobId: number): Promise<number> {
    const [{ open }] = await queryRows<{ open: number }>(
      manager,
      `SELECT count(*)::int AS open FROM key_rotation_partitions WHERE job_id = $1 AND NOT done`,
      [jobId],
    );
    return open;
  }

  /** Every partition starts over from its first account, free for any worker. */
  async startNextPass(manager: EntityManager, jobId: number, remaining: number): Promise<void> {
    await queryRows(
      manager,
      `UPDATE key_rotation_jobs
          SET pass = pass + 1, total_estimate = total_estimate + $2, updated_at = now()
        WHERE id = $1`,
      [jobId, remaining],
    );
    await queryRows(
      manager,
      `UPDATE key_rotation_partitions
          SET pass = pass + 1, cursor = after_id, done = false, lease_owner = NULL,
              lease_expires_at = NULL, updated_at = now()
        WHERE job_id = $1`,
      [jobId],
    );
  }

  /**
   * Ends the job, if it has not ended yet; an error code already recorded is kept when none is
   * given. Only the job row is written: leases on the partitions of an ended job hold nothing,
   * and are not shown.
   */
  async finish(manager: EntityManager, jobId: number, status: RotationStatus, errorCode?: string) {
    await queryRows(
      manager,
      `UPDATE key_rotation_jobs
          SET status = $2, finished_at = now(), last_error_code = COALESCE($3, last_error_code),
              updated_at = now()
        WHERE id = $1 AND status IN ${ACTIVE_STATUSES_SQL}`,
      [jobId, status, errorCode ?? null],
    );
  }

  async markCancelling(manager: EntityManager, jobId: number): Promise<void> {
    await queryRows(
      manager,
      `UPDATE key_rotation_jobs SET status = 'cancelling', updated_at = now() WHERE id = $1`,
      [jobId],
    );
  }

  /** True while a worker's lease on an open partition has not ended, by the database's clock. */
  async hasLiveLease(manager: EntityManager, jobId: number): Promise<boolean> {
    const rows = await queryRows(
      manager,
      `SELECT 1 FROM key_rotation_partitions
        WHERE job_id = $1 AND NOT done AND lease_owner IS NOT NULL AND lease_expires_at > now() LIMIT 1`,
      [jobId],
    );
    return rows.length > 0;
  }

  /** Gives the lease up so another worker can resume at once; a no-op if it was lost meanwhile. */
  async release(work: RotationPartition, owner: string): Promise<void> {
    await queryRows(
      this.dataSource.manager,
      `UPDATE key_rotation_partitions SET lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE job_id = $1 AND part = $2 AND lease_owner = $3`,
      [work.jobId, work.part, owner],
    );
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
