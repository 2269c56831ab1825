import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, In } from 'typeorm';
import { queryRows } from '../database/query-rows';
import { ExternalAccount, type AccountStatus } from './external-account.entity';
import { ENVELOPE_SEPARATOR, LEGACY_V1_KEY_ID } from './token-columns';

/** The token columns of one row as stored, with what the read path needs to rebuild a plaintext set. */
export interface TokenRow {
  id: number;
  userId: number;
  version: number;
  scopes: string | null;
  tokenExpiresAt: Date | null;
  accessToken: string | null;
  refreshToken: string | null;
  /** Derived by the database from `access_token`; never written by any client. */
  tokenKeyId: string;
}

/**
 * A token row with the account's provider (a caller limited to providers is checked against it)
 * and its status (a read or a token write checks it first).
 */
export interface AccountTokenRow extends TokenRow {
  provider: string;
  status: AccountStatus;
}

/** What a token write stores: `token_key_id` follows from `access_token` in the database. */
export interface TokenColumns {
  accessToken: string | null;
  refreshToken: string | null;
  scopes: string | null;
  tokenExpiresAt: Date | null;
}

export interface AccountProfile {
  displayName?: string | null;
  email?: string | null;
  providerMetadata?: Record<string, unknown> | null;
}

/**
 * A batch of re-sealed envelopes as one statement sends them: ids, the versions they were read
 * at, and the envelopes joined by a separator that never occurs in one (base64, hex and JSON
 * punctuation only), which reaches the database without the per-element quoting of a text[].
 */
export interface ResealedColumns {
  ids: number[];
  versions: number[];
  accessTokens: string;
}

/** A token row with what the refresh needs: provider, status, and the refresh lease as the database sees it. */
export interface RefreshRow extends TokenRow {
  provider: string;
  status: AccountStatus;
  statusReason: string | null;
  /** True while another refresh holds the account (its lease has not expired by the database's clock). */
  leaseActive: boolean;
  /** While the lease is active: how long it has left, in milliseconds, by the database's clock. */
  leaseRemainingMs: number | null;
  /** The outcome code of the last refresh that failed without an answer for the tokens, and when. */
  refreshError: string | null;
  refreshErrorAt: Date | null;
}

/** An account the refresh-ahead job should refresh. */
export interface RefreshCandidate {
  id: number;
  userId: number;
  provider: string;
}

/** A revoking account whose next attempt is due; `expired` once its give-up time has passed. */
export interface DueRevocation {
  id: number;
  userId: number;
  provider: string;
  attempts: number;
  expired: boolean;
}

/** When a revoking account is tried again, and the error code of the attempt that failed. */
export interface RevocationRetry {
  afterSeconds: number;
  error: string;
}

/** Accounts of one provider, optionally of one user or one account: what an incident ends. */
export interface GrantScope {
  provider: string;
  userId?: number;
  accountId?: number;
}

export interface KeyIdCount {
  keyId: string;
  accounts: number;
}

const TOKEN_ROW_COLUMNS = `id, user_id AS "userId", version, scopes, token_expires_at AS "tokenExpiresAt",
  access_token AS "accessToken", refresh_token AS "refreshToken", token_key_id AS "tokenKeyId"`;

const REFRESH_ROW_COLUMNS = `${TOKEN_ROW_COLUMNS}, provider, status, status_reason AS "statusReason",
  (refresh_lease_owner IS NOT NULL AND refresh_lease_until > now()) AS "leaseActive",
  CASE WHEN refresh_lease_owner IS NOT NULL AND refresh_lease_until > now()
       THEN ceil(extract(epoch FROM refresh_lease_until - now()) * 1000)::int END AS "leaseRemainingMs",
  refresh_error AS "refreshError", refresh_error_at AS "refreshErrorAt"`;

/**
 * The channel on which the end of a refresh is announced (stored, failed, needs_reauth, or
 * overtaken by a token write), with the account id as payload: callers waiting on another
 * instance's refresh wake at once instead of polling.
 */
export const REFRESH_CHANNEL = 'external_accounts_refresh';

/**
 * `statement` (an UPDATE ... RETURNING id, notify) with a notice for each row it changed, sent
 * when the transaction commits; `notify` says whether one is due.
 */
const notifyingEach = (statement: string) =>
  `WITH changed AS (${statement})
   SELECT id, CASE WHEN notify THEN pg_notify('${REFRESH_CHANNEL}', id::text)::text END AS notified
     FROM changed`;

/**
 * Any token write ends a needs_reauth state: the new tokens are the re-authorization. A revoking
 * account takes no token write (its grant is being ended): every token write is conditioned on
 * `NOT_REVOKING`.
 */
const ACTIVE_AGAIN = `status = 'active', status_reason = NULL,
  status_changed_at = CASE WHEN status = 'active' THEN status_changed_at ELSE now() END`;
const NOT_REVOKING = `status <> 'revoking'`;

/** A grant scope's accounts ($1 provider, $2 user or null, $3 account or null); a revoking one is being ended already. */
const IN_GRANT_SCOPE = `provider = $1 AND ($2::int IS NULL OR user_id = $2::int)
  AND ($3::int IS NULL OR id = $3::int) AND ${NOT_REVOKING}`;
/** Marked by an earlier incident run ($4 the reason). */
const MARKED = `(status = 'needs_reauth' AND status_reason = $4)`;

/**
 * "Not on the target key" as two ranges of ix_external_accounts_token_key_id, so a count finds
 * only the accounts left to rotate instead of filtering every entry of the index.
 */
const offTarget = (column: string, parameter: string) =>
  `(${column} < ${parameter} OR ${column} > ${parameter})`;

/** The highest value of the `id` column (int4): the bound of a range with none. */
const MAX_ID = 2_147_483_647;

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

/**
 * Every statement over `external_accounts`, and so the one place that writes token columns.
 * Queries that name an account are scoped by user id: another user's account is not found.
 * `token_key_id` is generated by the database from `access_token`, so no statement sets it.
 */
@Injectable()
export class ExternalAccountsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Runs `work` in one transaction; the manager it gets goes to the methods below. */
  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /** The id first, so the envelope can be bound to it before the row exists. */
  async allocateId(): Promise<number> {
    const [{ id }] = await queryRows<{ id: number }>(
      this.dataSource.manager,
      `SELECT nextval(pg_get_serial_sequence('external_accounts', 'id'))::int AS id`,
    );
    return id;
  }

  async insert(id: number, userId: number, provider: string, tokens: TokenColumns, profile: AccountProfile) {
    await queryRows(
      this.dataSource.manager,
      `INSERT INTO external_accounts (id, user_id, provider, display_name, email, access_token, refresh_token,
         scopes, token_expires_at, provider_metadata, version)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1)`,
      [
        id,
        userId,
        provider,
        profile.displayName ?? null,
        profile.email ?? null,
        tokens.accessToken,
        tokens.refreshToken,
        tokens.scopes,
        tokens.tokenExpiresAt,
        profile.providerMetadata ?? null,
      ],
    );
  }

  /** `providers`: only accounts of these providers (all when undefined). */
  list(userId: number, status?: AccountStatus, providers?: readonly string[]): Promise<ExternalAccount[]> {
    return this.dataSource.getRepository(ExternalAccount).find({
      where: {
        userId,
        ...(status === undefined ? {} : { status }),
        ...(providers === undefined ? {} : { provider: In([...providers]) }),
      },
      order: { id: 'ASC' },
    });
  }

  findOne(userId: number, id: number, manager = this.dataSource.manager): Promise<ExternalAccount | null> {
    return manager.getRepository(ExternalAccount).findOne({ where: { userId, id } });
  }

  /** `lock` takes the row for the rest of the manager's transaction. */
  async findTokenRow(userId: number, id: number, manager = this.dataSource.manager, lock = false) {
    const [row] = await queryRows<AccountTokenRow>(
      manager,
      `SELECT ${TOKEN_ROW_COLUMNS}, provider, status FROM external_accounts WHERE id = $1 AND user_id = $2${lock ? ' FOR UPDATE' : ''}`,
      [id, userId],
    );
    return row;
  }

  /**
   * Stores new tokens if the row is still at `version`; a scope of null keeps the stored one.
   * Returns false when another writer got there first.
   */
  async updateTokens(manager: EntityManager, row: TokenRow, tokens: TokenColumns): Promise<boolean> {
    // A write while a refresh holds the account is news to the callers waiting on that refresh.
    return this.writeTokensAt(manager, row, tokens, '', 'refresh_lease_owner IS NOT NULL');
  }

  async findRefreshRow(userId: number, id: number): Promise<RefreshRow | undefined> {
    const [row] = await queryRows<RefreshRow>(
      this.dataSource.manager,
      `SELECT ${REFRESH_ROW_COLUMNS} FROM external_accounts WHERE id = $1 AND user_id = $2`,
      [id, userId],
    );
    return row;
  }

  /**
   * The refresh lease, taken by one statement: only while the row is still at `version`, active,
   * and nobody holds an unexpired lease. No lock outlives the statement.
   */
  async takeRefreshLease(row: RefreshRow, owner: string, leaseSeconds: number): Promise<boolean> {
    const taken = await queryRows(
      this.dataSource.manager,
      `UPDATE external_accounts
          SET refresh_lease_owner = $1, refresh_lease_until = now() + make_interval(secs => $2::int)
        WHERE id = $3 AND user_id = $4 AND version = $5 AND status = 'active'
          AND (refresh_lease_owner IS NULL OR refresh_lease_until <= now())
        RETURNING id`,
      [owner, leaseSeconds, row.id, row.userId, row.version],
    );
    return taken.length === 1;
  }

  /** Stores refreshed tokens if the row is still at the version the refresh started from; ends the lease. */
  async storeRefreshed(row: RefreshRow, tokens: TokenColumns): Promise<boolean> {
    return this.writeTokensAt(
      this.dataSource.manager,
      row,
      tokens,
      `last_refreshed_at = now(), refresh_lease_owner = NULL, refresh_lease_until = NULL,
       refresh_error = NULL, refresh_error_at = NULL,`,
      'true',
    );
  }

  /**
   * The compare-and-set token write both paths share; `alsoSet` is fixed SQL of the caller's, and
   * `notifyWhen` a condition over the written row for announcing it on REFRESH_CHANNEL.
   */
  private async writeTokensAt(
    manager: EntityManager,
    row: Pick<TokenRow, 'id' | 'userId' | 'version'>,
    tokens: TokenColumns,
    alsoSet: string,
    notifyWhen: string,
  ): Promise<boolean> {
    const written = await queryRows(
      manager,
      notifyingEach(`UPDATE external_accounts
          SET access_token = $1, refresh_token = $2, scopes = COALESCE($3, scopes), token_expires_at = $4,
              version = version + 1, updated_at = CURRENT_TIMESTAMP, ${alsoSet} ${ACTIVE_AGAIN}
        WHERE id = $5 AND user_id = $6 AND version = $7 AND ${NOT_REVOKING}
        RETURNING id, ${notifyWhen} AS notify`),
      [
        tokens.accessToken,
        tokens.refreshToken,
        tokens.scopes,
        tokens.tokenExpiresAt,
        row.id,
        row.userId,
        row.version,
      ],
    );
    return written.length === 1;
  }

  /** The scope's accounts, and how many of them already carry `reason` (done by an earlier run). */
  async countGrantScope(scope: GrantScope, reason: string) {
    const [counts] = await queryRows<{ matched: number; marked: number }>(
      this.dataSource.manager,
      `SELECT count(*)::int AS matched, count(*) FILTER (WHERE ${MARKED})::int AS marked
         FROM external_accounts WHERE ${IN_GRANT_SCOPE}`,
      [scope.provider, scope.userId ?? null, scope.accountId ?? null, reason],
    );
    return counts;
  }

  /** The scope's accounts after `afterId` not yet marked with `reason`, in id order. */
  unmarkedInGrantScope(
    scope: GrantScope,
    reason: string,
    afterId: number,
    limit: number,
  ): Promise<RefreshCandidate[]> {
    return queryRows(
      this.dataSource.manager,
      `SELECT id, user_id AS "userId", provider FROM external_accounts
        WHERE ${IN_GRANT_SCOPE} AND NOT ${MARKED} AND id > $5
        ORDER BY id
        LIMIT $6`,
      [scope.provider, scope.userId ?? null, scope.accountId ?? null, reason, afterId, limit],
    );
  }

  /**
   * needs_reauth with a reason of this service's (`revoked_by_operator`), whatever the version:
   * true when this statement changed the account. A revoking account is left to its worker.
   */
  async markNeedsReauthFor(userId: number, id: number, reason: string): Promise<boolean> {
    const marked = await queryRows(
      this.dataSource.manager,
      `UPDATE external_accounts
          SET status = 'needs_reauth', status_reason = $1, status_changed_at = now()
        WHERE id = $2 AND user_id = $3 AND ${NOT_REVOKING}
          AND NOT (status = 'needs_reauth' AND status_reason = $1)
        RETURNING id`,
      [reason, id, userId],
    );
    return marked.length === 1;
  }

  /** True for the one writer that moved the account to needs_reauth: it alone tells the others. */
  async markNeedsReauth(row: RefreshRow, reason: string): Promise<boolean> {
    const marked = await queryRows(
      this.dataSource.manager,
      notifyingEach(`UPDATE external_accounts
          SET status = 'needs_reauth', status_reason = $1, status_changed_at = now(),
              refresh_lease_owner = NULL, refresh_lease_until = NULL
        WHERE id = $2 AND user_id = $3 AND version = $4 AND status = 'active'
        RETURNING id, true AS notify`),
      [reason, row.id, row.userId, row.version],
    );
    return marked.length === 1;
  }

  /** Gives the lease up after a failed refresh, recording the outcome for the callers waiting on it. */
  async releaseRefreshLease(row: RefreshRow, owner: string, errorCode: string): Promise<void> {
    await queryRows(
      this.dataSource.manager,
      notifyingEach(`UPDATE external_accounts
          SET refresh_lease_owner = NULL, refresh_lease_until = NULL, refresh_error = $1, refresh_error_at = now()
        WHERE id = $2 AND user_id = $3 AND refresh_lease_owner = $4
        RETURNING id, true AS notify`),
      [errorCode, row.id, row.userId, owner],
    );
  }

  /**
   * Active accounts of the given providers whose access token expires before `before`, oldest
   * expiry first; not those being refreshed, nor those whose last refresh failed within
   * `backoffSeconds` or succeeded within `restSeconds` (tokens shorter-lived than the window).
   */
  refreshAheadCandidates(
    providers: string[],
    before: Date,
    backoffSeconds: number,
    restSeconds: number,
    limit: number,
  ): Promise<RefreshCandidate[]> {
    return queryRows(
      this.dataSource.manager,
      `SELECT id, user_id AS "userId", provider FROM external_accounts
        WHERE status = 'active' AND token_expires_at IS NOT NULL AND token_expires_at < $1
          AND provider = ANY($2::text[])
          AND (refresh_lease_owner IS NULL OR refresh_lease_until <= now())
          AND (refresh_error_at IS NULL OR refresh_error_at < now() - make_interval(secs => $3::int))
          AND (last_refreshed_at IS NULL OR last_refreshed_at < now() - make_interval(secs => $4::int))
        ORDER BY token_expires_at, id
        LIMIT $5`,
      [before, providers, backoffSeconds, restSeconds, limit],
    );
  }

  /**
   * A disconnect whose first revocation got no answer: the account stops being served and waits
   * for the revocation worker, its tokens kept. False when it was already revoking, or is gone.
   */
  async markRevoking(userId: number, id: number, retry: RevocationRetry, giveUpHours: number) {
    const marked = await queryRows(
      this.dataSource.manager,
      `UPDATE external_accounts
          SET status = 'revoking', status_reason = NULL, status_changed_at = now(),
              revocation_attempts = 1, revocation_started_at = now(),
              revocation_next_at = now() + make_interval(secs => $1::int),
              revocation_give_up_at = now() + make_interval(hours => $2::int), revocation_error = $3
        WHERE id = $4 AND user_id = $5 AND ${NOT_REVOKING}
        RETURNING id`,
      [retry.afterSeconds, giveUpHours, retry.error, id, userId],
    );
    return marked.length === 1;
  }

  /** Revoking accounts, counted on the partial index of the revocations due. */
  async countRevoking(): Promise<number> {
    const [row] = await queryRows<{ count: number }>(
      this.dataSource.manager,
      `SELECT count(*)::int AS count FROM external_accounts WHERE status = 'revoking'`,
      [],
    );
    return row.count;
  }

  /** Revoking accounts whose next attempt is due, the longest waiting first. */
  dueRevocations(limit: number): Promise<DueRevocation[]> {
    return queryRows(
      this.dataSource.manager,
      `SELECT id, user_id AS "userId", provider, revocation_attempts AS attempts,
              (revocation_give_up_at <= now()) AS expired
         FROM external_accounts
        WHERE status = 'revoking' AND revocation_next_at <= now()
        ORDER BY revocation_next_at, id
        LIMIT $1`,
      [limit],
    );
  }

  /**
   * One more attempt failed: the next is due after `retry.afterSeconds`, never after the give-up
   * time (the account is abandoned on time). A compare-and-set on the attempts counted, so an
   * attempt is recorded once whoever else looked at the row.
   */
  async scheduleRevocation(row: DueRevocation, retry: RevocationRetry): Promise<boolean> {
    const scheduled = await queryRows(
      this.dataSource.manager,
      `UPDATE external_accounts
          SET revocation_attempts = revocation_attempts + 1, revocation_error = $1,
              revocation_next_at = LEAST(now() + make_interval(secs => $2::int), revocation_give_up_at)
        WHERE id = $3 AND user_id = $4 AND status = 'revoking' AND revocation_attempts = $5
        RETURNING id`,
      [retry.error, retry.afterSeconds, row.id, row.userId, row.attempts],
    );
    return scheduled.length === 1;
  }

  /** Deletes a revoking account; false when it is gone already (another worker, a DELETE ?revoke=false). */
  async deleteRevoking(userId: number, id: number): Promise<boolean> {
    const deleted = await queryRows(
      this.dataSource.manager,
      `DELETE FROM external_accounts WHERE id = $1 AND user_id = $2 AND status = 'revoking' RETURNING id`,
      [id, userId],
    );
    return deleted.length === 1;
  }

  async delete(userId: number, id: number): Promise<boolean> {
    const deleted = await queryRows(
      this.dataSource.manager,
      `DELETE FROM external_accounts WHERE id = $1 AND user_id = $2 RETURNING id`,
      [id, userId],
    );
    return deleted.length === 1;
  }

  /** One grouped query on the indexed column; never reads a token. */
  countByKeyId(manager: EntityManager = this.dataSource.manager): Promise<KeyIdCount[]> {
    return queryRows(
      manager,
      `SELECT token_key_id AS "keyId", count(*)::int AS accounts FROM external_accounts GROUP BY token_key_id`,
    );
  }

  async countOffKey(targetKeyId: string): Promise<number> {
    const [{ count }] = await queryRows<{ count: number }>(
      this.dataSource.manager,
      `SELECT count(*)::int AS count FROM external_accounts WHERE ${offTarget('token_key_id', '$1')}`,
      [targetKeyId],
    );
    return count;
  }

  /** The lowest and highest account ids, from the primary key; undefined without accounts. */
  async idRange(): Promise<{ first: number; last: number } | undefined> {
    const [range] = await queryRows<{ first: number | null; last: number | null }>(
      this.dataSource.manager,
      `SELECT min(id) AS first, max(id) AS last FROM external_accounts`,
    );
    return range.first === null || range.last === null ? undefined : { first: range.first, last: range.last };
  }

  /**
   * The next accounts after `cursor` and up to `throughId` (no bound when null), in id order,
   * that are not yet v3 envelopes under the target key.
   */
  offKeyAfter(
    cursor: number,
    throughId: number | null,
    targetKeyId: string,
    limit: number,
  ): Promise<TokenRow[]> {
    return this.dataSource.transaction(async (manager) => {
      await queryRows(manager, KEYSET_PLAN);
      return queryRows<TokenRow>(
        manager,
        `SELECT ${TOKEN_ROW_COLUMNS} FROM external_accounts
          WHERE id > $1 AND id <= $2 AND token_key_id <> $3
          ORDER BY id
          LIMIT $4`,
        [cursor, throughId ?? MAX_ID, targetKeyId, limit],
      );
    });
  }

  /**
   * Writes re-sealed envelopes in one statement. A row whose version moved was rewritten by a
   * token write since it was read (and so is already on the primary key): it is left alone. The
   * same tokens under another key are no token write, so `version` and `updated_at` stay as
   * they were and the versions callers hold for If-Match stay valid. Returns the rows written.
   */
  async writeResealed(manager: EntityManager, batch: ResealedColumns): Promise<number> {
    if (batch.ids.length === 0) return 0;
    await queryRows(manager, PLAN_WITHOUT_PARAMETERS);
    const written = await queryRows(
      manager,
      `UPDATE external_accounts AS a
          SET access_token = v.access_token, refresh_token = NULL
         FROM unnest($1::int[], $2::int[], string_to_array($3::text, $4::text)) AS v(id, version, access_token)
        WHERE a.id = v.id AND a.version = v.version
        RETURNING a.id`,
      [batch.ids, batch.versions, batch.accessTokens, ENVELOPE_SEPARATOR],
    );
    return written.length;
  }

  /**
   * Accounts a rotation job recorded as failed that are still sealed under `keyId` (v3 or v2
   * envelopes, or legacy v1 ones, which name no key and may need it): what a key incident
   * reports as not re-sealed.
   */
  async countFailedUnderKey(jobId: number, keyId: string): Promise<number> {
    const [{ count }] = await queryRows<{ count: number }>(
      this.dataSource.manager,
      `SELECT count(*)::int AS count
         FROM key_rotation_job_failures f JOIN external_accounts a ON a.id = f.account_id
        WHERE f.job_id = $1 AND a.token_key_id IN ($2::text, 'v2:' || $2::text, '${LEGACY_V1_KEY_ID}')`,
      [jobId, keyId],
    );
    return count;
  }

  /**
   * Accounts still off the target key after a pass, and how many of them the given rotation job
   * has not already recorded as failed (those are worth another pass).
   */
  async remainingOffKey(manager: EntityManager, jobId: number, targetKeyId: string) {
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
