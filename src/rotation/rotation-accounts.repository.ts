import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { queryRows } from './query-rows';
import type { CandidateRow } from './reseal-row';
import { ENVELOPE_SEPARATOR, type SealedBatch } from './sealed-batch';

export type { CandidateRow } from './reseal-row';

/**
 * "Not on the target key" as two ranges of ix_external_accounts_token_key_id, so a count finds
 * only the accounts left to rotate instead of filtering every entry of the index.
 */
const offTarget = (column: string, parameter: string) =>
  `(${column} < ${parameter} OR ${column} > ${parameter})`;

/**
 * A batch's id order must come from walking the primary key, never from sorting every
 * candidate. Statistics from before the last rotation (say, back to a key most rows were on)
 * make the planner expect a handful of rows and pick a parallel scan or a full sort: O(N) a batch.
 */
const KEYSET_PLAN = `SELECT set_config('max_parallel_workers_per_gather', '0', true), set_config('enable_sort', 'off', true)`;

/**
 * The batch write's plan must not depend on its parameters. A custom plan folds
 * string_to_array over the whole batch while planning, which measured 6 to 11 ms per 1000 rows
 * against 0.4 ms to plan and 2 ms to split while executing; the plan is the same either way.
 */
const PLAN_WITHOUT_PARAMETERS = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`;

export interface KeyIdCount {
  keyId: string;
  accounts: number;
}

/**
 * The rotation's SQL over external_accounts: counts by key id, keyset-paginated candidates and
 * the batched compare-and-set write. Token columns are written here and by
 * ExternalAccountsService only. A token write bumps `version`; this one stores the same tokens
 * under another key, so it leaves `version` and `updated_at` alone and the versions callers
 * hold for If-Match stay valid.
 */
@Injectable()
export class RotationAccountsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** One grouped query on the indexed column; never reads a token. */
  async countByKeyId(): Promise<KeyIdCount[]> {
    return queryRows(
      this.dataSource.manager,
      `SELECT token_key_id AS "keyId", count(*)::int AS accounts FROM external_accounts GROUP BY token_key_id`,
    );
  }

  async countCandidates(targetKeyId: string): Promise<number> {
    const [{ count }] = await queryRows<{ count: number }>(
      this.dataSource.manager,
      `SELECT count(*)::int AS count FROM external_accounts WHERE ${offTarget('token_key_id', '$1')}`,
      [targetKeyId],
    );
    return count;
  }

  /** The next accounts after `cursor`, in id order, that are not yet on the target key. */
  async candidates(cursor: number, targetKeyId: string, limit: number): Promise<CandidateRow[]> {
    return this.dataSource.transaction(async (manager) => {
      await queryRows(manager, KEYSET_PLAN);
      return queryRows<CandidateRow>(
        manager,
        `SELECT id, version, scopes, token_expires_at AS "tokenExpiresAt", access_token AS "accessToken",
                refresh_token AS "refreshToken", token_key_id AS "tokenKeyId"
           FROM external_accounts
          WHERE id > $1 AND token_key_id <> $2
          ORDER BY id
          LIMIT $3`,
        [cursor, targetKeyId, limit],
      );
    });
  }

  /**
   * Writes every re-sealed row in one statement. A row whose version moved was rewritten by a
   * token update since it was read (and so is already on the primary key): it is left alone.
   * Returns how many rows were written.
   */
  async writeResealed(manager: EntityManager, batch: SealedBatch, targetKeyId: string): Promise<number> {
    if (batch.ids.length === 0) return 0;
    await queryRows(manager, PLAN_WITHOUT_PARAMETERS);
    const written = await queryRows(
      manager,
      `UPDATE external_accounts AS a
          SET access_token = v.access_token, refresh_token = NULL, token_key_id = $4
         FROM unnest($1::int[], $2::int[], string_to_array($3::text, $5::text)) AS v(id, version, access_token)
        WHERE a.id = v.id AND a.version = v.version
        RETURNING a.id`,
      [batch.ids, batch.versions, batch.accessTokens, targetKeyId, ENVELOPE_SEPARATOR],
    );
    return written.length;
  }

  /**
   * Accounts still off the target key after a pass, and how many of them this job has not
   * already recorded as failed (those are worth another pass).
   */
  async remaining(manager: EntityManager, jobId: number, targetKeyId: string) {
    const [counts] = await queryRows<{ remaining: number; retryable: number }>(
      manager,
      `SELECT count(*)::int AS remaining, count(*) FILTER (WHERE f.account_id IS NULL)::int AS retryable
         FROM external_accounts a
         LEFT JOIN key_rotation_job_failures f ON f.job_id = $1 AND f.account_id = a.id
        WHERE ${offTarget('a.token_key_id', '$2')}`,
      [jobId, targetKeyId],
    );
    return counts;
  }
}
