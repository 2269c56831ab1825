import { readFileSync } from 'node:fs';
import { plainToInstance } from 'class-transformer';
import { IsIn, IsIP, IsOptional, IsString, Matches, MinLength, validateSync } from 'class-validator';
import { ConfigurationError } from './configuration.error';
import { IsPostgresUrl } from './is-postgres-url.validator';
import { decodeKeys, KeyTextSetting, KeyWrappingSetting, type DecodedKeys } from './key-settings';
import { BearerTokenSetting, BooleanSetting, IntegerSetting } from './setting.decorators';
import { OriginListSetting, PublicOriginSetting, SlugListSetting } from './connect-settings';
import { IsTrustProxy } from './trust-proxy';

export const NODE_ENVS = ['development', 'production', 'test'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/** Settings that may come from `<NAME>_FILE` (container secrets) instead of the variable. */
export const FILE_SETTINGS = [
  'DATABASE_URL',
  'WORKFLOWS_ARTIFACT_ENC_KEY',
  'WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS',
  'JOBS_CRYPTO_SECONDARY_KEY',
  'CONNECTORS_API_TOKEN',
  'ADMIN_API_TOKEN',
  'ROOT_KEY',
  'ROOT_KEY_PREVIOUS',
] as const;

export class EnvironmentVariables {
  @IsIn(NODE_ENVS, { message: `must be one of ${NODE_ENVS.join(', ')}` })
  NODE_ENV: (typeof NODE_ENVS)[number] = 'development';

  @IntegerSetting({ min: 1, max: 65535, unit: 'port' })
  PORT = 3000;

  @IsOptional()
  @IsPostgresUrl()
  DATABASE_URL?: string;

  @IntegerSetting({ min: 1, max: 200 })
  DATABASE_POOL_SIZE = 10;

  /** How long a request waits for a pooled connection (embedded: for the one session). */
  @IntegerSetting({ min: 100, max: 600000, unit: 'milliseconds' })
  DATABASE_POOL_TIMEOUT_MS = 5000;

  /** PostgreSQL: the longest a statement may run, lock waits included. */
  @IntegerSetting({ min: 100, max: 3600000, unit: 'milliseconds' })
  DATABASE_STATEMENT_TIMEOUT_MS = 30000;

  /** PostgreSQL: the longest a statement waits for a lock. */
  @IntegerSetting({ min: 100, max: 3600000, unit: 'milliseconds' })
  DATABASE_LOCK_TIMEOUT_MS = 10000;

  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  DATA_DIR = './data';

  @BooleanSetting({ optional: true })
  DB_MIGRATE_ON_START?: boolean;

  @IsIn(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` })
  LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'info';

  @BearerTokenSetting()
  CONNECTORS_API_TOKEN?: string;

  @BearerTokenSetting()
  ADMIN_API_TOKEN?: string;

  @KeyTextSetting()
  WORKFLOWS_ARTIFACT_ENC_KEY?: string;

  @KeyTextSetting()
  WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS?: string;

  @KeyTextSetting()
  JOBS_CRYPTO_SECONDARY_KEY?: string;

  /** Unset: env mode (the keys above). `local` or `aws-kms:<ARN>`: registry mode. */
  @KeyWrappingSetting()
  KEY_WRAPPING?: string;

  /** The root key of `local` wrapping; decoded at validation, never kept as text. */
  @KeyTextSetting()
  ROOT_KEY?: string;

  /** The root key being replaced: unwraps only, for keys:rewrap. */
  @KeyTextSetting()
  ROOT_KEY_PREVIOUS?: string;

  /** Region of the SDK; when set it must be the region of the KMS key. */
  @IsOptional()
  @Matches(/^[a-z]{2}(-[a-z]+)+-[0-9]$/, { message: 'must be an AWS region such as eu-west-1' })
  AWS_REGION?: string;

  @IntegerSetting({ min: 1, max: 300, unit: 'seconds' })
  KEY_REGISTRY_REFRESH_SECONDS = 5;

  @IntegerSetting({ min: 1, max: 600, unit: 'seconds' })
  KEY_PROMOTION_TIMEOUT_SECONDS = 30;

  @BooleanSetting()
  CONNECTORS_REQUIRE_TOKEN_ENCRYPTION = false;

  /** Production refuses to start without a key unless this says plaintext storage is intended. */
  @BooleanSetting()
  CONNECTORS_ALLOW_PLAINTEXT_TOKENS = false;

  @IntegerSetting({ min: 5, max: 3600, unit: 'seconds' })
  ROTATION_LEASE_SECONDS = 30;

  @IntegerSetting({ min: 1, max: 10000 })
  ROTATION_BATCH_SIZE = 1000;

  @IntegerSetting({ min: 1, max: 3600, unit: 'seconds' })
  ROTATION_POLL_SECONDS = 5;

  @BooleanSetting()
  ROTATION_WORKER_ENABLED = true;

  /** Accounts per partition of a rotation job: workers run a job's partitions side by side. */
  @IntegerSetting({ min: 1, max: 100000000 })
  ROTATION_PARTITION_SIZE = 20000;

  /** Unset: one fewer than the cores, at most 2. 0 seals in the thread that runs the job. */
  @IntegerSetting({ min: 0, max: 16, optional: true })
  ROTATION_RESEAL_THREADS?: number;

  @IntegerSetting({ min: 1, max: 100000 })
  ADMIN_RATE_LIMIT_PER_MINUTE = 120;

  /** Requests per client address per minute that present no valid admin token. */
  @IntegerSetting({ min: 1, max: 100000 })
  ADMIN_FAILED_AUTH_LIMIT_PER_MINUTE = 30;

  /** Unset or false: the client address is the socket's. See trust-proxy.ts for the forms. */
  @IsOptional()
  @IsTrustProxy()
  TRUST_PROXY?: string;

  @IntegerSetting({ min: 1, max: 3650, unit: 'days' })
  AUDIT_RETENTION_DAYS = 90;

  /** Refused admin requests of one kind from one address are recorded as one row per window. */
  @IntegerSetting({ min: 1, max: 3600, unit: 'seconds' })
  AUDIT_REFUSAL_WINDOW_SECONDS = 60;

  /** Unset: true in production. True: token reads stop (503) while their records cannot be written. */
  @BooleanSetting({ optional: true })
  AUDIT_FAIL_CLOSED?: boolean;

  /** How old the oldest unwritten token-read record may grow before the trail counts as failing. */
  @IntegerSetting({ min: 1, max: 3600, unit: 'seconds' })
  AUDIT_MAX_LAG_SECONDS = 10;

  /** Records waiting for the database, per trail, at most. */
  @IntegerSetting({ min: 10, max: 1000000 })
  AUDIT_MAX_PENDING = 10000;

  /** How long a replaced caller secret keeps working after `clients:rotate`, unless finished sooner. */
  @IntegerSetting({ min: 1, max: 8760, unit: 'hours' })
  CLIENT_SECRET_OVERLAP_HOURS = 24;

  /** How long an instance trusts a verified caller secret before it reads the caller again. */
  @IntegerSetting({ min: 0, max: 300, unit: 'seconds' })
  CLIENT_CACHE_SECONDS = 5;

  /** Unset: served outside production only. */
  @BooleanSetting({ optional: true })
  API_DOCS_ENABLED?: boolean;

  @IntegerSetting({ min: 1, max: 300, unit: 'seconds' })
  HTTP_HEADERS_TIMEOUT_SECONDS = 10;

  @IntegerSetting({ min: 1, max: 3600, unit: 'seconds' })
  HTTP_REQUEST_TIMEOUT_SECONDS = 30;

  @IntegerSetting({ min: 1, max: 600, unit: 'seconds' })
  HTTP_KEEP_ALIVE_TIMEOUT_SECONDS = 5;

  @IntegerSetting({ min: 1, max: 100000 })
  HTTP_MAX_CONNECTIONS = 1000;

  /** How long a stop (SIGTERM, SIGINT) may take, requests in flight included, before the process exits. */
  @IntegerSetting({ min: 1, max: 600, unit: 'seconds' })
  SHUTDOWN_TIMEOUT_SECONDS = 20;

  /** Unset: `GET /metrics` on the API port, with the admin token. Set: also on this port, open. */
  @IntegerSetting({ min: 1, max: 65535, unit: 'port', optional: true })
  METRICS_PORT?: number;

  /** The address METRICS_PORT listens on: loopback unless the scraper is elsewhere. */
  @IsIP(undefined, { message: 'must be an IP address to listen on, such as 127.0.0.1, 0.0.0.0 or ::' })
  METRICS_HOST = '127.0.0.1';

  /** How old the key inventory behind the account gauges may be: it is never counted per scrape. */
  @IntegerSetting({ min: 1, max: 3600, unit: 'seconds' })
  METRICS_INVENTORY_SECONDS = 30;
  /** How long one request to a provider's token endpoint may take. */
  @IntegerSetting({ min: 100, max: 120000, unit: 'milliseconds' })
  PROVIDER_TIMEOUT_MS = 10000;

  /** How long an instance holds an account while it refreshes; longer than PROVIDER_TIMEOUT_MS. */
  @IntegerSetting({ min: 1, max: 600, unit: 'seconds' })
  REFRESH_LEASE_SECONDS = 30;

  /** How long a caller waits for a refresh another caller or instance has in flight. */
  @IntegerSetting({ min: 100, max: 900000, unit: 'milliseconds' })
  REFRESH_WAIT_MS = 40000;

  /** PostgreSQL: callers waiting on another instance's refresh are woken by LISTEN/NOTIFY. */
  @BooleanSetting()
  REFRESH_NOTICES_ENABLED = true;

  /** How often such a caller re-reads the account when no notice can wake it (up to twice this). */
  @IntegerSetting({ min: 10, max: 600000, unit: 'milliseconds' })
  REFRESH_POLL_MS = 100;

  /** With notices: the longest such a caller goes without re-reading the account. */
  @IntegerSetting({ min: 100, max: 600000, unit: 'milliseconds' })
  REFRESH_NOTICE_FALLBACK_MS = 2000;

  /** Refresh ahead accounts whose access token expires within this many seconds; 0 turns it off. */
  @IntegerSetting({ min: 0, max: 86400, unit: 'seconds' })
  REFRESH_AHEAD_SECONDS = 300;

  @IntegerSetting({ min: 1, max: 3600, unit: 'seconds' })
  REFRESH_AHEAD_POLL_SECONDS = 30;

  /** Refreshes the job sends to one provider in a minute, at most. */
  @IntegerSetting({ min: 1, max: 100000 })
  REFRESH_AHEAD_PER_PROVIDER_PER_MINUTE = 60;

  /** A disconnect the provider did not answer is tried again after this, then with a doubling wait. */
  @IntegerSetting({ min: 1, max: 86400, unit: 'seconds' })
  REVOCATION_RETRY_SECONDS = 30;

  /** How long the revocation worker keeps trying before it deletes the account anyway. */
  @IntegerSetting({ min: 1, max: 8760, unit: 'hours' })
  REVOCATION_MAX_HOURS = 72;

  /** How often the revocation worker looks for accounts due for another attempt. */
  @IntegerSetting({ min: 1, max: 3600, unit: 'seconds' })
  REVOCATION_POLL_SECONDS = 10;

  /** How long an instance holds the revocation worker's lease; unset: twice PROVIDER_TIMEOUT_MS, at least 30 s. */
  @IntegerSetting({ min: 2, max: 3600, unit: 'seconds', optional: true })
  REVOCATION_LEASE_SECONDS?: number;

  @BooleanSetting()
  REVOCATION_WORKER_ENABLED = true;

  /** Revocation requests `incident:grants` sends to one provider in a minute, at most. */
  @IntegerSetting({ min: 1, max: 60000 })
  INCIDENT_REVOKE_PER_MINUTE = 600;

  /** The service's public origin; the connect flow's redirect URI is `${PUBLIC_BASE_URL}/oauth/callback`. */
  @PublicOriginSetting()
  PUBLIC_BASE_URL?: string;

  /** Origins a connect session's `returnTo` may point to, comma-separated. */
  @OriginListSetting()
  CONNECT_RETURN_ORIGINS?: string;

  @IntegerSetting({ min: 60, max: 3600, unit: 'seconds' })
  CONNECT_SESSION_TTL_SECONDS = 600;

  /** Unset: every configured provider. */
  @SlugListSetting('provider names (lowercase slugs)')
  CONNECT_ENABLED_PROVIDERS?: string;

  /** When set, an account's verified email must be in one of these domains. */
  @SlugListSetting('domain names')
  CONNECT_ALLOWED_ACCOUNT_DOMAINS?: string;
}

/** Replaces every `<NAME>_FILE` by the content of that file under `<NAME>`. */
function resolveFileSettings(raw: Record<string, unknown>): Record<string, unknown> {
  const resolved = { ...raw };
  for (const name of FILE_SETTINGS) {
    const fileVariable = `${name}_FILE`;
    const path = raw[fileVariable];
    if (path === undefined || path === '') continue;
    if (raw[name] !== undefined && raw[name] !== '') {
      throw new ConfigurationError(fileVariable, `set either ${name} or ${fileVariable}, not both`);
    }
    try {
      resolved[name] = readFileSync(String(path), 'utf8').trim();
    } catch {
      throw new ConfigurationError(fileVariable, 'names a file that cannot be read');
    }
    delete resolved[fileVariable];
  }
  return resolved;
}

function dropEmptyValues(raw: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== ''));
}

/** The settings as validated, and the key material they name, decoded. */
export type ValidatedEnvironment = EnvironmentVariables & { readonly keys: DecodedKeys };

/**
 * The one validation of the environment: stops start-up on the first bad setting with a
 * message naming the variable and the rule, never the value. Returns the settings with the keys
 * they name decoded; nothing is kept here, each caller holds what it was given.
 */
export function validateEnvironment(raw: Record<string, unknown>): ValidatedEnvironment {
  const settings = plainToInstance(EnvironmentVariables, dropEmptyValues(resolveFileSettings(raw)));
  const errors = validateSync(settings, { skipMissingProperties: false });
  if (errors.length > 0) {
    const [first] = errors;
    const rules = Object.values(first.constraints ?? {}).map((rule) =>
      rule.replace(`${first.property} `, ''),
    );
    // Two rules can share a message (the bounds of a range): each is said once.
    throw new ConfigurationError(first.property, [...new Set(rules)].join('; '));
  }
  if (settings.DB_MIGRATE_ON_START === undefined) {
    settings.DB_MIGRATE_ON_START = settings.DATABASE_URL === undefined;
  }
  const keys = decodeKeys(settings);
  refuseUnsafeCombinations(settings);
  return Object.assign(settings, { keys });
}

/** Rules across settings, each a one-line refusal like the rules of a single setting. */
function refuseUnsafeCombinations(settings: EnvironmentVariables): void {
  // A lease that ends before the provider call's timeout would let a second instance spend the same refresh token.
  if (settings.REFRESH_LEASE_SECONDS * 1000 <= settings.PROVIDER_TIMEOUT_MS) {
    throw new ConfigurationError('REFRESH_LEASE_SECONDS', 'must be longer than PROVIDER_TIMEOUT_MS');
  }
  // An attempt must end while its instance still holds the lease, or two instances could send it at once.
  const revocationLease = settings.REVOCATION_LEASE_SECONDS;
  if (revocationLease !== undefined && revocationLease * 1000 <= settings.PROVIDER_TIMEOUT_MS) {
    throw new ConfigurationError('REVOCATION_LEASE_SECONDS', 'must be longer than PROVIDER_TIMEOUT_MS');
  }
  // Registry mode always seals; its keys are in the registry, not in the environment.
  const keyed = settings.WORKFLOWS_ARTIFACT_ENC_KEY !== undefined || settings.KEY_WRAPPING !== undefined;
  if (settings.CONNECTORS_REQUIRE_TOKEN_ENCRYPTION && !keyed) {
    throw new ConfigurationError(
      'WORKFLOWS_ARTIFACT_ENC_KEY',
      'is required when CONNECTORS_REQUIRE_TOKEN_ENCRYPTION is true',
    );
  }
  if (settings.NODE_ENV === 'production' && !keyed && !settings.CONNECTORS_ALLOW_PLAINTEXT_TOKENS) {
    throw new ConfigurationError(
      'WORKFLOWS_ARTIFACT_ENC_KEY',
      'is required in production (set CONNECTORS_ALLOW_PLAINTEXT_TOKENS=true to store tokens unencrypted)',
    );
  }
  if (settings.ADMIN_API_TOKEN !== undefined && settings.ADMIN_API_TOKEN === settings.CONNECTORS_API_TOKEN) {
    throw new ConfigurationError('ADMIN_API_TOKEN', 'must differ from CONNECTORS_API_TOKEN');
  }
  if (settings.METRICS_PORT !== undefined && settings.METRICS_PORT === settings.PORT) {
    throw new ConfigurationError('METRICS_PORT', 'must differ from PORT');
  }
  if (settings.HTTP_HEADERS_TIMEOUT_SECONDS > settings.HTTP_REQUEST_TIMEOUT_SECONDS) {
    throw new ConfigurationError(
      'HTTP_HEADERS_TIMEOUT_SECONDS',
      'must not exceed HTTP_REQUEST_TIMEOUT_SECONDS',
    );
  }
}
