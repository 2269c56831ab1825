import type { AuditEventRow, AuditOutcome, AuditRecord } from './admin-audit-event.entity';

/** The action of the row that reports how many events a long database outage made us drop. */
export const DROPPED_ACTION = 'audit events dropped';

/** Refusals of these kinds are counted per window instead of written one by one. */
const COALESCED: ReadonlySet<AuditOutcome> = new Set(['unauthorized', 'forbidden', 'rate_limited']);

export interface AuditBufferLimits {
  /** Distinct refusal kinds per window; past it, one row per outcome takes the rest. */
  maxBuckets: number;
  /** Events waiting for the database; reached only when it has been unreachable for long. */
  maxPending: number;
}

export const DEFAULT_LIMITS: AuditBufferLimits = { maxBuckets: 1_000, maxPending: 10_000 };

interface Bucket {
  row: AuditEventRow;
  mixedActors: boolean;
}

/**
 * The rows of the audit trail waiting for the database, with no database of its own:
 * - an event that is not a refusal waits as its own row; past `maxPending` waiting rows it is
 *   dropped and counted, and the count is handed out as a row of its own once the rest is out;
 * - refusals (401, 403, 429) of one action, status and client address are counted in one row
 *   per window, written when the window closes; past `maxBuckets` kinds in a window, the rest
 *   are counted in one row per outcome, with action `*`.
 */
export class AuditBuffer {
  private pending: AuditEventRow[] = [];
  private buckets = new Map<string, Bucket>();
  private dropped = 0;

  constructor(private readonly limits: AuditBufferLimits = DEFAULT_LIMITS) {}

  /** Rows waiting to be written. */
  get waiting(): number {
    return this.pending.length;
  }

  /** True when no row waits and no drop is left to report; open windows do not count. */
  get empty(): boolean {
    return this.pending.length === 0 && this.dropped === 0;
  }

  /** Takes one event; true when it waits to be written now, false when counted in a window. */
  record(event: AuditRecord, now = new Date()): boolean {
    if (COALESCED.has(event.outcome)) {
      this.count(event, now);
      return false;
    }
    if (this.pending.length >= this.limits.maxPending) {
      this.dropped += 1;
      return false;
    }
    this.pending.push({ ...event, occurredAt: now, lastOccurredAt: null, count: 1 });
    return true;
  }

  /** Ends the refusal window: each of its rows waits to be written. False when it was empty. */
  closeWindow(): boolean {
    if (this.buckets.size === 0) return false;
    for (const { row, mixedActors } of this.buckets.values()) {
      this.pending.push({
        ...row,
        actor: mixedActors ? null : row.actor,
        lastOccurredAt: row.count > 1 ? row.lastOccurredAt : null,
      });
    }
    this.buckets = new Map();
    return true;
  }

  /** A row of the trail's own that counts `count` events (records another trail dropped): never coalesced or dropped. */
  report(action: string, count: number, now = new Date()): void {
    this.pending.push({
      action,
      outcome: 'failed',
      statusCode: 503,
      count,
      actor: null,
      clientAddress: null,
      requestId: null,
      occurredAt: now,
      lastOccurredAt: null,
    });
  }

  /**
   * The next rows to write, oldest first, at most `max`; once nothing else waits, the row that
   * reports the events dropped since the last report.
   */
  take(max: number, now = new Date()): AuditEventRow[] {
    if (this.pending.length === 0 && this.dropped > 0) this.pending.push(this.droppedReport(now));
    return this.pending.splice(0, max);
  }

  /**
   * Rows whose write failed wait again, ahead of newer ones; a failed drop report gives its count
   * back, so the next report includes it.
   */
  putBack(rows: AuditEventRow[]): void {
    for (const row of rows) if (row.action === DROPPED_ACTION) this.dropped += row.count;
    this.pending.unshift(...rows.filter((row) => row.action !== DROPPED_ACTION));
  }

  private count(event: AuditRecord, now: Date): void {
    let key = `${event.outcome}\0${event.statusCode}\0${event.action}\0${event.clientAddress ?? ''}`;
    let bucket = this.buckets.get(key);
    if (!bucket && this.buckets.size >= this.limits.maxBuckets) {
      key = `${event.outcome}\0*`;
      bucket = this.buckets.get(key);
      event = { ...event, action: '*', clientAddress: null, requestId: null };
    }
    if (bucket) {
      bucket.row.count += 1;
      bucket.row.lastOccurredAt = now;
      bucket.mixedActors ||= bucket.row.actor !== event.actor;
      return;
    }
    this.buckets.set(key, {
      row: { ...event, occurredAt: now, lastOccurredAt: now, count: 1 },
      mixedActors: false,
    });
  }

  private droppedReport(now: Date): AuditEventRow {
    const count = this.dropped;
    this.dropped = 0;
    return {
      action: DROPPED_ACTION,
      outcome: 'failed',
      statusCode: 503,
      count,
      actor: null,
      clientAddress: null,
      requestId: null,
      occurredAt: now,
      lastOccurredAt: null,
    };
  }
}
