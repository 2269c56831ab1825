import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export const ROTATION_STATUSES = [
  'pending',
  'running',
  'cancelling',
  'cancelled',
  'completed',
  'completed_with_errors',
  'failed',
] as const;

export type RotationStatus = (typeof ROTATION_STATUSES)[number];

/** A job in one of these holds the one-active-job slot (ux_key_rotation_jobs_one_active). */
export const ACTIVE_STATUSES: readonly RotationStatus[] = ['pending', 'running', 'cancelling'];

/** The same list as SQL, for the queries that must agree with the partial unique index. */
export const ACTIVE_STATUSES_SQL = `(${ACTIVE_STATUSES.map((status) => `'${status}'`).join(', ')})`;

export function isActive(status: RotationStatus): boolean {
  return ACTIVE_STATUSES.includes(status);
}

/** Accounts per batch a job may ask for: the admin route, the CLI and the service check it. */
export const BATCH_SIZE_LIMITS = { min: 1, max: 10000 } as const;

/** One failed account of a job: its id and a reason code, never a token or envelope. */
export interface RotationFailure {
  accountId: number;
  reason: string;
}

/** Who holds a lease, and until when (the database's clock). */
export interface Lease {
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
}

/**
 * One range of a job's accounts: ids in (afterId, throughId], the last partition unbounded, with
 * its own cursor, counts and lease. Any worker may lease a partition that is not done and that
 * nobody holds (or whose lease expired).
 */
export interface RotationPartition extends Lease {
  jobId: number;
  part: number;
  afterId: number;
  /** Null for the last partition: it also takes accounts created after the job started. */
  throughId: number | null;
  pass: number;
  /** Id of the last account processed in this pass. */
  cursor: number;
  /** Done for this pass: every account of its range was read. */
  done: boolean;
  scanned: number;
  rotated: number;
  skipped: number;
  failed: number;
}

/** What a worker running a partition needs of its job. */
export interface PartitionWork extends RotationPartition {
  status: RotationStatus;
  dryRun: boolean;
  batchSize: number;
  targetKeyId: string;
}

/** The partitions of a job at a glance: how many, how many done, who runs the others. */
export interface PartitionSummary {
  total: number;
  done: number;
  /** Owners of the live leases on partitions not done yet. */
  workers: string[];
}

/**
 * A job as the API reports it: its row, and what its partitions add up to. `cursor` is the low
 * water mark (every account at or below it was read in this pass); the lease is the one that
 * ends last among the partitions still open; the failures a sample of the failures table.
 */
export interface RotationJobRecord extends Lease {
  id: number;
  status: RotationStatus;
  dryRun: boolean;
  batchSize: number;
  targetKeyId: string;
  cursor: number;
  pass: number;
  totalEstimate: number;
  scanned: number;
  rotated: number;
  skipped: number;
  failed: number;
  failures: RotationFailure[];
  partitions: PartitionSummary;
  requestedBy: string;
  lastErrorCode: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
}

/**
 * A key rotation job's row: what is one per job. Its accounts are split into partitions
 * (`key_rotation_partitions`, RotationPartition); written with SQL by RotationJobsRepository,
 * mapped here for metadata.
 */
@Entity({ name: 'key_rotation_jobs' })
export class KeyRotationJob {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id: number;

  @Column({ type: 'varchar', length: 32 })
  status: RotationStatus;

  @Column({ name: 'dry_run', type: 'boolean' })
  dryRun: boolean;

  @Column({ name: 'batch_size', type: 'integer' })
  batchSize: number;

  @Column({ name: 'target_key_id', type: 'varchar', length: 32 })
  targetKeyId: string;

  @Column({ type: 'integer' })
  pass: number;

  @Column({ name: 'total_estimate', type: 'integer' })
  totalEstimate: number;

  @Column({ name: 'requested_by', type: 'varchar', length: 200 })
  requestedBy: string;

  @Column({ name: 'last_error_code', type: 'varchar', length: 64, nullable: true })
  lastErrorCode: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt: Date | null;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
