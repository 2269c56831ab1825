import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { queryRows } from '../database/query-rows';
import type { CallerScope } from './caller';
import type { ServiceClientSecret } from './service-client-secret.entity';
import type { ServiceClient } from './service-client.entity';

/** A caller as listed: its columns and when any of its secrets was last used. */
export type CallerRow = ServiceClient & { lastUsedAt: Date | null };

/** An active secret as listed: never its digest. */
export type SecretRow = Pick<
  ServiceClientSecret,
  'id' | 'clientId' | 'prefix' | 'createdAt' | 'expiresAt' | 'lastUsedAt'
>;

/** The secret found by a prefix, with its caller, for the guard. */
export interface SecretMatch {
  secretId: number;
  /** Null once retired. */
  digest: string | null;
  clientId: number;
  name: string;
  scopes: CallerScope[];
  providers: string[] | null;
  disabled: boolean;
  /** By the database's clock: null when the secret does not expire, negative once it has. */
  expiresInMs: number | null;
}

export interface NewClient {
  name: string;
  scopes: CallerScope[];
  providers: string[] | null;
  createdBy: string;
}

const CLIENT_COLUMNS = `c.id, c.name, c.scopes, c.providers, c.created_at AS "createdAt", c.created_by AS "createdBy",
  c.disabled_at AS "disabledAt", c.disabled_by AS "disabledBy",
  (SELECT max(s.last_used_at) FROM service_client_secrets s WHERE s.client_id = c.id) AS "lastUsedAt"`;

/** Unretired and not past the end of its overlap, by the database's clock. */
const ACTIVE = `retired_at IS NULL AND (expires_at IS NULL OR expires_at > now())`;

const RETIRE = `retired_at = now(), digest = NULL`;

/**
 * Every statement over `service_clients` and `service_client_secrets` (a caller and its secrets
 * are one record). A secret is found by its prefix, one index lookup, never by a scan.
 */
@Injectable()
export class ServiceClientsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  async insertClient(manager: EntityManager, client: NewClient): Promise<number> {
    const [{ id }] = await queryRows<{ id: number }>(
      manager,
      `INSERT INTO service_clients (name, scopes, providers, created_by) VALUES ($1, $2::text[], $3::text[], $4)
       RETURNING id`,
      [client.name, client.scopes, client.providers, client.createdBy],
    );
    return id;
  }

  /** `lock` holds the caller's row for the rest of the transaction: one change to its secrets at a time. */
  async findClient(
    name: string,
    manager = this.dataSource.manager,
    lock = false,
  ): Promise<CallerRow | undefined> {
    const [row] = await queryRows<CallerRow>(
      manager,
      `SELECT ${CLIENT_COLUMNS} FROM service_clients c WHERE c.name = $1${lock ? ' FOR UPDATE OF c' : ''}`,
      [name],
    );
    return row;
  }

  listClients(): Promise<CallerRow[]> {
    return queryRows<CallerRow>(
      this.dataSource.manager,
      `SELECT ${CLIENT_COLUMNS} FROM service_clients c ORDER BY c.name`,
    );
  }

  /** The active secrets of the given callers, oldest first. */
  activeSecrets(clientIds: number[], manager = this.dataSource.manager): Promise<SecretRow[]> {
    return queryRows<SecretRow>(
      manager,
      `SELECT id, client_id AS "clientId", prefix, created_at AS "createdAt", expires_at AS "expiresAt",
              last_used_at AS "lastUsedAt"
         FROM service_client_secrets WHERE client_id = ANY($1::int[]) AND ${ACTIVE}
        ORDER BY created_at, id`,
      [clientIds],
    );
  }

  /** Undefined when another secret has the prefix already. */
  async insertSecret(
    manager: EntityManager,
    clientId: number,
    prefix: string,
    digest: string,
  ): Promise<number | undefined> {
    const [row] = await queryRows<{ id: number }>(
      manager,
      `INSERT INTO service_client_secrets (client_id, prefix, digest) VALUES ($1, $2, $3)
       ON CONFLICT (prefix) DO NOTHING RETURNING id`,
      [clientId, prefix, digest],
    );
    return row?.id;
  }

  /** Secrets whose overlap has ended lose their digest. */
  async retireExpired(manager: EntityManager, clientId: number): Promise<void> {
    await queryRows(
      manager,
      `UPDATE service_client_secrets SET ${RETIRE}
        WHERE client_id = $1 AND retired_at IS NULL AND expires_at <= now() RETURNING id`,
      [clientId],
    );
  }

  /** Secrets of any caller whose overlap has ended lose their digest; returns how many. */
  async retireAllExpired(): Promise<number> {
    const retired = await queryRows(
      this.dataSource.manager,
      `UPDATE service_client_secrets SET ${RETIRE} WHERE retired_at IS NULL AND expires_at <= now() RETURNING id`,
    );
    return retired.length;
  }

  /** Every other unretired secret of the caller keeps working for `hours` more. */
  async expireOthers(manager: EntityManager, clientId: number, keepId: number, hours: number): Promise<void> {
    await queryRows(
      manager,
      `UPDATE service_client_secrets SET expires_at = now() + make_interval(hours => $3::int)
        WHERE client_id = $1 AND id <> $2 AND retired_at IS NULL RETURNING id`,
      [clientId, keepId, hours],
    );
  }

  /** Retires every unretired secret of the caller but `keepId` (all of them when null); returns how many. */
  async retireOthers(manager: EntityManager, clientId: number, keepId: number | null): Promise<number> {
    const retired = await queryRows(
      manager,
      `UPDATE service_client_secrets SET ${RETIRE}
        WHERE client_id = $1 AND retired_at IS NULL AND ($2::int IS NULL OR id <> $2::int) RETURNING id`,
      [clientId, keepId],
    );
    return retired.length;
  }

  async markDisabled(manager: EntityManager, clientId: number, actor: string): Promise<void> {
    await queryRows(
      manager,
      `UPDATE service_clients SET disabled_at = now(), disabled_by = $2
        WHERE id = $1 AND disabled_at IS NULL RETURNING id`,
      [clientId, actor],
    );
  }

  async findSecret(prefix: string): Promise<SecretMatch | undefined> {
    const [row] = await queryRows<SecretMatch>(
      this.dataSource.manager,
      `SELECT s.id AS "secretId", s.digest, c.id AS "clientId", c.name, c.scopes, c.providers,
              (c.disabled_at IS NOT NULL) AS disabled,
              (EXTRACT(EPOCH FROM (s.expires_at - now())) * 1000)::float8 AS "expiresInMs"
         FROM service_client_secrets s JOIN service_clients c ON c.id = s.client_id
        WHERE s.prefix = $1`,
      [prefix],
    );
    return row;
  }

  async touch(secretId: number): Promise<void> {
    await queryRows(
      this.dataSource.manager,
      `UPDATE service_client_secrets SET last_used_at = now() WHERE id = $1 RETURNING id`,
      [secretId],
    );
  }
}
