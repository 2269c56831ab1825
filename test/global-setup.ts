import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { databaseSettings } from '../src/config/configuration';
import { validateEnvironment } from '../src/config/env.validation';
import { ENTITIES } from '../src/app.entities';
import { buildDataSourceOptions } from '../src/database/data-source';
import { adminQuery, databaseUrlFor, freshDataDir, serverUrl } from './test-database';

/**
 * One database for the whole run: on PostgreSQL a database of its own (dropped in teardown),
 * otherwise an embedded PGlite directory. Migrations run here, once.
 */
export default async function globalSetup(): Promise<void> {
  const server = serverUrl();
  process.env.E2E_DATA_DIR = freshDataDir();
  if (server) {
    const name = `connectors_test_${randomBytes(6).toString('hex')}`;
    await adminQuery(server, `CREATE DATABASE ${name}`);
    process.env.E2E_DATABASE_NAME = name;
    process.env.E2E_DATABASE_URL = databaseUrlFor(server, name);
  }
  const env = validateEnvironment({
    NODE_ENV: 'test',
    DATABASE_URL: process.env.E2E_DATABASE_URL,
    DATA_DIR: process.env.E2E_DATA_DIR,
    LOG_LEVEL: 'warn',
  });
  const dataSource = new DataSource(buildDataSourceOptions(databaseSettings(env), ENTITIES));
  await dataSource.initialize();
  await dataSource.runMigrations();
  await dataSource.destroy();
}
