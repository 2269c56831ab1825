import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  Optional,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { Request } from 'express';
import { backoffMs } from '../common/backoff';
import { databaseErrorCodeOf } from '../common/database-errors';
import { requestIdFrom } from '../common/error-response';
import { auditConfig } from '../config/configuration';
import { AppMetrics } from '../metrics/app-metrics';
import { AdminAuditService } from './admin-audit.service';
import { AuditUnavailableError } from './audit.errors';
import { TokenReadQueue } from './token-read-queue';
import type { TokenReadOutcome, TokenReadRow } from './token-read.entity';
import { toTokenReadView, type TokenReadPage } from './token-read.view';
import { TokenReadsRepository, type TokenReadQuery } from './token-reads.repository';

/** How a token read ended, for its record. */
export interface TokenReadAnswer {
  outcome: TokenReadOutcome;
  provider: string | null;
  code: string | null;
}

/** Records the answer of a read admitted by `begin`: call it once, whatever the answer. */
export type FinishTokenRead = (answer: TokenReadAnswer) => void;

/** The admin trail's row that reports records this trail could not keep. */
export const TOKEN_READS_DROPPED_ACTION = 'token read records dropped';

const ROWS_PER_INSERT = 1_000;
const RETRY_BACKOFF = { firstMs: 100, maxMs: 2_000 };
const RETENTION_EVERY_MS = 60 * 60 * 1000;
const ROWS_PER_PURGE = 10_000;

const MAX_ID = 2 ** 31 - 1;

/** A path id as the id pipes accept it, or null: a refused request may not have got that far. */
function idParam(request: Request, name: string): number | null {
  const text: unknown = (request.params as Record<string, unknown> | undefined)?.[name];
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,9}$/.test(text)) return null;
  const id = Number(text);
  return id <= MAX_ID ? id : null;
}

function routeOf(request: Request): string {
  const template: unknown = (request.route as { path?: unknown } | undefined)?.path;
  return `${request.method} ${typeof template === 'string' ? template : 'unmatched'}`;
}

/**
 * The record of every token read through the service routes, written off the request path: a
 * read only adds its record to a queue, and one insert at a time writes whatever has gathered
 * (so the trail takes one pooled connection at most). A failed insert is retried with backoff.
 *
 * With AUDIT_FAIL_CLOSED a read is admitted only while the trail keeps up: a queue slot is
 * reserved for its record before it is served, and no read is served while the queue is full or
 * its oldest record has waited longer than AUDIT_MAX_LAG_SECONDS (503 AUDIT_UNAVAILABLE). Without
 * it reads go on, and records past AUDIT_MAX_PENDING are dropped, counted, logged and reported in
 * the admin trail once writes resume.
 */
@Injectable()
export class TokenReadAuditService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(TokenReadAuditService.name);
  private readonly queue: TokenReadQueue;
  private draining: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failedWrites = 0;
  private dropping = false;
  private purging: Promise<void> | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly records: TokenReadsRepository,
    private readonly adminAudit: AdminAuditService,
    @Inject(auditConfig.KEY) private readonly config: ConfigType<typeof auditConfig>,
    @Optional() private readonly metrics?: AppMetrics,
  ) {
    this.queue = new TokenReadQueue(config.maxPending);
  }

  onApplicationBootstrap(): void {
    this.retentionTimer = setInterval(() => (this.purging = this.purgeExpired()), RETENTION_EVERY_MS);
    this.retentionTimer.unref();
    this.purging = this.purgeExpired();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.retentionTimer);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.flush();
    if (!this.queue.empty) {
      this.logger.error(
        { lost: this.queue.depth },
        'token-read records could not be written before the stop',
      );
    }
    await this.purging;
  }

  /** Records waiting, being written, or reserved for reads in progress. */
  get depth(): number {
    return this.queue.depth;
  }

  /** How long the oldest unwritten record has waited. */
  get lagSeconds(): number {
    return this.queue.lagMs(Date.now()) / 1000;
  }

  /**
   * Admits one read of the account's tokens, or throws AuditUnavailableError (fail-closed and
   * the trail cannot keep up). The function returned records how it ended.
   */
  begin(request: Request, caller: string, userId: number, accountId: number): FinishTokenRead {
    const fields = {
      caller,
      userId,
      accountId,
      route: routeOf(request),
      requestId: requestIdFrom(request) ?? null,
    };
    if (!this.config.failClosed) return (answer) => this.add({ ...fields, ...answer }, false);
    const lagging = this.queue.lagMs(Date.now()) > this.config.maxLagSeconds * 1000;
    if (lagging || !this.queue.reserve()) {
      this.add({ ...fields, outcome: 'refused', provider: null, code: 'AUDIT_UNAVAILABLE' }, false);
      throw new AuditUnavailableError(
        'Token reads are refused while the audit trail cannot record them; retry later',
        Math.min(5, this.config.maxLagSeconds),
      );
    }
    return (answer) => this.add({ ...fields, ...answer }, true);
  }

  /** A caller's attempt refused before it reached an account (a scope it does not hold). */
  recordRefusal(request: Request, caller: string, code: string): void {
    this.add(
      {
        caller,
        userId: idParam(request, 'userId'),
        accountId: idParam(request, 'id'),
        route: routeOf(request),
        requestId: requestIdFrom(request) ?? null,
        outcome: 'refused',
        provider: null,
        code,
      },
      false,
    );
  }

  /** Writes every record taken so far, unless writes are failing (then it returns at once). */
  async flush(): Promise<void> {
    while (this.draining || (this.queue.ready && !this.retryTimer)) {
      this.drainSoon();
      await this.draining;
    }
  }

  /** A page of the trail, newest first, with every record this instance took written first. */
  async list(query: TokenReadQuery): Promise<TokenReadPage> {
    await this.flush();
    const records = await this.records.page(query);
    return {
      reads: records.map(toTokenReadView),
      nextCursor: records.length === query.limit ? records[records.length - 1].id : null,
    };
  }

  private add(fields: Omit<TokenReadRow, 'occurredAt'>, reserved: boolean): void {
    const row: TokenReadRow = { ...fields, occurredAt: new Date() };
    this.metrics?.tokenReads.inc({ caller: row.caller, outcome: row.outcome });
    if (reserved) this.queue.fill(row);
    else if (!this.queue.push(row)) {
      this.metrics?.auditDropped.inc({ trail: 'token_reads' });
      if (!this.dropping) {
        this.dropping = true;
        this.logger.error(
          { waiting: this.queue.depth },
          'token-read records are being dropped: the audit trail cannot keep up',
        );
      }
    }
    this.drainSoon();
  }

  private drainSoon(): void {
    if (this.draining || this.retryTimer || !this.queue.ready) return;
    // Records of the reads answered in the same turn of the event loop join one insert.
    this.draining = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .finally(() => {
        this.draining = undefined;
        this.drainSoon();
      });
  }

  private async drain(): Promise<void> {
    while (this.queue.ready) {
      const batch = this.queue.take(ROWS_PER_INSERT);
      try {
        await this.records.insert(batch);
      } catch (error) {
        this.queue.failed();
        this.scheduleRetry(error);
        return;
      }
      this.queue.written();
      if (this.failedWrites > 0) {
        this.logger.log({ failedWrites: this.failedWrites }, 'token-read records are written again');
        this.failedWrites = 0;
      }
    }
    this.reportDrops();
  }

  private reportDrops(): void {
    const dropped = this.queue.takeDropped();
    this.dropping = false;
    if (dropped === 0) return;
    this.logger.warn({ dropped }, 'token-read records were dropped while they could not be written');
    this.adminAudit.report(TOKEN_READS_DROPPED_ACTION, dropped);
  }

  private scheduleRetry(error: unknown): void {
    this.failedWrites += 1;
    if (this.failedWrites === 1) {
      this.logger.error(
        { errorCode: databaseErrorCodeOf(error), waiting: this.queue.depth },
        'token-read records could not be written; retrying',
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
        deleted = await this.records.deleteOlderThan(this.config.retentionDays, ROWS_PER_PURGE);
      } while (deleted === ROWS_PER_PURGE);
    } catch (error) {
      this.logger.warn(
        { errorCode: databaseErrorCodeOf(error) },
        'expired token-read records could not be deleted',
      );
    }
  }
}
