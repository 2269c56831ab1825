import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AdminAuditEvent, type AuditOutcome } from './admin-audit-event.entity';

export interface AuditRecord {
  action: string;
  outcome: AuditOutcome;
  statusCode: number;
  actor: string | null;
  requestId: string | null;
}

export interface AuditEventView extends AuditRecord {
  id: number;
  occurredAt: string;
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
 * Writes and reads the admin audit trail. A failed write is logged (class only), never thrown at
 * the caller. Writes still in flight are awaited before the database closes at shutdown.
 */
@Injectable()
export class AdminAuditService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(AdminAuditService.name);
  private readonly pending = new Set<Promise<void>>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  record(event: AuditRecord): void {
    const write = this.dataSource
      .getRepository(AdminAuditEvent)
      .insert(event)
      .then(
        () => undefined,
        (error: unknown) => {
          const type = error instanceof Error ? error.constructor.name : typeof error;
          this.logger.error({ errorType: type, action: event.action }, 'audit event could not be written');
        },
      )
      .finally(() => this.pending.delete(write));
    this.pending.add(write);
  }

  /** Waits for writes still in flight, so a read sees every request answered before it. */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** Runs before TypeORM ends the pool, which would cut an insert still waiting for the database. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  async recent(limit: number): Promise<AuditEventView[]> {
    await this.flush();
    const events = await this.dataSource
      .getRepository(AdminAuditEvent)
      .find({ order: { occurredAt: 'DESC', id: 'DESC' }, take: limit });
    return events.map((event) => ({
      id: Number(event.id),
      occurredAt: event.occurredAt.toISOString(),
      action: event.action,
      outcome: event.outcome,
      statusCode: event.statusCode,
      actor: event.actor,
      requestId: event.requestId,
    }));
  }
}
