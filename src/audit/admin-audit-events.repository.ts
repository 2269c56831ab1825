import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { queryRows } from '../database/query-rows';
import { AdminAuditEvent, type AuditEventRow, type AuditOutcome } from './admin-audit-event.entity';

export interface AuditQuery {
  outcome?: AuditOutcome;
  action?: string;
  since?: Date;
  /** The `nextCursor` of the previous page: rows older than it. */
  cursor?: string;
  limit: number;
}

/** Every statement over `admin_audit_events`. */
@Injectable()
export class AdminAuditEventsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async insert(rows: AuditEventRow[]): Promise<void> {
    await this.dataSource.getRepository(AdminAuditEvent).insert(rows);
  }

  /**
   * Newest first by the time of the (first) event, then by id: a window of refusals is written
   * when it closes, so its id is larger than those of the events that came during it. The cursor
   * is the id of the last row of a page; the next page holds the rows that sort after that row.
   */
  page(query: AuditQuery): Promise<AdminAuditEvent[]> {
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
    return builder.getMany();
  }

  /** Deletes at most `limit` rows older than `days` days; returns how many went. */
  async deleteOlderThan(days: number, limit: number): Promise<number> {
    const [{ deleted }] = await queryRows<{ deleted: number }>(
      this.dataSource.manager,
      `WITH gone AS (
         DELETE FROM admin_audit_events WHERE id IN (
           SELECT id FROM admin_audit_events
            WHERE occurred_at < now() - make_interval(days => $1::int) LIMIT $2::int)
         RETURNING 1)
       SELECT count(*)::int AS deleted FROM gone`,
      [days, limit],
    );
    return deleted;
  }
}
