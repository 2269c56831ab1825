import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Lets the audit trail record a flood of refusals as one row per kind, address and window:
 * `count` requests from `occurred_at` to `last_occurred_at`. Every row gains the client address.
 */
export class CoalesceAuditRefusals1764350000000 implements MigrationInterface {
  name = 'CoalesceAuditRefusals1764350000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE admin_audit_events
        ADD COLUMN client_address TEXT,
        ADD COLUMN count INTEGER NOT NULL DEFAULT 1 CONSTRAINT ck_admin_audit_events_count CHECK (count >= 1),
        ADD COLUMN last_occurred_at TIMESTAMPTZ`);
    await queryRunner.query(
      `CREATE INDEX ix_admin_audit_events_outcome ON admin_audit_events (outcome, id DESC)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX ix_admin_audit_events_outcome`);
    await queryRunner.query(`
      ALTER TABLE admin_audit_events
        DROP COLUMN client_address, DROP COLUMN count, DROP COLUMN last_occurred_at`);
  }
}
