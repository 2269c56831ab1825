import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Token refresh at the provider: the provider clients (client secret sealed), each account's
 * status and refresh lease, and the lease that lets one instance at a time run refresh-ahead.
 */
export class AddTokenRefresh1764400000000 implements MigrationInterface {
  name = 'AddTokenRefresh1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE provider_clients (
        provider TEXT CONSTRAINT pk_provider_clients PRIMARY KEY,
        token_url TEXT NOT NULL,
        revocation_url TEXT,
        client_id TEXT NOT NULL,
        client_secret TEXT NOT NULL,
        client_auth TEXT NOT NULL CONSTRAINT ck_provider_clients_client_auth
          CHECK (client_auth IN ('client_secret_basic', 'client_secret_post')),
        scope TEXT,
        version INTEGER NOT NULL DEFAULT 1,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`
      ALTER TABLE external_accounts
        ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
          CONSTRAINT ck_external_accounts_status CHECK (status IN ('active', 'needs_reauth')),
        ADD COLUMN status_reason TEXT,
        ADD COLUMN status_changed_at TIMESTAMPTZ,
        ADD COLUMN last_refreshed_at TIMESTAMPTZ,
        ADD COLUMN refresh_lease_owner TEXT,
        ADD COLUMN refresh_lease_until TIMESTAMPTZ,
        ADD COLUMN refresh_error TEXT,
        ADD COLUMN refresh_error_at TIMESTAMPTZ`);
    await queryRunner.query(
      `CREATE INDEX ix_external_accounts_refresh_ahead ON external_accounts (token_expires_at, id)
        WHERE status = 'active' AND token_expires_at IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX ix_external_accounts_user_status ON external_accounts (user_id, status)`,
    );
    await queryRunner.query(`
      CREATE TABLE job_leases (
        name TEXT CONSTRAINT pk_job_leases PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE job_leases`);
    await queryRunner.query(`DROP INDEX ix_external_accounts_user_status`);
    await queryRunner.query(`DROP INDEX ix_external_accounts_refresh_ahead`);
    await queryRunner.query(`
      ALTER TABLE external_accounts
        DROP COLUMN refresh_error_at, DROP COLUMN refresh_error, DROP COLUMN refresh_lease_until,
        DROP COLUMN refresh_lease_owner, DROP COLUMN last_refreshed_at, DROP COLUMN status_changed_at,
        DROP COLUMN status_reason, DROP COLUMN status`);
    await queryRunner.query(`DROP TABLE provider_clients`);
  }
}
