import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { errorCodeOf } from '../common/database-errors';
import { auditConfig } from '../config/configuration';
import { queryRows } from '../database/query-rows';
import { AdminAuditEvent, type AuditOutcome } from './admin-audit-event.entity';

export interface AuditRecord {
  action: string;
  outcome: AuditOutcome;
  statusCode: number;
  actor: string | null;
  clientAddress: string | null;
  requestId: string | null;
}

export interface AuditEventView extends AuditRecord {
  id: number;
  occurredAt: string;
  lastOccurredAt: string | null;
  count: number;
}

export interface AuditQuery {
  outcome?: AuditOutcome;
  action?: string;
  since?: Date;
  /** The `nextCursor` of the previous page: rows older than it. */
  cursor?: string;
  limit: number;
}

export interface AuditPage {
  events: AuditEventView[];
  nextCursor: string | null;
}

export function outcomeOf(statusCode: number): AuditOutcome {
  if (statusCode === 401) return 'unauthorized';
  if (statusCode === 403) return 'forbidden';
  if (statusCode === 429) return 'rate_limited';
  if (statusCode >= 500) return 'failed';
  if (statusCode >= 400) return 'rejected';
  return 'allowed';
}

/** Refusals of these kinds are counted per window instead of written one by one. */
const COALESCED: ReadonlySet<AuditOutcome> = new Set(['unauthorized', 'forbidden', 'rate_limited']);
/** Distinct refusal kinds per window; past it, one row per outcome takes the rest. */
const MAX_BUCKETS = 1_000;
/** Events waiting for the database; reached only when it has been unreachable for long. */
const MAX_PENDING = 10_000;
const ROWS_PER_INSERT = 500;
const RETRY_MS = { first: 500, max: 30_000 };
const RETENTION_EVERY_MS = 60 * 60 * 1000;
const ROWS_PER_PURGE = 10_000;

type PendingRow = Omit<AdminAuditEvent, 'id'>;

interface Bucket {
  row: PendingRow;
  mixedActors: boolean;
}

/**
 * The admin audit trail, built to hold under a flood:
 * - every request that presented the admin token, and every other answer that is not a refusal,
 *   is written as its own row, never dropped while fewer than MAX_PENDING wait for the database;
 *   past that the number dropped is logged and written as a row of its own once writes resume;
 * - refusals (401, 403, 429) of one action, status and client address are written as one row
 *   per window with their count, so a flood adds rows by the window, not by the request;
 * - rows go in batches, one insert at a time, so the trail never takes more than one pooled
 *   connection from the requests; a failed insert is retried with backoff, its rows kept;
 * - rows older than AUDIT_RETENTION_DAYS are deleted at start and hourly.
 * A failed write is logged by error code only, never thrown at the caller.
 */
@Injectable()
export class AdminAuditService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AdminAuditService.name);
  private pending: PendingRow[] = [];
  private buckets = new Map<string, Bucket>();
  private dropped = 0;
  private draining: Promise<void> | undefined;
  private retryMs = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private purging: Promise<void> | undefined;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(auditConfig.KEY) private readonly config: ConfigType<typeof auditConfig>,
  ) {}

  onApplicationBootstrap(): void {
    const windowTimer = setInterval(() => this.closeWindow(), this.config.refusalWindowSeconds * 1000);
    const retentionTimer = setInterval(() => (this.purging = this.purgeExpired()), RETENTION_EVERY_MS);
    windowTimer.unref();
    retentionTimer.unref();
    this.timers.push(windowTimer, retentionTimer);
    this.purging = this.purgeExpired();
  }

  record(event: AuditRecord): void {
    const now = new Date();
    if (COALESCED.has(event.outcome)) {
      this.count(event, now);
      return;
    }
    if (this.pending.length >= MAX_PENDING) {
      this.dropped += 1;
      return;
    }
    this.pending.push({ ...event, occurredAt: now, lastOccurredAt: null, count: 1 });
    this.drainSoon();
  }

  /**
   * Writes one event now and throws when it cannot: for the command line, which ends right
   * after its action and has no later moment to retry in.
   */
  async write(event: AuditRecord): Promise<void> {
    await this.dataSource
      .getRepository(AdminAuditEvent)
      .insert({ ...event, occurredAt: new Date(), lastOccurredAt: null, count: 1 });
  }

  /** Writes every event recorded so far, open refusal windows included. */
  async flush(): Promise<void> {
    this.closeWindow();
    await this.draining;
  }

  /** Runs before TypeORM ends the pool, which would cut an insert still waiting for the database. */
  async beforeApplicationShutdown(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.retryTimer);
    await this.flush();
    // A short-lived process (the command line) may stop while the start-up purge runs.
    await this.purging;
  }

  /**
   * Newest first by the time of the (first) event, then by id: a window of refusals is written
   * when it closes, so its id is larger than those of the events that came during it. The cursor
   * is the id of the last row of a page; the next page holds the rows that sort after that row.
   */
  async list(query: AuditQuery): Promise<AuditPage> {
    await this.flush();
    const builder = this.dataSource
      .getRepository(AdminAuditEvent)
      .createQueryBuilder('event')
      .orderBy('event.occurredAt', 'DESC')
      .addOrderBy('event.id', 'DESC')
      .take(query.limit);
    if (query.outcome) builder.andWhere('event.outcome = :outcome', { outcome: query.outcome });
    if (query.action) builder.andWhere('event.action = :action', { action: query.action });
    if (query.since) {
      builder.andWhere('COALESCE(event.lastOccurredAt, event.occurredAt) >= :since', { since: query.since });
    }
    if (query.cursor) {
      builder.andWhere(
        '(event.occurredAt, event.id) < (SELECT occurred_at, id FROM admin_audit_events WHERE id = :cursor)',
        { cursor: query.cursor },
      );
    }
    const events = await builder.getMany();
    return {
      events: events.map(toView),
      nextCursor: events.length === query.limit ? String(events[events.length - 1].id) : null,
    };
  }

  private count(event: AuditRecord, now: Date): void {
    let key = `${event.outcome}\0${event.statusCode}\0${event.action}\0${event.clientAddress ?? ''}`;
    let bucket = this.buckets.get(key);
    if (!bucket && this.buckets.size >= MAX_BUCKETS) {
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

  private closeWindow(): void {
    if (this.buckets.size === 0) return;
    for (const { row, mixedActors } of this.buckets.values()) {
      this.pending.push({
        ...row,
        actor: mixedActors ? null : row.actor,
        lastOccurredAt: row.count > 1 ? row.lastOccurredAt : null,
      });
    }
    this.buckets = new Map();
    this.drainSoon();
  }

  private drainSoon(): void {
    if (this.draining || this.retryTimer) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 || this.dropped > 0) {
      if (this.pending.length === 0) this.pending.push(this.droppedReport());
      const batch = this.pending.splice(0, ROWS_PER_INSERT);
      try {
        await this.dataSource.getRepository(AdminAuditEvent).insert(batch);
        this.retryMs = 0;
      } catch (error) {
        this.pending.unshift(...batch.filter((row) => row.action !== DROPPED_ACTION));
        this.scheduleRetry(error);
        return;
      }
    }
  }

  private droppedReport(): PendingRow {
    const count = this.dropped;
    this.dropped = 0;
    this.logger.warn({ dropped: count }, 'audit events were dropped while the database was unreachable');
    return {
      action: DROPPED_ACTION,
      outcome: 'failed',
      statusCode: 503,
      count,
      actor: null,
      clientAddress: null,
      requestId: null,
      occurredAt: new Date(),
      lastOccurredAt: null,
    };
  }

  private scheduleRetry(error: unknown): void {
    if (this.retryMs === 0) {
      this.logger.error(
        { errorCode: errorCodeOf(error), waiting: this.pending.length },
        'audit events could not be written; retrying',
      );
    }
    this.retryMs = Math.min(RETRY_MS.max, Math.max(RETRY_MS.first, this.retryMs * 2));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.drainSoon();
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private async purgeExpired(): Promise<void> {
    try {
      for (;;) {
        const [{ deleted }] = await queryRows<{ deleted: number }>(
          this.dataSource.manager,
          `WITH gone AS (
             DELETE FROM admin_audit_events WHERE id IN (
               SELECT id FROM admin_audit_events
                WHERE occurred_at < now() - make_interval(days => $1::int) LIMIT ${ROWS_PER_PURGE})
             RETURNING 1)
           SELECT count(*)::int AS deleted FROM gone`,
          [this.config.retentionDays],
        );
        if (deleted < ROWS_PER_PURGE) return;
      }
    } catch (error) {
      this.logger.warn({ errorCode: errorCodeOf(error) }, 'expired audit events could not be deleted');
    }
  }
}

/** The action of the row that reports how many events a long database outage made us drop. */
export const DROPPED_ACTION = 'audit events dropped';

function toView(event: AdminAuditEvent): AuditEventView {
  return {
    id: Number(event.id),
    occurredAt: event.occurredAt.toISOString(),
    lastOccurredAt: event.lastOccurredAt ? event.lastOccurredAt.toISOString() : null,
    count: event.count,
    action: event.action,
    outcome: event.outcome,
    statusCode: event.statusCode,
    actor: event.actor,
    clientAddress: event.clientAddress,
    requestId: event.requestId,
  };
}
