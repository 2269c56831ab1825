import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per key believed leaked: how the incident started (the counts sealed under the key
 * then), the replacement key it added (registry mode), the rotation job it runs, and when it
 * ended. The replacement is written in the transaction that adds the key, so a rerun after a
 * crash promotes that key instead of adding another.
 */
export class CreateKeyIncidents1764710000000 implements MigrationInterface {
  name = 'CreateKeyIncidents1764710000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE key_incidents (
        key_id TEXT NOT NULL CONSTRAINT pk_key_incidents PRIMARY KEY,
        mode TEXT NOT NULL CONSTRAINT ck_key_incidents_mode CHECK (mode IN ('env', 'registry')),
        replacement_key_id TEXT,
        rotation_job_id INTEGER
          CONSTRAINT fk_key_incidents_rotation_job REFERENCES key_rotation_jobs (id) ON DELETE SET NULL,
        accounts_matched INTEGER NOT NULL,
        provider_secrets_matched INTEGER NOT NULL,
        connect_sessions_ended INTEGER NOT NULL DEFAULT 0,
        last_error_code TEXT,
        started_by TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        finished_at TIMESTAMPTZ
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE key_incidents`);
  }
}
