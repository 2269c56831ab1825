import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A rotation job's accounts split into partitions by id range, each with its own cursor, counts
 * and lease, so several workers run one job side by side. The job keeps what is one per job
 * (status, pass, target, estimate); its counts are the sums of its partitions and its failure
 * sample is read from key_rotation_job_failures. Every existing job becomes one partition over
 * all ids that holds its cursor, counts and lease, so a job running during the upgrade resumes.
 */
export class PartitionRotationJobs1764730000000 implements MigrationInterface {
  name = 'PartitionRotationJobs1764730000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE key_rotation_partitions (
        job_id INTEGER NOT NULL CONSTRAINT fk_key_rotation_partitions_job
          REFERENCES key_rotation_jobs (id) ON DELETE CASCADE,
        part INTEGER NOT NULL,
        after_id INTEGER NOT NULL,
        through_id INTEGER,
        pass INTEGER NOT NULL DEFAULT 1,
        cursor INTEGER NOT NULL,
        done BOOLEAN NOT NULL DEFAULT false,
        lease_owner VARCHAR(128),
        lease_expires_at TIMESTAMPTZ,
        scanned INTEGER NOT NULL DEFAULT 0,
        rotated INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        CONSTRAINT pk_key_rotation_partitions PRIMARY KEY (job_id, part),
        CONSTRAINT ck_key_rotation_partitions_range CHECK (part >= 0 AND cursor >= after_id
          AND (through_id IS NULL OR through_id > after_id)),
        CONSTRAINT ck_key_rotation_partitions_counts CHECK (pass >= 1 AND scanned >= 0 AND rotated >= 0
          AND skipped >= 0 AND failed >= 0)
      )`);
    await queryRunner.query(`
      INSERT INTO key_rotation_partitions (job_id, part, after_id, through_id, pass, cursor, done,
        lease_owner, lease_expires_at, scanned, rotated, skipped, failed, updated_at)
      SELECT id, 0, 0, NULL, pass, cursor, status NOT IN ('pending', 'running', 'cancelling'),
             lease_owner, lease_expires_at, scanned, rotated, skipped, failed, updated_at
        FROM key_rotation_jobs`);
    await queryRunner.query(`
      ALTER TABLE key_rotation_jobs
        DROP CONSTRAINT ck_key_rotation_jobs_counts,
        DROP CONSTRAINT ck_key_rotation_jobs_failures,
        DROP COLUMN cursor, DROP COLUMN scanned, DROP COLUMN rotated, DROP COLUMN skipped,
        DROP COLUMN failed, DROP COLUMN failures, DROP COLUMN lease_owner, DROP COLUMN lease_expires_at,
        ADD CONSTRAINT ck_key_rotation_jobs_pass CHECK (pass >= 1)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE key_rotation_jobs
        DROP CONSTRAINT ck_key_rotation_jobs_pass,
        ADD COLUMN cursor INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN scanned INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN rotated INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN failed INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN failures JSONB NOT NULL DEFAULT '[]'::jsonb,
        ADD COLUMN lease_owner VARCHAR(128),
        ADD COLUMN lease_expires_at TIMESTAMPTZ`);
    // A job still active resumes from its lowest open partition: accounts past it are read again.
    await queryRunner.query(`
      UPDATE key_rotation_jobs AS j
         SET cursor = t.cursor, scanned = t.scanned, rotated = t.rotated, skipped = t.skipped,
             failed = t.failed, lease_owner = t.lease_owner, lease_expires_at = t.lease_expires_at,
             failures = COALESCE((
               SELECT jsonb_agg(jsonb_build_object('accountId', f.account_id, 'reason', f.reason_code)
                                ORDER BY f.account_id)
                 FROM (SELECT account_id, reason_code FROM key_rotation_job_failures
                        WHERE job_id = j.id ORDER BY account_id LIMIT 100) AS f), '[]'::jsonb)
        FROM (SELECT job_id, sum(scanned)::int AS scanned, sum(rotated)::int AS rotated,
                     sum(skipped)::int AS skipped, sum(failed)::int AS failed,
                     COALESCE(min(cursor) FILTER (WHERE NOT done), max(cursor)) AS cursor,
                     (array_agg(lease_owner ORDER BY lease_expires_at DESC NULLS LAST))[1] AS lease_owner,
                     max(lease_expires_at) AS lease_expires_at
                FROM key_rotation_partitions GROUP BY job_id) AS t
       WHERE t.job_id = j.id`);
    await queryRunner.query(`
      ALTER TABLE key_rotation_jobs
        ADD CONSTRAINT ck_key_rotation_jobs_counts CHECK (cursor >= 0 AND pass >= 1 AND scanned >= 0
          AND rotated >= 0 AND skipped >= 0 AND failed >= 0),
        ADD CONSTRAINT ck_key_rotation_jobs_failures CHECK (jsonb_typeof(failures) = 'array')`);
    await queryRunner.query(`DROP TABLE key_rotation_partitions`);
  }
}
