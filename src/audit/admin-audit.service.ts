import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { backoffMs } from '../common/backoff';
import { databaseErrorCodeOf } from '../common/database-errors';
import { auditConfig } from '../config/configuration';
import type { AuditRecord } from './admin-audit-event.entity';
import { toAuditEventView, type AuditPage } from './admin-audit-event.view';
import { AdminAuditEventsRepository, type AuditQuery } from './admin-audit-events.repository';
import { AuditBuffer, DEFAULT_LIMITS, DROPPED_ACTION } from './audit-buffer';

const ROWS_PER_INSERT = 500;
const RETRY_BACKOFF = { firstMs: 500, maxMs: 30_000 };
const RETENTION_EVERY_MS = 60 * 60 * 1000;
const ROWS_PER_PURGE = 10_000;

/**
 * The admin audit trail, built to hold under a flood:
 * - events wait in an AuditBuffer (refusals counted per window, a cap on waiting rows, a row that
 *   reports what the cap dropped), closed every AUDIT_REFUSAL_WINDOW_SECONDS;
 * - rows go in batches, one insert at a time, so the trail never takes more than one pooled
 *   connection from the requests; a failed insert is retried with backoff, its rows kept;
 * - rows older than AUDIT_RETENTION_DAYS are deleted at start and hourly.
 * A failed write is logged by error code only, never thrown at the caller.
 */
@Injectable()
export class AdminAuditService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AdminAuditService.name);
  private readonly buffer: AuditBuffer;
  private draining: Promise<void> | undefined;
  private failedWrites = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private purging: Promise<void> | undefined;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly events: AdminAuditEventsRepository,
    @Inject(auditConfig.KEY) private readonly config: ConfigType<typeof auditConfig>,
  ) {
    this.buffer = new AuditBuffer({ ...DEFAULT_LIMITS, maxPending: config.maxPending });
  }

  onApplicationBootstrap(): void {
    const windowTimer = setInterval(() => this.closeWindow(), this.config.refusalWindowSeconds * 1000);
    const retentionTimer = setInterval(() => (this.purging = this.purgeExpired()), RETENTION_EVERY_MS);
    windowTimer.unref();
    retentionTimer.unref();
    this.timers.push(windowTimer, retentionTimer);
    this.purging = this.purgeExpired();
  }

  record(event: AuditRecord): void {
    if (this.buffer.record(event)) this.drainSoon();
  }

  /** Events of another trail counted in one row (its records dropped during an outage). */
  report(action: string, count: number): void {
    this.buffer.report(action, count);
    this.drainSoon();
  }

  /** Rows waiting to be written. */
  get waiting(): number {
    return this.buffer.waiting;
  }

  /**
   * Writes one event now and throws when it cannot: for the command line, which ends right
   * after its action and has no later moment to retry in, and for admin changes, which are
   * recorded before they answer.
   */
  async write(event: AuditRecord): Promise<void> {
    await this.events.insert([{ ...event, occurredAt: new Date(), lastOccurredAt: null, count: 1 }]);
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

  /** A page of the trail, newest first, with every event recorded so far written first. */
  async list(query: AuditQuery): Promise<AuditPage> {
    await this.flush();
    const events = await this.events.page(query);
    return {
      events: events.map(toAuditEventView),
      nextCursor: events.length === query.limit ? String(events[events.length - 1].id) : null,
    };
  }

  private closeWindow(): void {
    if (this.buffer.closeWindow()) this.drainSoon();
  }

  private drainSoon(): void {
    if (this.draining || this.retryTimer) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (!this.buffer.empty) {
      const batch = this.buffer.take(ROWS_PER_INSERT);
      const report = batch.find((row) => row.action === DROPPED_ACTION);
      if (report) {
        this.logger.warn(
          { dropped: report.count },
          'audit events were dropped while the database was unreachable',
        );
      }
      try {
        await this.events.insert(batch);
        this.failedWrites = 0;
      } catch (error) {
        this.buffer.putBack(batch);
        this.scheduleRetry(error);
        return;
      }
    }
  }

  private scheduleRetry(error: unknown): void {
    this.failedWrites += 1;
    if (this.failedWrites === 1) {
      this.logger.error(
        { errorCode: databaseErrorCodeOf(error), waiting: this.buffer.waiting },
        'audit events could not be written; retrying',
      );
    }
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.drainSoon();
      },
      backoffMs(this.failedWrites, RETRY_BACKOFF),
    );
    this.retryTimer.unref();
  }

  private async purgeExpired(): Promise<void> {
    try {
      let deleted: number;
      do {
        deleted = await this.events.deleteOlderThan(this.config.retentionDays, ROWS_PER_PURGE);
      } while (deleted === ROWS_PER_PURGE);
    } catch (error) {
      this.logger.warn(
        { errorCode: databaseErrorCodeOf(error) },
        'expired audit events could not be deleted',
      );
    }
  }
}
