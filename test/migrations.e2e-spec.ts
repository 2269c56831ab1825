import { spawnSync } from 'node:child_process';
import { ensureBuilt, ROOT } from './support/built-server';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { databaseSettings } from '../src/config/configuration';
import { validateEnvironment } from '../src/config/env.validation';
import { ENTITIES } from '../src/app.entities';
import { buildDataSourceOptions } from '../src/database/data-source';
import { adminQuery, databaseUrlFor, serverUrl } from './test-database';

const ORIGINAL_DDL = `
  CREATE TABLE external_accounts (
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
  )`;

const V1_ENVELOPE = JSON.stringify({ _enc: 'aesgcm:v1', nonce: 'bm9uY2U=', ct: 'Y3Q=', tag: 'dGFn' });
const ORIGINAL_COLUMNS =
  'id, user_id, provider, display_name, email, access_token, refresh_token, scopes, token_expires_at, provider_metadata, created_at, updated_at';

/** A database of its own for each case: a new PostgreSQL database, or an in-memory PGlite. */
async function scratchDataSource(): Promise<{ dataSource: DataSource; drop(): Promise<void> }> {
  const server = serverUrl();
  const name = `connectors_migration_${randomBytes(5).toString('hex')}`;
  if (server) await adminQuery(server, `CREATE DATABASE ${name}`);
  const env = validateEnvironment({
    NODE_ENV: 'test',
    DATABASE_URL: server ? databaseUrlFor(server, name) : undefined,
    DATA_DIR: 'memory://',
    LOG_LEVEL: 'warn',
  });
  const dataSource = await new DataSource(
    buildDataSourceOptions(databaseSettings(env), ENTITIES),
  ).initialize();
  return {
    dataSource,
    drop: async () => {
      await dataSource.destroy();
      if (server) await adminQuery(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function columnsOf(dataSource: DataSource): Promise<string[]> {
  const rows: { column_name: string }[] = await dataSource.query(
    `SELECT column_name FROM information_schema.columns WHERE table_name = 'external_accounts' ORDER BY column_name`,
  );
  return rows.map((row) => row.column_name);
}

/** `npx connectors migrate` as an operator runs it: the compiled command, after `npm run build`. */
function migrationRun(env: Record<string, string>) {
  ensureBuilt();
  const result = spawnSync('npx', ['--no-install', 'connectors', 'migrate'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('migrations', () => {
  it('reports what `connectors migrate` did, then that nothing is pending', async () => {
    const server = serverUrl();
    const name = `connectors_migration_${randomBytes(5).toString('hex')}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'connectors-migrate-'));
    const env: Record<string, string> = server
      ? { DATABASE_URL: databaseUrlFor(server, name) }
      : { DATA_DIR: dataDir };
    if (server) await adminQuery(server, `CREATE DATABASE ${name}`);
    try {
      const first = migrationRun(env);
      expect(first.status).toBe(0);
      for (const migration of [
        'AdoptExternalAccounts',
        'CreateKeyRotationJobs',
        'CreateAdminAuditEvents',
        'DeriveTokenKeyId',
        'AddTokenRefresh',
        'CreateKeyRegistry',
      ]) {
        expect(first.output).toMatch(new RegExp(`^migrated: ${migration}\\d+$`, 'm'));
      }
      const second = migrationRun(env);
      expect(second.status).toBe(0);
      expect(second.output).toBe('no migrations are pending\n');
    } finally {
      if (server) await adminQuery(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 240_000);

  it('creates the schema on an empty database and reverts it completely', async () => {
    const { dataSource, drop } = await scratchDataSource();
    try {
      await dataSource.runMigrations();
      expect(await columnsOf(dataSource)).toEqual(
        expect.arrayContaining(['version', 'token_key_id', 'user_id']),
      );
      const indexes: { indexname: string }[] = await dataSource.query(
        `SELECT indexname FROM pg_indexes WHERE tablename = 'external_accounts' ORDER BY indexname`,
      );
      expect(indexes.map((index) => index.indexname)).toEqual(
        expect.arrayContaining(['ix_external_accounts_token_key_id', 'ix_external_accounts_user_id']),
      );
      for (let step = 0; step < dataSource.migrations.length; step += 1) await dataSource.undoLastMigration();
      expect(await columnsOf(dataSource)).toEqual([]);
    } finally {
      await drop();
    }
  });

  it('moves each rotation job into one partition, a running one resumable where it was, and back', async () => {
    const { dataSource, drop } = await scratchDataSource();
    const lastRun = async () =>
      (await dataSource.query(`SELECT name FROM schema_migrations ORDER BY id DESC LIMIT 1`))[0].name;
    try {
      await dataSource.runMigrations();
      while ((await lastRun()) !== 'PartitionRotationJobs1764730000000') await dataSource.undoLastMigration();
      await dataSource.undoLastMigration();
      await dataSource.query(
        `INSERT INTO key_rotation_jobs (status, batch_size, target_key_id, cursor, pass, total_estimate,
           scanned, rotated, skipped, failed, failures, lease_owner, lease_expires_at, requested_by)
         VALUES ('running', 100, 'aaaaaaaaaaaaaaaa', 420, 2, 1000, 1420, 1400, 15, 1,
                 '[{"accountId": 7, "reason": "ENVELOPE_AUTH_FAILED"}]', 'host:1:ab', '2030-01-01T00:00:00Z', 'test'),
                ('completed', 100, 'bbbbbbbbbbbbbbbb', 900, 1, 900, 900, 900, 0, 0, '[]', NULL, NULL, 'test')`,
      );
      await dataSource.query(
        `INSERT INTO key_rotation_job_failures (job_id, account_id, reason_code) VALUES (1, 7, 'ENVELOPE_AUTH_FAILED')`,
      );
      const jobColumns = `id, status, cursor, pass, scanned, rotated, skipped, failed, failures, lease_owner,
        lease_expires_at FROM key_rotation_jobs ORDER BY id`;
      const before = await dataSource.query(`SELECT ${jobColumns}`);

      await dataSource.runMigrations();
      expect(
        await dataSource.query(
          `SELECT job_id, part, after_id, through_id, pass, cursor, done, lease_owner, scanned, rotated, skipped, failed
             FROM key_rotation_partitions ORDER BY job_id`,
        ),
      ).toEqual([
        {
          job_id: 1,
          part: 0,
          after_id: 0,
          through_id: null,
          pass: 2,
          cursor: 420,
          done: false,
          lease_owner: 'host:1:ab',
          scanned: 1420,
          rotated: 1400,
          skipped: 15,
          failed: 1,
        },
        {
          job_id: 2,
          part: 0,
          after_id: 0,
          through_id: null,
          pass: 1,
          cursor: 900,
          done: true,
          lease_owner: null,
          scanned: 900,
          rotated: 900,
          skipped: 0,
          failed: 0,
        },
      ]);

      while ((await lastRun()) !== 'PartitionRotationJobs1764730000000') await dataSource.undoLastMigration();
      await dataSource.undoLastMigration();
      expect(await dataSource.query(`SELECT ${jobColumns}`)).toEqual(before);
    } finally {
      await drop();
    }
  });

  it('adopts a table created by the original service without changing its rows', async () => {
    const { dataSource, drop } = await scratchDataSource();
    try {
      await dataSource.query(ORIGINAL_DDL);
      await dataSource.query(
        `INSERT INTO external_accounts (user_id, provider, access_token, refresh_token, scopes, token_expires_at, provider_metadata)
         VALUES (1, 'google_drive', 'plain-access', 'plain-refresh', 'drive', '2030-01-01 00:00:00', '{"a": 1}'),
                (2, 'notion', $1, NULL, NULL, NULL, NULL),
                (3, 'zotero', NULL, NULL, NULL, NULL, NULL)`,
        [V1_ENVELOPE],
      );
      const before = await dataSource.query(`SELECT ${ORIGINAL_COLUMNS} FROM external_accounts ORDER BY id`);

      await dataSource.runMigrations();

      const after = await dataSource.query(`SELECT ${ORIGINAL_COLUMNS} FROM external_accounts ORDER BY id`);
      expect(after).toEqual(before);
      const added = await dataSource.query(
        `SELECT id, version, token_key_id FROM external_accounts ORDER BY id`,
      );
      expect(added).toEqual([
        { id: 1, version: 1, token_key_id: 'plaintext' },
        { id: 2, version: 1, token_key_id: 'legacy-v1' },
        { id: 3, version: 1, token_key_id: 'plaintext' },
      ]);

      // Back to the state before the key id column was derived, through every later migration.
      const lastRun = async () =>
        (await dataSource.query(`SELECT name FROM schema_migrations ORDER BY id DESC LIMIT 1`))[0].name;
      while ((await lastRun()) !== 'DeriveTokenKeyId1764300003000') await dataSource.undoLastMigration();
      expect(await columnsOf(dataSource)).not.toContain('refresh_lease_owner');
      await dataSource.undoLastMigration();
      const [generated] = await dataSource.query(
        `SELECT is_generated FROM information_schema.columns WHERE table_name = 'external_accounts' AND column_name = 'token_key_id'`,
      );
      expect(generated).toEqual({ is_generated: 'NEVER' });
      expect(
        await dataSource.query(`SELECT id, version, token_key_id FROM external_accounts ORDER BY id`),
      ).toEqual(added);

      while ((await lastRun()) !== 'AdoptExternalAccounts1764300000000') await dataSource.undoLastMigration();
      await dataSource.undoLastMigration();
      expect(await columnsOf(dataSource)).not.toContain('token_key_id');
      expect(await dataSource.query(`SELECT ${ORIGINAL_COLUMNS} FROM external_accounts ORDER BY id`)).toEqual(
        before,
      );
    } finally {
      await drop();
    }
  });
});
