import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { queryRows } from '../database/query-rows';
import type { TokenReadOutcome, TokenReadRecord, TokenReadRow } from './token-read.entity';

export interface TokenReadQuery {
  accountId?: number;
  userId?: number;
  caller?: string;
  provider?: string;
  outcome?: TokenReadOutcome;
  since?: Date;
  until?: Date;
  /** The `nextCursor` of the previous page: records that sort after its last one. */
  cursor?: string;
  limit: number;
}

const COLUMNS = `id::text AS id, occurred_at AS "occurredAt", caller, user_id AS "userId", account_id AS "accountId", provider,
  route, outcome, code, request_id AS "requestId"`;

/** Every statement over `token_read_audit`. */
@Injectable()
export class TokenReadsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** One statement for the whole batch, whatever its size: the parameters are nine arrays. */
  async insert(rows: TokenReadRow[]): Promise<void> {
    await queryRows(
      this.dataSource.manager,
      `INSERT INTO token_read_audit (occurred_at, caller, user_id, account_id, provider, route, outcome, code, request_id)
       SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::text[],
                            $8::text[], $9::text[])`,
      [
        rows.map((row) => row.occurredAt.toISOString()),
        rows.map((row) => row.caller),
        rows.map((row) => row.userId),
        rows.map((row) => row.accountId),
        rows.map((row) => row.provider),
        rows.map((row) => row.route),
        rows.map((row) => row.outcome),
        rows.map((row) => row.code),
        rows.map((row) => row.requestId),
      ],
    );
  }

  /**
   * Newest first, by the time of the read, then by id. The cursor is the id of the last record
   * of a page; the next page holds the records that sort after it.
   */
  page(query: TokenReadQuery): Promise<TokenReadRecord[]> {
    const conditions: string[] = [];
    const parameters: unknown[] = [];
    const where = (condition: (parameter: string) => string, value: unknown) => {
      parameters.push(value);
      conditions.push(condition(`$${parameters.length}`));
    };
    if (query.accountId !== undefined) where((p) => `account_id = ${p}`, query.accountId);
    if (query.userId !== undefined) where((p) => `user_id = ${p}`, query.userId);
    if (query.caller !== undefined) where((p) => `caller = ${p}`, query.caller);
    if (query.provider !== undefined) where((p) => `provider = ${p}`, query.provider);
    if (query.outcome !== undefined) where((p) => `outcome = ${p}`, query.outcome);
    if (query.since !== undefined) where((p) => `occurred_at >= ${p}`, query.since);
    if (query.until !== undefined) where((p) => `occurred_at < ${p}`, query.until);
    if (query.cursor !== undefined) {
      where(
        (p) => `(occurred_at, id) < (SELECT occurred_at, id FROM token_read_audit WHERE id = ${p}::bigint)`,
        query.cursor,
      );
    }
    parameters.push(query.limit);
    return queryRows<TokenReadRecord>(
      this.dataSource.manager,
      `SELECT ${COLUMNS} FROM token_read_audit
        ${conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''}
        ORDER BY occurred_at DESC, id DESC LIMIT $${parameters.length}`,
      parameters,
    );
  }

  /** Deletes at most `limit` records older than `days` days; returns how many went. */
  async deleteOlderThan(days: number, limit: number): Promise<number> {
    const [{ deleted }] = await queryRows<{ deleted: number }>(
      this.dataSource.manager,
      `WITH gone AS (
         DELETE FROM token_read_audit WHERE id IN (
           SELECT id FROM token_read_audit
            WHERE occurred_at < now() - make_interval(days => $1::int) LIMIT $2::int)
         RETURNING 1)
       SELECT count(*)::int AS deleted FROM gone`,
      [days, limit],
    );
    return deleted;
  }
}
