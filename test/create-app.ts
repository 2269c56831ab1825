import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module';
import { configureApp, createHttpAdapter } from '../src/app.setup';
import { httpSettings } from '../src/config/configuration';
import { validateEnvironment } from '../src/config/env.validation';

export type TestEnv = Record<string, string | undefined>;

export interface TestApp {
  app: NestExpressApplication;
  dataSource: DataSource;
  close(): Promise<void>;
}

/** The environment every e2e app starts from: the run's database, no secrets, quiet logs. */
export function baseTestEnv(): TestEnv {
  return {
    NODE_ENV: 'test',
    DATABASE_URL: process.env.E2E_DATABASE_URL,
    DATA_DIR: process.env.E2E_DATA_DIR,
    DB_MIGRATE_ON_START: 'false',
    LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
    // The background refresh would race the tests' own calls; the suite that tests it turns it on.
    REFRESH_AHEAD_SECONDS: '0',
  };
}

const MANAGED_PREFIXES = [
  'WORKFLOWS_',
  'JOBS_',
  'CONNECTORS_',
  'ADMIN_',
  'ROTATION_',
  'DATABASE_',
  'DB_',
  'LOG_',
  'AUDIT_',
  'CLIENT_',
  'HTTP_',
  'API_DOCS_',
  'TRUST_PROXY',
  'PROVIDER_',
  'REFRESH_',
  'REVOCATION_',
  'INCIDENT_',
  'KEY_',
  'ROOT_KEY',
  'AWS_',
  'CONNECT_',
  'PUBLIC_BASE_URL',
];

/** Replaces the settings this service reads, so one test's keys never leak into the next app. */
export function applyEnv(env: TestEnv): void {
  for (const name of Object.keys(process.env)) {
    if (MANAGED_PREFIXES.some((prefix) => name.startsWith(prefix))) delete process.env[name];
  }
  for (const [name, value] of Object.entries({ ...baseTestEnv(), ...env })) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

/** Replaces what is truly outside the service (a resolver's answers) in one test's app. */
export type TestOverrides = (builder: TestingModuleBuilder) => TestingModuleBuilder;

/** Compiles the real AppModule with the given settings and serves it on an ephemeral port. */
export async function createTestApp(env: TestEnv = {}, overrides?: TestOverrides): Promise<TestApp> {
  applyEnv(env);
  const builder = Test.createTestingModule({ imports: [AppModule.forRoot()] });
  const moduleRef = await (overrides ? overrides(builder) : builder).compile();
  const http = httpSettings(validateEnvironment(process.env));
  const app = moduleRef.createNestApplication<NestExpressApplication>(createHttpAdapter(http), {
    bodyParser: false,
    bufferLogs: true,
  });
  configureApp(app, http);
  await app.init();
  const dataSource = app.get(DataSource);
  return { app, dataSource, close: () => app.close() };
}

/** Empties every table the service writes, between tests. */
export async function truncateAll(dataSource: DataSource): Promise<void> {
  const tables = dataSource.entityMetadatas.map((entity) => `"${entity.tableName}"`).join(', ');
  await dataSource.query(`TRUNCATE ${tables} RESTART IDENTITY CASCADE`);
}
