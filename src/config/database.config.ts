import { registerAs } from '@nestjs/config';
import { EnvironmentVariables, validateEnvironment } from './env.validation';

export type DatabaseSettings = ReturnType<typeof databaseSettings>;

export function databaseSettings(env: EnvironmentVariables) {
  return {
    url: env.DATABASE_URL,
    embedded: env.DATABASE_URL === undefined,
    poolSize: env.DATABASE_POOL_SIZE,
    dataDir: env.DATA_DIR,
    migrateOnStart: env.DB_MIGRATE_ON_START === true,
    logQueries: env.LOG_LEVEL === 'debug' || env.LOG_LEVEL === 'trace',
  };
}

export const databaseConfig = registerAs('database', () =>
  databaseSettings(validateEnvironment(process.env)),
);
