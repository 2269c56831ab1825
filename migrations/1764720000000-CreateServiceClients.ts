import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Registered callers of the service routes, and their secrets: stored as SHA-256 digests, found
 * by a non-secret prefix. A secret's digest is cleared when it is retired (rotation finished,
 * caller disabled); the row stays to say when it was made, used and retired.
 */
export class CreateServiceClients1764720000000 implements MigrationInterface {
  name = 'CreateServiceClients1764720000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE service_clients (
        id SERIAL CONSTRAINT pk_service_clients PRIMARY KEY,
        name TEXT NOT NULL CONSTRAINT ck_service_clients_name CHECK (name ~ '^[a-z][a-z0-9_-]{1,63}$'),
        scopes TEXT[] NOT NULL CONSTRAINT ck_service_clients_scopes CHECK (
          cardinality(scopes) > 0
          AND scopes <@ ARRAY['accounts:read', 'accounts:write', 'tokens:read', 'tokens:refresh', 'connect']::text[]),
        providers TEXT[] CONSTRAINT ck_service_clients_providers CHECK (providers IS NULL OR cardinality(providers) > 0),
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        created_by TEXT NOT NULL,
        disabled_at TIMESTAMPTZ,
        disabled_by TEXT
      )`);
    await queryRunner.query(`CREATE UNIQUE INDEX ux_service_clients_name ON service_clients (name)`);
    await queryRunner.query(`
      CREATE TABLE service_client_secrets (
        id SERIAL CONSTRAINT pk_service_client_secrets PRIMARY KEY,
        client_id INTEGER NOT NULL
          CONSTRAINT fk_service_client_secrets_client REFERENCES service_clients (id) ON DELETE CASCADE,
        prefix TEXT NOT NULL CONSTRAINT ck_service_client_secrets_prefix CHECK (prefix ~ '^[0-9a-f]{8}$'),
        digest TEXT CONSTRAINT ck_service_client_secrets_digest CHECK (digest ~ '^[0-9a-f]{64}$'),
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ,
        retired_at TIMESTAMPTZ,
        last_used_at TIMESTAMPTZ,
        CONSTRAINT ck_service_client_secrets_retired CHECK ((retired_at IS NULL) = (digest IS NOT NULL))
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX ux_service_client_secrets_prefix ON service_client_secrets (prefix)`,
    );
    await queryRunner.query(
      `CREATE INDEX ix_service_client_secrets_client_id ON service_client_secrets (client_id)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE service_client_secrets`);
    await queryRunner.query(`DROP TABLE service_clients`);
  }
}
