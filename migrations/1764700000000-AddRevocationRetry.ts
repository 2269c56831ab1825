import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A disconnect whose revocation the provider did not answer: the account becomes `revoking`,
 * keeps its sealed tokens, and the revocation worker tries again at `revocation_next_at` until
 * `revocation_give_up_at`. The columns hold times, a count and an error code, never a token.
 */
export class AddRevocationRetry1764700000000 implements MigrationInterface {
  name = 'AddRevocationRetry1764700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE external_accounts
        DROP CONSTRAINT ck_external_accounts_status,
        ADD CONSTRAINT ck_external_accounts_status CHECK (status IN ('active', 'needs_reauth', 'revoking')),
        ADD COLUMN revocation_attempts INTEGER,
        ADD COLUMN revocation_started_at TIMESTAMPTZ,
        ADD COLUMN revocation_next_at TIMESTAMPTZ,
        ADD COLUMN revocation_give_up_at TIMESTAMPTZ,
        ADD COLUMN revocation_error TEXT,
        ADD CONSTRAINT ck_external_accounts_revoking CHECK (
          status <> 'revoking' OR (
            revocation_attempts IS NOT NULL AND revocation_started_at IS NOT NULL
            AND revocation_next_at IS NOT NULL AND revocation_give_up_at IS NOT NULL))`);
    await queryRunner.query(
      `CREATE INDEX ix_external_accounts_revocation_due ON external_accounts (revocation_next_at, id)
        WHERE status = 'revoking'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX ix_external_accounts_revocation_due`);
    // A revoking account goes back to what it was before the disconnect: active, tokens kept.
    await queryRunner.query(
      `UPDATE external_accounts SET status = 'active', status_reason = NULL WHERE status = 'revoking'`,
    );
    await queryRunner.query(`
      ALTER TABLE external_accounts
        DROP CONSTRAINT ck_external_accounts_revoking,
        DROP COLUMN revocation_error, DROP COLUMN revocation_give_up_at, DROP COLUMN revocation_next_at,
        DROP COLUMN revocation_started_at, DROP COLUMN revocation_attempts,
        DROP CONSTRAINT ck_external_accounts_status,
        ADD CONSTRAINT ck_external_accounts_status CHECK (status IN ('active', 'needs_reauth'))`);
  }
}
