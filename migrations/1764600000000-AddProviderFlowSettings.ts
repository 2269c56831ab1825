import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a provider client needs for the authorization-code flow: the authorize endpoint, the
 * issuer (and whether it sends `iss` in authorization responses, RFC 9207), userinfo, how scopes
 * are joined, extra authorize parameters, PKCE, and how the token endpoint takes its requests.
 */
export class AddProviderFlowSettings1764600000000 implements MigrationInterface {
  name = 'AddProviderFlowSettings1764600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE provider_clients
        ADD COLUMN authorization_url TEXT,
        ADD COLUMN issuer TEXT,
        ADD COLUMN issuer_sends_iss BOOLEAN NOT NULL DEFAULT false,
        ADD COLUMN userinfo_url TEXT,
        ADD COLUMN scope_separator TEXT NOT NULL DEFAULT ' '
          CONSTRAINT ck_provider_clients_scope_separator CHECK (scope_separator IN (' ', ',')),
        ADD COLUMN authorization_params JSONB,
        ADD COLUMN pkce TEXT NOT NULL DEFAULT 'S256'
          CONSTRAINT ck_provider_clients_pkce CHECK (pkce IN ('S256', 'none')),
        ADD COLUMN token_request_format TEXT NOT NULL DEFAULT 'form'
          CONSTRAINT ck_provider_clients_token_request_format CHECK (token_request_format IN ('form', 'json'))`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE provider_clients
        DROP COLUMN token_request_format,
        DROP COLUMN pkce,
        DROP COLUMN authorization_params,
        DROP COLUMN scope_separator,
        DROP COLUMN userinfo_url,
        DROP COLUMN issuer_sends_iss,
        DROP COLUMN issuer,
        DROP COLUMN authorization_url`);
  }
}
