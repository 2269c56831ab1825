import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export const AUDIT_OUTCOMES = [
  'allowed',
  'unauthorized',
  'forbidden',
  'rate_limited',
  'rejected',
  'failed',
] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** What a caller records: one admin request, or one command-line action. */
export interface AuditRecord {
  action: string;
  outcome: AuditOutcome;
  statusCode: number;
  actor: string | null;
  clientAddress: string | null;
  requestId: string | null;
}

export function outcomeOf(statusCode: number): AuditOutcome {
  if (statusCode === 401) return 'unauthorized';
  if (statusCode === 403) return 'forbidden';
  if (statusCode === 429) return 'rate_limited';
  if (statusCode >= 500) return 'failed';
  if (statusCode >= 400) return 'rejected';
  return 'allowed';
}

/**
 * One admin request, or `count` refused requests of one kind from one address in one window
 * (from `occurredAt` to `lastOccurredAt`). `actor` is a fingerprint of the bearer token
 * presented, never the token.
 */
@Entity({ name: 'admin_audit_events' })
export class AdminAuditEvent {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'occurred_at', type: 'timestamptz', default: () => 'now()' })
  occurredAt: Date;

  @Column({ name: 'last_occurred_at', type: 'timestamptz', nullable: true })
  lastOccurredAt: Date | null;

  @Column({ type: 'text' })
  action: string;

  @Column({ type: 'text' })
  outcome: AuditOutcome;

  @Column({ name: 'status_code', type: 'integer' })
  statusCode: number;

  @Column({ type: 'integer', default: 1 })
  count: number;

  @Column({ type: 'text', nullable: true })
  actor: string | null;

  @Column({ name: 'client_address', type: 'text', nullable: true })
  clientAddress: string | null;

  @Column({ name: 'request_id', type: 'text', nullable: true })
  requestId: string | null;
}

/** A row to insert: the database allocates the id. */
export type AuditEventRow = Omit<AdminAuditEvent, 'id'>;
