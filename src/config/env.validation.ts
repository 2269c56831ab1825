import { readFileSync } from 'node:fs';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MinLength,
  Min,
  validateSync,
} from 'class-validator';
import { ConfigurationError } from './configuration.error';
import { IsPostgresUrl } from './is-postgres-url.validator';
import { IsTrustProxy } from './trust-proxy';
import { IsOriginList, IsPublicOrigin, IsSlugList } from './connect-settings';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { KEY_BYTES, KeyMaterialError, KeyRing } from '../crypto/key-ring';
import { decodeStrictBase64 } from '../crypto/strict-base64';

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

/** `local`, or `aws-kms:` and the ARN of a KMS key or alias. */
const KEY_WRAPPING_PATTERN =
  /^(local|aws-kms:arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key\/[A-Za-z0-9-]+|alias\/[A-Za-z0-9/_-]+))$/;

const toBoolean = ({ value }: { value: unknown }) => {
  if (value === undefined || value === '' || typeof value === 'boolean')
    return value === '' ? undefined : value;
  const text = String(value).trim().toLowerCase();
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  return value;
};
const trimmed = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
const toInteger = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;

export class EnvironmentVariables {
  @IsIn(NODE_ENVS, { message: `must be one of ${NODE_ENVS.join(', ')}` })
  NODE_ENV: (typeof NODE_ENVS)[number] = 'development';

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer port number' })
  @Min(1, { message: 'must be between 1 and 65535' })
  @Max(65535, { message: 'must be between 1 and 65535' })
  PORT = 3000;

  @IsOptional()
  @IsPostgresUrl()
  DATABASE_URL?: string;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 200' })
  @Max(200, { message: 'must be between 1 and 200' })
  DATABASE_POOL_SIZE = 10;

  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  DATA_DIR = './data';

  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  DB_MIGRATE_ON_START?: boolean;

  @IsIn(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` })
  LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'info';

  /** Trimmed (a secret file often ends with a newline); a bearer token cannot hold whitespace. */
  @IsOptional()
  @Transform(trimmed)
  @IsString()
  @MinLength(16, { message: 'must be at least 16 characters, not counting surrounding whitespace' })
  @Matches(/^\S*$/, { message: 'must not contain whitespace' })
  CONNECTORS_API_TOKEN?: string;

  @IsOptional()
  @Transform(trimmed)
  @IsString()
  @MinLength(16, { message: 'must be at least 16 characters, not counting surrounding whitespace' })
  @Matches(/^\S*$/, { message: 'must not contain whitespace' })
  ADMIN_API_TOKEN?: string;

  @IsOptional()
  @IsString()
  WORKFLOWS_ARTIFACT_ENC_KEY?: string;

  @IsOptional()
  @IsString()
  WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS?: string;

  @IsOptional()
  @IsString()
  JOBS_CRYPTO_SECONDARY_KEY?: string;

  /** Unset: env mode (the keys above). `local` or `aws-kms:<ARN>`: registry mode. */
  @IsOptional()
  @Transform(trimmed)
  @Matches(KEY_WRAPPING_PATTERN, { message: 'must be local or aws-kms:<ARN of a KMS key or alias>' })
  KEY_WRAPPING?: string;

  /** The root key of `local` wrapping; decoded at validation, never kept as text. */
  @IsOptional()
  @IsString()
  ROOT_KEY?: string;

  /** The root key being replaced: unwraps only, for keys:rewrap. */
  @IsOptional()
  @IsString()
  ROOT_KEY_PREVIOUS?: string;

  /** Region of the SDK; when set it must be the region of the KMS key. */
  @IsOptional()
  @Matches(/^[a-z]{2}(-[a-z]+)+-[0-9]$/, { message: 'must be an AWS region such as eu-west-1' })
  AWS_REGION?: string;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(1, { message: 'must be between 1 and 300' })
  @Max(300, { message: 'must be between 1 and 300' })
  KEY_REGISTRY_REFRESH_SECONDS = 5;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(1, { message: 'must be between 1 and 600' })
  @Max(600, { message: 'must be between 1 and 600' })
  KEY_PROMOTION_TIMEOUT_SECONDS = 30;

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  CONNECTORS_REQUIRE_TOKEN_ENCRYPTION = false;

  /** Production refuses to start without a key unless this says plaintext storage is intended. */
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  CONNECTORS_ALLOW_PLAINTEXT_TOKENS = false;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(5, { message: 'must be between 5 and 3600' })
  @Max(3600, { message: 'must be between 5 and 3600' })
  ROTATION_LEASE_SECONDS = 30;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 10000' })
  @Max(10000, { message: 'must be between 1 and 10000' })
  ROTATION_BATCH_SIZE = 1000;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(1, { message: 'must be between 1 and 3600' })
  @Max(3600, { message: 'must be between 1 and 3600' })
  ROTATION_POLL_SECONDS = 5;

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  ROTATION_WORKER_ENABLED = true;

  /** Unset: one fewer than the cores, at most 2. 0 seals in the thread that runs the job. */
  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer' })
  @Min(0, { message: 'must be between 0 and 16' })
  @Max(16, { message: 'must be between 0 and 16' })
  ROTATION_RESEAL_THREADS?: number;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 100000' })
  @Max(100000, { message: 'must be between 1 and 100000' })
  ADMIN_RATE_LIMIT_PER_MINUTE = 120;

  /** Requests per client address per minute that present no valid admin token. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 100000' })
  @Max(100000, { message: 'must be between 1 and 100000' })
  ADMIN_FAILED_AUTH_LIMIT_PER_MINUTE = 30;

  /** Unset or false: the client address is the socket's. See trust-proxy.ts for the forms. */
  @IsOptional()
  @IsTrustProxy()
  TRUST_PROXY?: string;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of days' })
  @Min(1, { message: 'must be between 1 and 3650' })
  @Max(3650, { message: 'must be between 1 and 3650' })
  AUDIT_RETENTION_DAYS = 90;

  /** Refused admin requests of one kind from one address are recorded as one row per window. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(1, { message: 'must be between 1 and 3600' })
  @Max(3600, { message: 'must be between 1 and 3600' })
  AUDIT_REFUSAL_WINDOW_SECONDS = 60;

  /** Unset: served outside production only. */
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  API_DOCS_ENABLED?: boolean;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(1, { message: 'must be between 1 and 300' })
  @Max(300, { message: 'must be between 1 and 300' })
  HTTP_HEADERS_TIMEOUT_SECONDS = 10;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(1, { message: 'must be between 1 and 3600' })
  @Max(3600, { message: 'must be between 1 and 3600' })
  HTTP_REQUEST_TIMEOUT_SECONDS = 30;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(1, { message: 'must be between 1 and 600' })
  @Max(600, { message: 'must be between 1 and 600' })
  HTTP_KEEP_ALIVE_TIMEOUT_SECONDS = 5;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 100000' })
  @Max(100000, { message: 'must be between 1 and 100000' })
  HTTP_MAX_CONNECTIONS = 1000;

  /** Unset: `GET /metrics` on the API port, with the admin token. Set: also on this port, open. */
  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer port number' })
  @Min(1, { message: 'must be between 1 and 65535' })
  @Max(65535, { message: 'must be between 1 and 65535' })
  METRICS_PORT?: number;

  /** How old the key inventory behind the account gauges may be: it is never counted per scrape. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(1, { message: 'must be between 1 and 3600' })
  @Max(3600, { message: 'must be between 1 and 3600' })
  METRICS_INVENTORY_SECONDS = 30;
  /** How long one request to a provider's token endpoint may take. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds' })
  @Min(100, { message: 'must be between 100 and 120000' })
  @Max(120000, { message: 'must be between 100 and 120000' })
  PROVIDER_TIMEOUT_MS = 10000;

  /** How long an instance holds an account while it refreshes; longer than PROVIDER_TIMEOUT_MS. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(1, { message: 'must be between 1 and 600' })
  @Max(600, { message: 'must be between 1 and 600' })
  REFRESH_LEASE_SECONDS = 30;

  /** How long a caller waits for a refresh another caller or instance has in flight. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of milliseconds' })
  @Min(100, { message: 'must be between 100 and 900000' })
  @Max(900000, { message: 'must be between 100 and 900000' })
  REFRESH_WAIT_MS = 40000;

  /** Refresh ahead accounts whose access token expires within this many seconds; 0 turns it off. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(0, { message: 'must be between 0 and 86400' })
  @Max(86400, { message: 'must be between 0 and 86400' })
  REFRESH_AHEAD_SECONDS = 300;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(1, { message: 'must be between 1 and 3600' })
  @Max(3600, { message: 'must be between 1 and 3600' })
  REFRESH_AHEAD_POLL_SECONDS = 30;

  /** Refreshes the job sends to one provider in a minute, at most. */
  @Transform(toInteger)
  @IsInt({ message: 'must be an integer' })
  @Min(1, { message: 'must be between 1 and 100000' })
  @Max(100000, { message: 'must be between 1 and 100000' })
  REFRESH_AHEAD_PER_PROVIDER_PER_MINUTE = 60;

  /** The service's public origin; the connect flow's redirect URI is `${PUBLIC_BASE_URL}/oauth/callback`. */
  @IsOptional()
  @Transform(trimmed)
  @IsPublicOrigin()
  PUBLIC_BASE_URL?: string;

  /** Origins a connect session's `returnTo` may point to, comma-separated. */
  @IsOptional()
  @IsOriginList()
  CONNECT_RETURN_ORIGINS?: string;

  @Transform(toInteger)
  @IsInt({ message: 'must be an integer number of seconds' })
  @Min(60, { message: 'must be between 60 and 3600' })
  @Max(3600, { message: 'must be between 60 and 3600' })
  CONNECT_SESSION_TTL_SECONDS = 600;

  /** Unset: every configured provider. */
  @IsOptional()
  @IsSlugList('provider names (lowercase slugs)')
  CONNECT_ENABLED_PROVIDERS?: string;

  /** When set, an account's verified email must be in one of these domains. */
  @IsOptional()
  @IsSlugList('domain names')
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

const KEY_VARIABLES: Record<string, string> = {
  primary: 'WORKFLOWS_ARTIFACT_ENC_KEY',
  previous: 'WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS',
  secondary: 'JOBS_CRYPTO_SECONDARY_KEY',
};

/** The key ring of each validated environment: keys are decoded once, at validation. */
const rings = new WeakMap<EnvironmentVariables, KeyRing>();

function keyRingOf(settings: EnvironmentVariables): KeyRing {
  try {
    return KeyRing.fromSettings({
      primary: settings.WORKFLOWS_ARTIFACT_ENC_KEY,
      previous: settings.WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS,
      secondary: settings.JOBS_CRYPTO_SECONDARY_KEY,
    });
  } catch (error) {
    if (!(error instanceof KeyMaterialError)) throw error;
    // `previous[2]` names the second entry of the list variable.
    const variable = error.setting.replace(/^\w+/, (setting) => KEY_VARIABLES[setting] ?? setting);
    throw new ConfigurationError(variable, error.rule);
  }
}

export type KeyWrappingSettings =
  | { kind: 'local'; rootKey: KeyObject; previousRootKey?: KeyObject }
  | { kind: 'aws-kms'; keyArn: string; region: string; previousRootKey?: KeyObject };

const wrappings = new WeakMap<EnvironmentVariables, KeyWrappingSettings>();

function rootKeyOf(variable: string, text: string | undefined): KeyObject | undefined {
  if (text === undefined) return undefined;
  const bytes = decodeStrictBase64(text.trim());
  if (bytes?.length !== KEY_BYTES) {
    throw new ConfigurationError(
      variable,
      'must be standard base64 of exactly 32 bytes (openssl rand -base64 32)',
    );
  }
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return key;
}

/** Registry mode's wrapping, with its root keys decoded; undefined in env mode. */
function keyWrappingOf(settings: EnvironmentVariables): KeyWrappingSettings | undefined {
  const wrapping = settings.KEY_WRAPPING;
  const rootKey = rootKeyOf('ROOT_KEY', settings.ROOT_KEY);
  const previousRootKey = rootKeyOf('ROOT_KEY_PREVIOUS', settings.ROOT_KEY_PREVIOUS);
  if (wrapping === undefined) {
    if (rootKey || previousRootKey) {
      throw new ConfigurationError(
        rootKey ? 'ROOT_KEY' : 'ROOT_KEY_PREVIOUS',
        'applies only with KEY_WRAPPING',
      );
    }
    return undefined;
  }
  for (const variable of Object.values(KEY_VARIABLES)) {
    if (settings[variable as keyof EnvironmentVariables] !== undefined) {
      throw new ConfigurationError(
        variable,
        'must not be set in registry mode (KEY_WRAPPING): keys:import takes it into the registry',
      );
    }
  }
  if (wrapping === 'local') {
    if (!rootKey) throw new ConfigurationError('ROOT_KEY', 'is required when KEY_WRAPPING is local');
    return { kind: 'local', rootKey, previousRootKey };
  }
  if (rootKey) throw new ConfigurationError('ROOT_KEY', 'applies only when KEY_WRAPPING is local');
  const keyArn = wrapping.slice('aws-kms:'.length);
  const region = keyArn.split(':')[3];
  if (settings.AWS_REGION !== undefined && settings.AWS_REGION !== region) {
    throw new ConfigurationError('AWS_REGION', 'must be the region of the KMS key named in KEY_WRAPPING');
  }
  return { kind: 'aws-kms', keyArn, region, previousRootKey };
}

/** The wrapping of registry mode decoded when `settings` were validated; undefined in env mode. */
export function keyWrappingFor(settings: EnvironmentVariables): KeyWrappingSettings | undefined {
  keyRingFor(settings);
  return wrappings.get(settings);
}

/** The key ring built when `settings` were validated. */
export function keyRingFor(settings: EnvironmentVariables): KeyRing {
  const ring = rings.get(settings);
  if (!ring) throw new Error('keyRingFor needs settings returned by validateEnvironment');
  return ring;
}

let lastInput: string | undefined;
let lastResult: EnvironmentVariables | undefined;

/**
 * The one validation of the environment: stops start-up on the first bad setting with a
 * message naming the variable and the rule, never the value. The same input gives the same
 * settings object, validated once; every namespace reads it.
 */
export function validateEnvironment(raw: Record<string, unknown>): EnvironmentVariables {
  const input = JSON.stringify(raw);
  if (input === lastInput && lastResult) return lastResult;
  const settings = validateOnce(raw);
  [lastInput, lastResult] = [input, settings];
  return settings;
}

function validateOnce(raw: Record<string, unknown>): EnvironmentVariables {
  const settings = plainToInstance(EnvironmentVariables, dropEmptyValues(resolveFileSettings(raw)));
  const errors = validateSync(settings, { skipMissingProperties: false });
  if (errors.length > 0) {
    const [first] = errors;
    const rules = Object.values(first.constraints ?? {}).map((rule) =>
      rule.replace(`${first.property} `, ''),
    );
    throw new ConfigurationError(first.property, rules.join('; '));
  }
  if (settings.DB_MIGRATE_ON_START === undefined) {
    settings.DB_MIGRATE_ON_START = settings.DATABASE_URL === undefined;
  }
  rings.set(settings, keyRingOf(settings));
  const wrapping = keyWrappingOf(settings);
  if (wrapping) wrappings.set(settings, wrapping);
  refuseUnsafeCombinations(settings);
  return settings;
}

/** Rules across settings, each a one-line refusal like the rules of a single setting. */
function refuseUnsafeCombinations(settings: EnvironmentVariables): void {
  // A lease that ends before the provider call's timeout would let a second instance spend the same refresh token.
  if (settings.REFRESH_LEASE_SECONDS * 1000 <= settings.PROVIDER_TIMEOUT_MS) {
    throw new ConfigurationError('REFRESH_LEASE_SECONDS', 'must be longer than PROVIDER_TIMEOUT_MS');
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
