import type { MigrationInterface, QueryRunner } from 'typeorm';

const CREATED_MARKER = 'created by connectors-backend';

/**
 * Creates `external_accounts` with the original service's DDL, or adopts the table that service
 * already made: adds `version` and `token_key_id` and backfills the key id without decrypting
 * (legacy v1 envelopes are marked as such, anything else as plaintext).
 */
export class AdoptExternalAccounts1764300000000 implements MigrationInterface {
  name = 'AdoptExternalAccounts1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE IF NOT EXISTS external_accounts (
        id SERIAL PRIMARY KEY,
        user_id INTEGER NOT NULL,
        provider TEXT NOT NULL,
        display_name TEXT,
        email TEXT,
        access_token TEXT,
        refresh_token TEXT,
        scopes TEXT,
        token_expires_at TIMESTAMP NULL,
        provider_metadata JSONB,
        created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
      )`);
    const [{ comment }] = await queryRunner.query(
      `SELECT obj_description('external_accounts'::regclass, 'pg_class') AS comment`,
    );
    const adopted = (await queryRunner.query(`SELECT 1 FROM external_accounts LIMIT 1`)).length > 0;
    if (comment === null && !adopted) {
      await queryRunner.query(`COMMENT ON TABLE external_accounts IS '${CREATED_MARKER}'`);
    }
    await queryRunner.query(
      `ALTER TABLE external_accounts ADD COLUMN IF NOT EXISTS version INTEGER NOT NULL DEFAULT 1`,
    );
    await queryRunner.query(
      `ALTER TABLE external_accounts ADD COLUMN IF NOT EXISTS token_key_id VARCHAR(32)`,
    );
    await queryRunner.query(`
      UPDATE external_accounts
         SET token_key_id = CASE
               WHEN access_token ~ '^\\s*\\{.*"_enc"\\s*:\\s*"aesgcm:v1"' THEN 'legacy-v1'
               ELSE 'plaintext'
             END
       WHERE token_key_id IS NULL`);
    await queryRunner.query(
      `ALTER TABLE external_accounts ALTER COLUMN token_key_id SET DEFAULT 'plaintext'`,
    );
    await queryRunner.query(`ALTER TABLE external_accounts ALTER COLUMN token_key_id SET NOT NULL`);
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS ix_external_accounts_user_id ON external_accounts (user_id)`,
    );
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS ix_external_accounts_token_key_id ON external_accounts (token_key_id, id)`,
    );
  }

  /** Removes what this migration added; drops the table only if this service created it. */
  async down(queryRunner: QueryRunner): Promise<void> {
    const [{ comment }] = await queryRunner.query(
      `SELECT obj_description('external_accounts'::regclass, 'pg_class') AS comment`,
    );
    if (comment === CREATED_MARKER) {
      await queryRunner.query(`DROP TABLE external_accounts`);
      return;
    }
    await queryRunner.query(`DROP INDEX IF EXISTS ix_external_accounts_token_key_id`);
    await queryRunner.query(`DROP INDEX IF EXISTS ix_external_accounts_user_id`);
    await queryRunner.query(`ALTER TABLE external_accounts DROP COLUMN IF EXISTS token_key_id`);
    await queryRunner.query(`ALTER TABLE external_accounts DROP COLUMN IF EXISTS version`);
  }
}
