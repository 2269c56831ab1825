import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per token read through the service routes: who read (the caller's name), whose
 * account, through which route, and what came of it (served, refreshed, or refused with a code).
 * Never a token. Indexed for "who read this account", "what did this caller read" and by time.
 */
export class CreateTokenReadAudit1764720001000 implements MigrationInterface {
  name = 'CreateTokenReadAudit1764720001000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE token_read_audit (
        id BIGSERIAL CONSTRAINT pk_token_read_audit PRIMARY KEY,
        occurred_at TIMESTAMPTZ NOT NULL,
        caller TEXT NOT NULL,
        user_id INTEGER,
        account_id INTEGER,
        provider TEXT,
        route TEXT NOT NULL,
        outcome TEXT NOT NULL
          CONSTRAINT ck_token_read_audit_outcome CHECK (outcome IN ('served', 'refreshed', 'refused')),
        code TEXT,
        request_id TEXT,
        CONSTRAINT ck_token_read_audit_code CHECK ((outcome = 'refused') = (code IS NOT NULL))
      )`);
    await queryRunner.query(
      `CREATE INDEX ix_token_read_audit_occurred_at ON token_read_audit (occurred_at DESC, id DESC)`,
    );
    await queryRunner.query(
      `CREATE INDEX ix_token_read_audit_account_id ON token_read_audit (account_id, occurred_at DESC, id DESC)`,
    );
    await queryRunner.query(
      `CREATE INDEX ix_token_read_audit_user_id ON token_read_audit (user_id, occurred_at DESC, id DESC)`,
    );
    await queryRunner.query(
      `CREATE INDEX ix_token_read_audit_caller ON token_read_audit (caller, occurred_at DESC, id DESC)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE token_read_audit`);
  }
}
