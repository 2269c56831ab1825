import { join, resolve } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { LoggerOptions } from 'typeorm/logger/LoggerOptions';
import type { DatabaseSettings } from '../config/configuration';
import { dataDirLock } from './data-dir-lock';
import { embeddedPostgresDriver } from './embedded-postgres.driver';
import { MIGRATIONS } from './migrations';
import { SafeQueryLogger } from './safe-query.logger';

export type Entities = NonNullable<DataSourceOptions['entities']>;

/** Where the embedded database lives inside DATA_DIR (or in memory for `memory://`). */
export function embeddedDataPath(dataDir: string): string {
  return dataDir.startsWith('memory://') ? dataDir : join(resolve(dataDir), 'pglite');
}

/**
 * The one options object, shared by the server, the command line and the TypeORM CLI. The
 * entities are handed in (`src/app.entities.ts`): this folder sits below the modules that own them.
 */
export function buildDataSourceOptions(settings: DatabaseSettings, entities: Entities): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    entities,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each' as const,
    synchronize: false,
    logging: settings.logQueries ? ('all' as const) : (['error', 'warn', 'migration'] as LoggerOptions),
    logger: new SafeQueryLogger(settings.logQueries),
  };
  if (settings.embedded) {
    return {
      ...common,
      driver: embeddedPostgresDriver(
        embeddedDataPath(settings.dataDir),
        settings.poolTimeoutMs,
        dataDirLock(settings.dataDir),
      ),
      installExtensions: false,
      uuidExtension: 'pgcrypto',
    };
  }
  return {
    ...common,
    url: settings.url,
    poolSize: settings.poolSize,
    // pg's pool bounds both the wait for a free connection and the opening of a new one with it.
    connectTimeoutMS: settings.poolTimeoutMs,
    applicationName: 'connectors-backend',
    // Session settings of every connection: no request waits on a lock or a statement unbounded.
    extra: { statement_timeout: settings.statementTimeoutMs, lock_timeout: settings.lockTimeoutMs },
  };
}
