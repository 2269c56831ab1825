import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per connect session. The link's one-time value, the `state` and the browser binding
 * are stored as SHA-256 digests; the PKCE verifier as an envelope bound to the session. All four
 * are cleared when the session ends; the row keeps the outcome for callers that poll.
 */
export class CreateConnectSessions1764600001000 implements MigrationInterface {
  name = 'CreateConnectSessions1764600001000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE connect_sessions (
        id UUID NOT NULL CONSTRAINT pk_connect_sessions PRIMARY KEY,
        user_id INTEGER NOT NULL,
        provider TEXT NOT NULL,
        account_id INTEGER,
        reconnect BOOLEAN NOT NULL DEFAULT false,
        scope TEXT,
        return_to TEXT,
        status TEXT NOT NULL DEFAULT 'pending'
          CONSTRAINT ck_connect_sessions_status
          CHECK (status IN ('pending', 'opened', 'connected', 'denied', 'failed', 'expired')),
        error TEXT,
        link_hash TEXT,
        state_hash TEXT,
        browser_hash TEXT,
        code_verifier TEXT,
        expires_at TIMESTAMPTZ NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX ux_connect_sessions_link_hash ON connect_sessions (link_hash) WHERE link_hash IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX ux_connect_sessions_state_hash ON connect_sessions (state_hash) WHERE state_hash IS NOT NULL`,
    );
    await queryRunner.query(`CREATE INDEX ix_connect_sessions_expires_at ON connect_sessions (expires_at)`);
    await queryRunner.query(`CREATE INDEX ix_connect_sessions_user_id ON connect_sessions (user_id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE connect_sessions`);
  }
}
