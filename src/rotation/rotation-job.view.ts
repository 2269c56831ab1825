import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { iso } from '../common/iso-time';
import {
  isActive,
  ROTATION_STATUSES,
  type RotationJobRecord,
  type RotationStatus,
} from './key-rotation-job.entity';

export class RotationFailureView {
  @ApiProperty() accountId: number;
  @ApiProperty({ example: 'ENVELOPE_AUTH_FAILED' }) reason: string;
}

/** The partitions a job's accounts are split into, which workers run side by side. */
export class RotationPartitionsView {
  @ApiProperty() total: number;
  @ApiProperty({ description: 'Partitions every account of which was read in this pass' }) done: number;
  @ApiProperty({ type: [String], description: 'Workers holding a live lease on a partition' })
  workers: string[];
}

/** What callers see of a rotation job: progress and reason codes, never a token or key. */
export class RotationJobView {
  @ApiProperty() id: number;
  @ApiProperty({ enum: ROTATION_STATUSES }) status: RotationStatus;
  @ApiProperty() dryRun: boolean;
  @ApiProperty() batchSize: number;
  @ApiProperty({ description: 'Key id every account is re-sealed with' }) targetKeyId: string;
  @ApiProperty({ description: 'Current pass; a final pass picks up rows written meanwhile' }) pass: number;
  @ApiProperty({ description: 'Every account up to this id was processed in this pass' }) cursor: number;
  @ApiProperty({ description: 'Accounts to process, estimated at start and at each new pass' })
  totalEstimate: number;
  @ApiProperty({ description: 'Totals of the job: the sums over its partitions' }) scanned: number;
  @ApiProperty({ description: 'Re-sealed (in a dry run: would be re-sealed)' }) rotated: number;
  @ApiProperty({ description: 'Rewritten by a token update meanwhile, so already on the primary key' })
  skipped: number;
  @ApiProperty() failed: number;
  @ApiProperty({ description: 'scanned / totalEstimate, 0 to 100' }) progressPercent: number;
  @ApiPropertyOptional({ nullable: true }) rowsPerSecond: number | null;
  @ApiPropertyOptional({ nullable: true }) etaSeconds: number | null;
  @ApiProperty({ type: [RotationFailureView], description: 'At most 100 failed accounts' })
  failures: RotationFailureView[];
  @ApiProperty({ type: RotationPartitionsView }) partitions: RotationPartitionsView;
  @ApiProperty() requestedBy: string;
  @ApiPropertyOptional({
    nullable: true,
    description: 'While active: the lease ending last among the open partitions',
  })
  leaseOwner: string | null;
  @ApiPropertyOptional({ nullable: true }) leaseExpiresAt: string | null;
  @ApiPropertyOptional({ nullable: true }) lastErrorCode: string | null;
  @ApiProperty() createdAt: string;
  @ApiPropertyOptional({ nullable: true }) startedAt: string | null;
  @ApiPropertyOptional({ nullable: true }) finishedAt: string | null;
  @ApiProperty() updatedAt: string;
}

function rateOf(job: RotationJobRecord, now: Date): number | null {
  if (!job.startedAt) return null;
  const seconds = ((job.finishedAt ?? now).getTime() - job.startedAt.getTime()) / 1000;
  return seconds > 0 ? Math.round((job.scanned / seconds) * 10) / 10 : null;
}

function etaOf(job: RotationJobRecord, rate: number | null): number | null {
  if (!isActive(job.status)) return 0;
  if (!rate) return null;
  return Math.ceil(Math.max(0, job.totalEstimate - job.scanned) / rate);
}

function progressOf(job: RotationJobRecord): number {
  if (job.totalEstimate === 0) return isActive(job.status) ? 0 : 100;
  return Math.min(100, Math.round((job.scanned / job.totalEstimate) * 1000) / 10);
}

export function toRotationJobView(job: RotationJobRecord, now: Date = new Date()): RotationJobView {
  const rowsPerSecond = rateOf(job, now);
  return {
    id: job.id,
    status: job.status,
    dryRun: job.dryRun,
    batchSize: job.batchSize,
    targetKeyId: job.targetKeyId,
    pass: job.pass,
    cursor: job.cursor,
    totalEstimate: job.totalEstimate,
    scanned: job.scanned,
    rotated: job.rotated,
    skipped: job.skipped,
    failed: job.failed,
    progressPercent: progressOf(job),
    rowsPerSecond,
    etaSeconds: etaOf(job, rowsPerSecond),
    failures: job.failures.map(({ accountId, reason }) => ({ accountId, reason })),
    partitions: { ...job.partitions, workers: [...job.partitions.workers].sort() },
    requestedBy: job.requestedBy,
    leaseOwner: job.leaseOwner,
    leaseExpiresAt: iso(job.leaseExpiresAt),
    lastErrorCode: job.lastErrorCode,
    createdAt: iso(job.createdAt) as string,
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    updatedAt: iso(job.updatedAt) as string,
  };
}
