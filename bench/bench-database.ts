import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { databaseSettings } from '../src/config/configuration';
import { validateEnvironment } from '../src/config/env.validation';
import { ENTITIES } from '../src/app.entities';
import { buildDataSourceOptions } from '../src/database/data-source';
import { adminQuery, databaseUrlFor } from '../test/test-database';

export const SERVER_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  url: string;
  dataSource: DataSource;
  drop(): Promise<void>;
}

/** A scratch database on the real PostgreSQL server, migrated, dropped when the benchmark ends. */
export async function createBenchDatabase(label: string): Promise<BenchDatabase> {
  // The scratch database's migration log would drown the figures.
  Logger.overrideLogger(['error', 'warn']);
  const name = `connectors_bench_${label}_${randomBytes(4).toString('hex')}`;
  await adminQuery(SERVER_URL, `CREATE DATABASE ${name}`);
  const url = databaseUrlFor(SERVER_URL, name);
  const env = validateEnvironment({
    NODE_ENV: 'test',
    DATABASE_URL: url,
    DATABASE_POOL_SIZE: '4',
    LOG_LEVEL: 'warn',
  });
  const dataSource = await new DataSource(
    buildDataSourceOptions(databaseSettings(env), ENTITIES),
  ).initialize();
  await dataSource.runMigrations();
  return {
    url,
    dataSource,
    drop: async () => {
      await dataSource.destroy();
      await adminQuery(SERVER_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
