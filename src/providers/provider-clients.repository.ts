import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { queryRows } from '../database/query-rows';
import type { ProviderClient } from './provider-client.entity';

/** A provider client's columns as a write stores them; the secret is already sealed. */
export type ProviderClientColumns = Omit<ProviderClient, 'provider' | 'version' | 'createdAt' | 'updatedAt'>;

/** The stored secret of a provider client and the version a re-sealing write expects. */
export interface ProviderSecretRow {
  provider: string;
  version: number;
  clientSecret: string;
}

const CLIENT_COLUMNS = `provider, token_url AS "tokenUrl", revocation_url AS "revocationUrl", client_id AS "clientId",
  client_auth AS "clientAuth", scope, authorization_url AS "authorizationUrl", issuer,
  issuer_sends_iss AS "issuerSendsIss", userinfo_url AS "userinfoUrl", scope_separator AS "scopeSeparator",
  authorization_params AS "authorizationParams", pkce, token_request_format AS "tokenRequestFormat",
  version, created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Every statement over `provider_clients`. */
@Injectable()
export class ProviderClientsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async upsert(provider: string, columns: ProviderClientColumns): Promise<ProviderClient> {
    const [row] = await queryRows<ProviderClient>(
      this.dataSource.manager,
      `INSERT INTO provider_clients (provider, token_url, revocation_url, client_id, client_secret, client_auth, scope,
         authorization_url, issuer, issuer_sends_iss, userinfo_url, scope_separator, authorization_params, pkce,
         token_request_format)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
       ON CONFLICT (provider) DO UPDATE
         SET token_url = EXCLUDED.token_url, revocation_url = EXCLUDED.revocation_url,
             client_id = EXCLUDED.client_id, client_secret = EXCLUDED.client_secret,
             client_auth = EXCLUDED.client_auth, scope = EXCLUDED.scope,
             authorization_url = EXCLUDED.authorization_url, issuer = EXCLUDED.issuer,
             issuer_sends_iss = EXCLUDED.issuer_sends_iss, userinfo_url = EXCLUDED.userinfo_url,
             scope_separator = EXCLUDED.scope_separator, authorization_params = EXCLUDED.authorization_params,
             pkce = EXCLUDED.pkce, token_request_format = EXCLUDED.token_request_format,
             version = provider_clients.version + 1, updated_at = now()
       RETURNING ${CLIENT_COLUMNS}`,
      [
        provider,
        columns.tokenUrl,
        columns.revocationUrl,
        columns.clientId,
        columns.clientSecret,
        columns.clientAuth,
        columns.scope,
        columns.authorizationUrl,
        columns.issuer,
        columns.issuerSendsIss,
        columns.userinfoUrl,
        columns.scopeSeparator,
        columns.authorizationParams === null ? null : JSON.stringify(columns.authorizationParams),
        columns.pkce,
        columns.tokenRequestFormat,
      ],
    );
    return row;
  }

  list(): Promise<ProviderClient[]> {
    return queryRows(
      this.dataSource.manager,
      `SELECT ${CLIENT_COLUMNS} FROM provider_clients ORDER BY provider`,
    );
  }

  async find(provider: string): Promise<ProviderClient | undefined> {
    const [row] = await queryRows<ProviderClient>(
      this.dataSource.manager,
      `SELECT ${CLIENT_COLUMNS} FROM provider_clients WHERE provider = $1`,
      [provider],
    );
    return row;
  }

  async findSecret(provider: string): Promise<ProviderSecretRow | undefined> {
    const [row] = await this.secrets(this.dataSource.manager, provider);
    return row;
  }

  /** Every stored secret (or the one of `provider`): few rows, one per provider. */
  secrets(manager: EntityManager = this.dataSource.manager, provider?: string): Promise<ProviderSecretRow[]> {
    return queryRows(
      manager,
      `SELECT provider, version, client_secret AS "clientSecret" FROM provider_clients
        WHERE $1::text IS NULL OR provider = $1 ORDER BY provider`,
      [provider ?? null],
    );
  }

  /** Compare-and-set on `version`, which it leaves as it is: the same secret under another key. */
  async writeResealed(
    manager: EntityManager,
    row: ProviderSecretRow,
    clientSecret: string,
  ): Promise<boolean> {
    const written = await queryRows(
      manager,
      `UPDATE provider_clients SET client_secret = $1 WHERE provider = $2 AND version = $3 RETURNING provider`,
      [clientSecret, row.provider, row.version],
    );
    return written.length === 1;
  }

  async delete(provider: string): Promise<boolean> {
    const deleted = await queryRows(
      this.dataSource.manager,
      `DELETE FROM provider_clients WHERE provider = $1 RETURNING provider`,
      [provider],
    );
    return deleted.length === 1;
  }

  /** The providers that have a client, for the refresh-ahead job's selection. */
  async providers(): Promise<string[]> {
    const rows = await queryRows<{ provider: string }>(
      this.dataSource.manager,
      `SELECT provider FROM provider_clients ORDER BY provider`,
    );
    return rows.map((row) => row.provider);
  }
}
