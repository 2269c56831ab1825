import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The key registry of registry mode: each data key only wrapped, bound to its key id, with its
 * state and who changed it; at most one primary, enforced here. Every change takes a number from
 * a sequence, so the registry's version is its highest number. Instances record what they loaded.
 */
export class CreateKeyRegistry1764500000000 implements MigrationInterface {
  name = 'CreateKeyRegistry1764500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE SEQUENCE key_registry_change_seq`);
    await queryRunner.query(`
      CREATE TABLE key_registry (
        key_id TEXT NOT NULL CONSTRAINT pk_key_registry PRIMARY KEY
          CONSTRAINT ck_key_registry_key_id CHECK (key_id ~ '^[0-9a-f]{16}$'),
        state TEXT NOT NULL
          CONSTRAINT ck_key_registry_state CHECK (state IN ('decrypt-only', 'primary', 'retired')),
        wrapped_key BYTEA NOT NULL,
        wrapping_key TEXT NOT NULL,
        change_seq BIGINT NOT NULL DEFAULT nextval('key_registry_change_seq'),
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        created_by TEXT NOT NULL,
        promoted_at TIMESTAMPTZ,
        promoted_by TEXT,
        retired_at TIMESTAMPTZ,
        retired_by TEXT,
        rewrapped_at TIMESTAMPTZ,
        rewrapped_by TEXT
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX ux_key_registry_one_primary ON key_registry (state) WHERE state = 'primary'`,
    );
    await queryRunner.query(`
      CREATE TABLE key_registry_instances (
        instance_id TEXT NOT NULL CONSTRAINT pk_key_registry_instances PRIMARY KEY,
        loaded_version BIGINT NOT NULL,
        loaded_key_ids TEXT[] NOT NULL,
        primary_key_id TEXT,
        seen_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE key_registry_instances`);
    await queryRunner.query(`DROP TABLE key_registry`);
    await queryRunner.query(`DROP SEQUENCE key_registry_change_seq`);
  }
}
