import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { envFileLoaded } from './env-file';
import { availableParallelism } from 'node:os';
import { EnvironmentVariables, validateEnvironment, type ValidatedEnvironment } from './env.validation';
import { listOf, originOf } from './connect-settings';
import { parseTrustProxy } from './trust-proxy';

/**
 * The typed namespaces every module injects (`ConfigType<typeof rotationConfig>`...), each built
 * from the one validated environment, and the configuration module that provides them.
 */

/** A namespace: built from the validated environment, injected by its `KEY`. */
export type ConfigNamespace<T> = ((env: ValidatedEnvironment) => T) & { readonly KEY: string };

function namespace<T>(name: string, build: (env: ValidatedEnvironment) => T): ConfigNamespace<T> {
  return Object.assign(build, { KEY: `CONFIGURATION(${name})` });
}

export const appConfig = namespace('app', (env) => {
  return {
    nodeEnv: env.NODE_ENV,
    isProduction: env.NODE_ENV === 'production',
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    dataDir: env.DATA_DIR,
  };
});

export const authConfig = namespace('auth', (env) => {
  return {
    connectorsApiToken: env.CONNECTORS_API_TOKEN,
    adminApiToken: env.ADMIN_API_TOKEN,
    adminRateLimitPerMinute: env.ADMIN_RATE_LIMIT_PER_MINUTE,
    failedAuthLimitPerMinute: env.ADMIN_FAILED_AUTH_LIMIT_PER_MINUTE,
  };
});

export const auditConfig = namespace('audit', (env) => {
  return {
    retentionDays: env.AUDIT_RETENTION_DAYS,
    refusalWindowSeconds: env.AUDIT_REFUSAL_WINDOW_SECONDS,
    failClosed: env.AUDIT_FAIL_CLOSED ?? env.NODE_ENV === 'production',
    maxLagSeconds: env.AUDIT_MAX_LAG_SECONDS,
    maxPending: env.AUDIT_MAX_PENDING,
  };
});

/** Registered callers; CONNECTORS_API_TOKEN, the built-in caller, stays in `authConfig`. */
export const callersConfig = namespace('callers', (env) => {
  return {
    secretOverlapHours: env.CLIENT_SECRET_OVERLAP_HOURS,
    cacheSeconds: env.CLIENT_CACHE_SECONDS,
  };
});

export const metricsConfig = namespace('metrics', (env) => {
  return {
    port: env.METRICS_PORT,
    host: env.METRICS_HOST,
    inventorySeconds: env.METRICS_INVENTORY_SECONDS,
    // The metrics port has the API port's limits on slow and idle clients.
    limits: httpSettings(env),
  };
});

export type HttpSettings = ReturnType<typeof httpSettings>;

/**
 * What the HTTP server is built with, before any module exists: by main.ts and the e2e tests.
 * Timeouts are in milliseconds.
 */
export function httpSettings(env: EnvironmentVariables) {
  return {
    // Validated: parseTrustProxy accepted the value.
    trustProxy: parseTrustProxy(env.TRUST_PROXY) ?? false,
    apiDocs: env.API_DOCS_ENABLED ?? env.NODE_ENV !== 'production',
    headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
    requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
    keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_SECONDS * 1000,
    maxConnections: env.HTTP_MAX_CONNECTIONS,
  };
}

export const connectorsConfig = namespace('connectors', (env) => {
  return { requireEncryption: env.CONNECTORS_REQUIRE_TOKEN_ENCRYPTION };
});

export const refreshConfig = namespace('refresh', (env) => {
  return {
    providerTimeoutMs: env.PROVIDER_TIMEOUT_MS,
    leaseSeconds: env.REFRESH_LEASE_SECONDS,
    waitMs: env.REFRESH_WAIT_MS,
    noticesEnabled: env.REFRESH_NOTICES_ENABLED,
    pollMs: env.REFRESH_POLL_MS,
    noticeFallbackMs: env.REFRESH_NOTICE_FALLBACK_MS,
    aheadSeconds: env.REFRESH_AHEAD_SECONDS,
    aheadEnabled: env.REFRESH_AHEAD_SECONDS > 0,
    aheadPollSeconds: env.REFRESH_AHEAD_POLL_SECONDS,
    aheadPerProviderPerMinute: env.REFRESH_AHEAD_PER_PROVIDER_PER_MINUTE,
  };
});

export const revocationConfig = namespace('revocation', (env) => {
  return {
    retrySeconds: env.REVOCATION_RETRY_SECONDS,
    maxHours: env.REVOCATION_MAX_HOURS,
    pollSeconds: env.REVOCATION_POLL_SECONDS,
    leaseSeconds: env.REVOCATION_LEASE_SECONDS ?? Math.max(30, Math.ceil(env.PROVIDER_TIMEOUT_MS / 1000) * 2),
    workerEnabled: env.REVOCATION_WORKER_ENABLED,
    incidentPerMinute: env.INCIDENT_REVOKE_PER_MINUTE,
  };
});

/** The connect flow: off while PUBLIC_BASE_URL is unset. Origins and domains are normalized here. */
export const connectConfig = namespace('connect', (env) => {
  const publicOrigin = originOf(env.PUBLIC_BASE_URL);
  return {
    publicOrigin,
    redirectUri: publicOrigin === undefined ? undefined : `${publicOrigin}/oauth/callback`,
    secureCookie: publicOrigin?.startsWith('https:') === true,
    returnOrigins: listOf(env.CONNECT_RETURN_ORIGINS).map((entry) => originOf(entry) as string),
    sessionTtlSeconds: env.CONNECT_SESSION_TTL_SECONDS,
    enabledProviders:
      env.CONNECT_ENABLED_PROVIDERS === undefined ? undefined : listOf(env.CONNECT_ENABLED_PROVIDERS),
    allowedAccountDomains:
      env.CONNECT_ALLOWED_ACCOUNT_DOMAINS === undefined
        ? undefined
        : listOf(env.CONNECT_ALLOWED_ACCOUNT_DOMAINS.toLowerCase()),
  };
});

export type DatabaseSettings = ReturnType<typeof databaseSettings>;

/** Also used without Nest: by the TypeORM CLI's data source and the tests' global set-up. */
export function databaseSettings(env: EnvironmentVariables) {
  return {
    url: env.DATABASE_URL,
    embedded: env.DATABASE_URL === undefined,
    poolSize: env.DATABASE_POOL_SIZE,
    poolTimeoutMs: env.DATABASE_POOL_TIMEOUT_MS,
    statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    lockTimeoutMs: env.DATABASE_LOCK_TIMEOUT_MS,
    dataDir: env.DATA_DIR,
    migrateOnStart: env.DB_MIGRATE_ON_START === true,
    logQueries: env.LOG_LEVEL === 'debug' || env.LOG_LEVEL === 'trace',
  };
}

export const databaseConfig = namespace('database', databaseSettings);

export const rotationConfig = namespace('rotation', (env) => {
  return {
    leaseSeconds: env.ROTATION_LEASE_SECONDS,
    batchSize: env.ROTATION_BATCH_SIZE,
    pollSeconds: env.ROTATION_POLL_SECONDS,
    workerEnabled: env.ROTATION_WORKER_ENABLED,
    partitionSize: env.ROTATION_PARTITION_SIZE,
    // Threads pay off only with a core to spare for them; one is left for the job's own I/O.
    resealThreads: env.ROTATION_RESEAL_THREADS ?? Math.min(2, availableParallelism() - 1),
  };
});

/** Registry mode when `wrapping` is set; the keys module reads it, crypto never does. */
export const keysConfig = namespace('keys', (env) => {
  return {
    /** Env mode's keys, decoded when the settings were validated; empty in registry mode. */
    ring: env.keys.ring,
    wrapping: env.keys.wrapping,
    refreshSeconds: env.KEY_REGISTRY_REFRESH_SECONDS,
    promotionTimeoutSeconds: env.KEY_PROMOTION_TIMEOUT_SECONDS,
  };
});

const NAMESPACES = [
  appConfig,
  databaseConfig,
  authConfig,
  auditConfig,
  callersConfig,
  metricsConfig,
  connectorsConfig,
  refreshConfig,
  revocationConfig,
  connectConfig,
  rotationConfig,
  keysConfig,
];

const VALIDATED_ENVIRONMENT = 'VALIDATED_ENVIRONMENT';

@Module({})
class ConfigurationModule {}

/**
 * The one configuration module of the server and the command line: the typed namespaces, each
 * built from one validation of the environment. The key ring is the keys module's.
 */
export function configRootModule(): DynamicModule {
  let environment: ValidatedEnvironment | undefined;
  return {
    module: ConfigurationModule,
    global: true,
    imports: [
      ConfigModule.forRoot({
        isGlobal: true,
        ignoreEnvFile: process.env.NODE_ENV === 'test' || envFileLoaded(),
        // Runs while the module is built, before any provider, with the .env file merged in. The
        // raw values go back unchanged, so a `*_FILE` secret is not written back into
        // process.env beside its variable.
        validate: (raw) => {
          environment = validateEnvironment(raw);
          return raw;
        },
      }),
    ],
    providers: [
      {
        provide: VALIDATED_ENVIRONMENT,
        useFactory: () => {
          if (!environment) throw new Error('the environment was not validated');
          return environment;
        },
      },
      ...NAMESPACES.map((build) => ({
        provide: build.KEY,
        inject: [VALIDATED_ENVIRONMENT],
        useFactory: build,
      })),
    ],
    exports: [...NAMESPACES.map((build) => build.KEY)],
  };
}
