import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The audit trail of every admin request, allowed or refused. */
export class CreateAdminAuditEvents1764300002000 implements MigrationInterface {
  name = 'CreateAdminAuditEvents1764300002000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE admin_audit_events (
        id BIGSERIAL CONSTRAINT pk_admin_audit_events PRIMARY KEY,
        occurred_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        action TEXT NOT NULL,
        outcome TEXT NOT NULL CONSTRAINT ck_admin_audit_events_outcome
          CHECK (outcome IN ('allowed', 'unauthorized', 'forbidden', 'rate_limited', 'rejected', 'failed')),
        status_code INTEGER NOT NULL,
        actor TEXT,
        request_id TEXT
      )`);
    await queryRunner.query(
      `CREATE INDEX ix_admin_audit_events_occurred_at ON admin_audit_events (occurred_at DESC, id DESC)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE admin_audit_events`);
  }
}
