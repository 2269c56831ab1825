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

/**
 * A key rotation job: where it stands (keyset cursor, pass), what it did, and which worker holds
 * its lease. Written with SQL by RotationJobsRepository; mapped here for reads and metadata.
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

  /** Id of the last account processed in the current pass. */
  @Column({ type: 'integer' })
  cursor: number;

  @Column({ type: 'integer' })
  pass: number;

  @Column({ name: 'total_estimate', type: 'integer' })
  totalEstimate: number;

  @Column({ type: 'integer' })
  scanned: number;

  @Column({ type: 'integer' })
  rotated: number;

  /** Rewritten by a token update between read and write: already on the primary key. */
  @Column({ type: 'integer' })
  skipped: number;

  @Column({ type: 'integer' })
  failed: number;

  /** A bounded sample; key_rotation_job_failures holds every failed account. */
  @Column({ type: 'jsonb' })
  failures: RotationFailure[];

  @Column({ name: 'lease_owner', type: 'varchar', length: 128, nullable: true })
  leaseOwner: string | null;

  @Column({ name: 'lease_expires_at', type: 'timestamptz', nullable: true })
  leaseExpiresAt: Date | null;

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
