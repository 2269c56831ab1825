import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Key rotation jobs and the accounts each job could not rotate. The partial unique index over a
 * constant lets the database, not a prior check, refuse a second active job.
 */
export class CreateKeyRotationJobs1764300001000 implements MigrationInterface {
  name = 'CreateKeyRotationJobs1764300001000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE key_rotation_jobs (
        id SERIAL CONSTRAINT pk_key_rotation_jobs PRIMARY KEY,
        status VARCHAR(32) NOT NULL DEFAULT 'pending',
        dry_run BOOLEAN NOT NULL DEFAULT false,
        batch_size INTEGER NOT NULL,
        target_key_id VARCHAR(32) NOT NULL,
        cursor INTEGER NOT NULL DEFAULT 0,
        pass INTEGER NOT NULL DEFAULT 1,
        total_estimate INTEGER NOT NULL DEFAULT 0,
        scanned INTEGER NOT NULL DEFAULT 0,
        rotated INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        failures JSONB NOT NULL DEFAULT '[]'::jsonb,
        lease_owner VARCHAR(128),
        lease_expires_at TIMESTAMPTZ,
        requested_by VARCHAR(200) NOT NULL,
        last_error_code VARCHAR(64),
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        CONSTRAINT ck_key_rotation_jobs_status CHECK (status IN
          ('pending', 'running', 'cancelling', 'cancelled', 'completed', 'completed_with_errors', 'failed')),
        CONSTRAINT ck_key_rotation_jobs_batch_size CHECK (batch_size BETWEEN 1 AND 10000),
        CONSTRAINT ck_key_rotation_jobs_counts CHECK (cursor >= 0 AND pass >= 1 AND scanned >= 0
          AND rotated >= 0 AND skipped >= 0 AND failed >= 0),
        CONSTRAINT ck_key_rotation_jobs_failures CHECK (jsonb_typeof(failures) = 'array')
      )`);
    await queryRunner.query(`
      CREATE UNIQUE INDEX ux_key_rotation_jobs_one_active ON key_rotation_jobs ((true))
       WHERE status IN ('pending', 'running', 'cancelling')`);
    // Every failed account of a job, so a later pass does not count a known failure twice;
    // the job row keeps only a bounded sample for display.
    await queryRunner.query(`
      CREATE TABLE key_rotation_job_failures (
        job_id INTEGER NOT NULL CONSTRAINT fk_key_rotation_job_failures_job
          REFERENCES key_rotation_jobs (id) ON DELETE CASCADE,
        account_id INTEGER NOT NULL,
        reason_code VARCHAR(64) NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        CONSTRAINT pk_key_rotation_job_failures PRIMARY KEY (job_id, account_id)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE key_rotation_job_failures`);
    await queryRunner.query(`DROP INDEX ux_key_rotation_jobs_one_active`);
    await queryRunner.query(`DROP TABLE key_rotation_jobs`);
  }
}
