import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { queryRows } from '../database/query-rows';
import type { ConnectSession, ConnectStatus } from './connect-session.entity';

/** A session as the routes read it: never the digests or the sealed verifier. */
export type ConnectSessionRow = Omit<
  ConnectSession,
  'linkHash' | 'stateHash' | 'browserHash' | 'codeVerifier'
>;

/** A session taken by its callback, with the verifier it held. */
export interface TakenSession extends ConnectSessionRow {
  codeVerifier: string | null;
}

export interface NewConnectSession {
  id: string;
  userId: number;
  provider: string;
  accountId: number | null;
  scope: string | null;
  returnTo: string | null;
  linkHash: string;
  ttlSeconds: number;
}

/** Sealed verifiers of running sessions, for the key inventory; nothing is decrypted. */
export interface SealedVerifierRow {
  id: string;
  codeVerifier: string;
}

const SESSION_COLUMNS = `s.id, s.user_id AS "userId", s.provider, s.account_id AS "accountId", s.reconnect, s.scope,
  s.return_to AS "returnTo", s.status, s.error, s.expires_at AS "expiresAt", s.created_at AS "createdAt",
  s.updated_at AS "updatedAt"`;

/** What ends a session: its one-time values and its verifier go. */
const SECRETS_CLEARED = `link_hash = NULL, state_hash = NULL, browser_hash = NULL, code_verifier = NULL, updated_at = now()`;

/** How long the outcome of an ended session stays readable for callers that poll. */
const KEEP_OUTCOME = `interval '1 day'`;

/** Every statement over `connect_sessions`. */
@Injectable()
export class ConnectSessionsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async insert(session: NewConnectSession): Promise<ConnectSessionRow> {
    const [row] = await queryRows<ConnectSessionRow>(
      this.dataSource.manager,
      `INSERT INTO connect_sessions AS s (id, user_id, provider, account_id, reconnect, scope, return_to, link_hash, expires_at)
       VALUES ($1, $2, $3, $4, $4::int IS NOT NULL, $5, $6, $7, now() + make_interval(secs => $8::int))
       RETURNING ${SESSION_COLUMNS}`,
      [
        session.id,
        session.userId,
        session.provider,
        session.accountId,
        session.scope,
        session.returnTo,
        session.linkHash,
        session.ttlSeconds,
      ],
    );
    return row;
  }

  async find(userId: number, id: string): Promise<ConnectSessionRow | undefined> {
    const [row] = await queryRows<ConnectSessionRow>(
      this.dataSource.manager,
      `SELECT ${SESSION_COLUMNS} FROM connect_sessions s WHERE s.id = $1 AND s.user_id = $2`,
      [id, userId],
    );
    return row;
  }

  /** The pending session a link names, still within its time; the link itself is not yet spent. */
  async findByLink(linkHash: string): Promise<(ConnectSessionRow & { live: boolean }) | undefined> {
    const [row] = await queryRows<ConnectSessionRow & { live: boolean }>(
      this.dataSource.manager,
      `SELECT ${SESSION_COLUMNS}, s.expires_at > now() AS live FROM connect_sessions s
        WHERE s.link_hash = $1 AND s.status = 'pending'`,
      [linkHash],
    );
    return row;
  }

  /** Spends the link once: only the first of concurrent opens finds it pending. */
  async open(
    id: string,
    linkHash: string,
    stateHash: string,
    browserHash: string,
    codeVerifier: string | null,
  ) {
    const opened = await queryRows<ConnectSessionRow>(
      this.dataSource.manager,
      `UPDATE connect_sessions s SET status = 'opened', link_hash = NULL, state_hash = $3, browser_hash = $4,
              code_verifier = $5, updated_at = now()
        WHERE s.id = $1 AND s.link_hash = $2 AND s.status = 'pending' AND s.expires_at > now()
        RETURNING ${SESSION_COLUMNS}`,
      [id, linkHash, stateHash, browserHash, codeVerifier],
    );
    return opened[0];
  }

  /**
   * Takes the session of `stateHash` once: only with one of the browser digests presented, within
   * its time. Its one-time values and verifier are cleared by the same statement, so a replayed or
   * concurrent callback finds nothing; the verifier comes back from the row as it was.
   */
  async take(stateHash: string, browserHashes: string[]): Promise<TakenSession | undefined> {
    const [row] = await queryRows<TakenSession>(
      this.dataSource.manager,
      `UPDATE connect_sessions s SET ${SECRETS_CLEARED}
         FROM (SELECT id, code_verifier FROM connect_sessions
                WHERE state_hash = $1 AND browser_hash = ANY($2::text[]) AND status = 'opened' AND expires_at > now()
                FOR UPDATE) taken
        WHERE s.id = taken.id AND s.state_hash = $1
        RETURNING ${SESSION_COLUMNS}, taken.code_verifier AS "codeVerifier"`,
      [stateHash, browserHashes],
    );
    return row;
  }

  /** Why `take` found nothing for a state that names a session: expired, or another browser. */
  async findByState(stateHash: string): Promise<(ConnectSessionRow & { live: boolean }) | undefined> {
    const [row] = await queryRows<ConnectSessionRow & { live: boolean }>(
      this.dataSource.manager,
      `SELECT ${SESSION_COLUMNS}, s.expires_at > now() AS live FROM connect_sessions s WHERE s.state_hash = $1`,
      [stateHash],
    );
    return row;
  }

  /** Ends a session with its outcome; a session that already ended keeps the first one. */
  async finish(id: string, status: ConnectStatus, error: string | null, accountId?: number) {
    await queryRows(
      this.dataSource.manager,
      `UPDATE connect_sessions SET status = $2, error = $3, account_id = COALESCE($4, account_id), ${SECRETS_CLEARED}
        WHERE id = $1 AND status IN ('pending', 'opened')`,
      [id, status, error, accountId ?? null],
    );
  }

  /** Ends the running sessions among `ids` as failed with `error`; returns how many it ended. */
  async endRunning(ids: string[], error: string): Promise<number> {
    if (ids.length === 0) return 0;
    const ended = await queryRows(
      this.dataSource.manager,
      `UPDATE connect_sessions SET status = 'failed', error = $2, ${SECRETS_CLEARED}
        WHERE id = ANY($1::uuid[]) AND status IN ('pending', 'opened') RETURNING id`,
      [ids, error],
    );
    return ended.length;
  }

  /** Sessions past their time end `expired`; outcomes older than a day are deleted. */
  async expire(manager: EntityManager = this.dataSource.manager): Promise<void> {
    await queryRows(
      manager,
      `UPDATE connect_sessions SET status = 'expired', error = 'connect_session_expired', ${SECRETS_CLEARED}
        WHERE status IN ('pending', 'opened') AND expires_at <= now()`,
    );
    await queryRows(manager, `DELETE FROM connect_sessions WHERE expires_at < now() - ${KEEP_OUTCOME}`);
  }

  sealedVerifiers(manager: EntityManager = this.dataSource.manager): Promise<SealedVerifierRow[]> {
    return queryRows(
      manager,
      `SELECT id, code_verifier AS "codeVerifier" FROM connect_sessions WHERE code_verifier IS NOT NULL`,
    );
  }
}
