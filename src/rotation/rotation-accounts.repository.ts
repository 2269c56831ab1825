import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { StoredRow } from '../connectors/token-storage';
import { queryRows } from './query-rows';
import type { ResealedRow } from './reseal-row';

/** A row the rotation may re-seal, with the version its compare-and-set write expects. */
export type CandidateRow = StoredRow & { version: number };

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
      `SELECT count(*)::int AS count FROM external_accounts WHERE token_key_id <> $1`,
      [targetKeyId],
    );
    return count;
  }

  /** The next accounts after `cursor`, in id order, that are not yet on the target key. */
  async candidates(cursor: number, targetKeyId: string, limit: number): Promise<CandidateRow[]> {
    return queryRows(
      this.dataSource.manager,
      `SELECT id, version, scopes, token_expires_at AS "tokenExpiresAt", access_token AS "accessToken",
              refresh_token AS "refreshToken", token_key_id AS "tokenKeyId"
         FROM external_accounts
        WHERE id > $1 AND token_key_id <> $2
        ORDER BY id
        LIMIT $3`,
      [cursor, targetKeyId, limit],
    );
  }

  /**
   * Writes every re-sealed row in one statement. A row whose version moved was rewritten by a
   * token update since it was read (and so is already on the primary key): it is left alone.
   * Returns how many rows were written.
   */
  async writeResealed(manager: EntityManager, rows: ResealedRow[], targetKeyId: string): Promise<number> {
    if (rows.length === 0) return 0;
    const written = await queryRows(
      manager,
      `UPDATE external_accounts AS a
          SET access_token = v.access_token, refresh_token = NULL, token_key_id = $4
         FROM unnest($1::int[], $2::int[], $3::text[]) AS v(id, version, access_token)
        WHERE a.id = v.id AND a.version = v.version
        RETURNING a.id`,
      [
        rows.map((row) => row.id),
        rows.map((row) => row.version),
        rows.map((row) => row.accessToken),
        targetKeyId,
      ],
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
        WHERE a.token_key_id <> $2`,
      [jobId, targetKeyId],
    );
    return counts;
  }
}
