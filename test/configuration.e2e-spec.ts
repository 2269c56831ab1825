import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigurationError } from '../src/config/configuration.error';
import { validateEnvironment } from '../src/config/env.validation';

const ROOT = resolve(__dirname, '..');

function refusal(env: Record<string, string>): ConfigurationError {
  try {
    validateEnvironment({ NODE_ENV: 'test', ...env });
  } catch (error) {
    if (error instanceof ConfigurationError) return error;
    throw error;
  }
  throw new Error('the setting was accepted');
}

describe('configuration', () => {
  it('says each broken rule once', () => {
    expect(refusal({ PORT: 'abc' }).message).toBe(
      'PORT: must be between 1 and 65535; must be an integer port number',
    );
  });

  it.each([
    ['SHUTDOWN_TIMEOUT_SECONDS', '0', 'must be between 1 and 600'],
    ['DATABASE_POOL_TIMEOUT_MS', '10', 'must be between 100 and 600000'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '99', 'must be between 100 and 3600000'],
    ['DATABASE_LOCK_TIMEOUT_MS', '99', 'must be between 100 and 3600000'],
    [
      'METRICS_HOST',
      'metrics.internal',
      'must be an IP address to listen on, such as 127.0.0.1, 0.0.0.0 or ::',
    ],
  ])('refuses %s=%s: %s', (variable, value, rule) => {
    expect(refusal({ [variable]: value }).message).toBe(`${variable}: ${rule}`);
  });

  it.each([
    ['NODE_ENV', 'staging'],
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://root@localhost/db'],
    ['DATABASE_URL', 'not a url at all'],
    ['DATABASE_POOL_SIZE', '-5'],
    ['DB_MIGRATE_ON_START', 'perhaps'],
    ['LOG_LEVEL', 'loud'],
    ['CONNECTORS_API_TOKEN', 'short'],
    ['ADMIN_API_TOKEN', 'short'],
    ['CONNECTORS_REQUIRE_TOKEN_ENCRYPTION', 'yes please'],
    ['ROTATION_LEASE_SECONDS', '1'],
    ['ROTATION_RESEAL_THREADS', 'two'],
    ['ROTATION_RESEAL_THREADS', '17'],
    ['WORKFLOWS_ARTIFACT_ENC_KEY', 'c2hvcnQ='],
    ['TRUST_PROXY', 'true'],
    ['TRUST_PROXY', '11'],
    ['TRUST_PROXY', 'proxy.internal'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', 'loopback,300.1.1.1'],
    ['ADMIN_FAILED_AUTH_LIMIT_PER_MINUTE', '-7'],
    ['AUDIT_RETENTION_DAYS', '99999'],
    ['AUDIT_REFUSAL_WINDOW_SECONDS', 'often'],
    ['API_DOCS_ENABLED', 'sometimes'],
    ['HTTP_HEADERS_TIMEOUT_SECONDS', '-3'],
    ['HTTP_MAX_CONNECTIONS', 'lots'],
    ['CONNECTORS_ALLOW_PLAINTEXT_TOKENS', 'maybe'],
  ])('refuses %s=%s naming the variable but not the value', (variable, value) => {
    const error = refusal({ [variable]: value });
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
    expect(error.message).not.toContain(value);
  });

  it.each(['loopback', '1', '2', '10.0.0.0/8, 192.168.1.10', 'uniquelocal,::1', 'false'])(
    'accepts TRUST_PROXY=%s',
    (value) => {
      expect(validateEnvironment({ NODE_ENV: 'test', TRUST_PROXY: value }).TRUST_PROXY).toBe(value);
    },
  );

  it('refuses a headers timeout longer than the request timeout', () => {
    const error = refusal({ HTTP_HEADERS_TIMEOUT_SECONDS: '60', HTTP_REQUEST_TIMEOUT_SECONDS: '30' });
    expect(error.variable).toBe('HTTP_HEADERS_TIMEOUT_SECONDS');
  });

  it('names the position of a bad previous key', () => {
    const good = randomBytes(32).toString('base64');
    const error = refusal({ WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: `${good},${good.slice(1)}` });
    expect(error.variable).toBe('WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS[2]');
    expect(error.message).not.toContain(good.slice(1));
  });

  it('refuses to run with encryption required and no key', () => {
    expect(refusal({ CONNECTORS_REQUIRE_TOKEN_ENCRYPTION: 'true' }).variable).toBe(
      'WORKFLOWS_ARTIFACT_ENC_KEY',
    );
  });

  it('reads secrets from *_FILE variables and refuses both forms at once', () => {
    const key = randomBytes(32).toString('base64');
    const file = join(mkdtempSync(join(tmpdir(), 'connectors-config-')), 'key');
    writeFileSync(file, `${key}\n`);
    expect(validateEnvironment({ WORKFLOWS_ARTIFACT_ENC_KEY_FILE: file }).WORKFLOWS_ARTIFACT_ENC_KEY).toBe(
      key,
    );
    const both = refusal({ WORKFLOWS_ARTIFACT_ENC_KEY_FILE: file, WORKFLOWS_ARTIFACT_ENC_KEY: key });
    expect(both.variable).toBe('WORKFLOWS_ARTIFACT_ENC_KEY_FILE');
    expect(refusal({ ADMIN_API_TOKEN_FILE: join(file, 'missing') }).variable).toBe('ADMIN_API_TOKEN_FILE');
  });

  it('migrates on start by default only for the embedded database', () => {
    expect(validateEnvironment({}).DB_MIGRATE_ON_START).toBe(true);
    expect(validateEnvironment({ DATABASE_URL: 'postgres://u@db.example/x' }).DB_MIGRATE_ON_START).toBe(
      false,
    );
  });

  it('stops the server with one line and a non-zero exit on a bad setting', () => {
    const secret = `postgres-secret-${randomBytes(4).toString('hex')}`;
    const result = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', DATABASE_URL: `mysql://${secret}@localhost/x` },
      encoding: 'utf8',
      timeout: 60000,
    });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([
      'Configuration error: DATABASE_URL: must be a postgres:// or postgresql:// URL with a host',
    ]);
    expect(result.stderr).not.toContain(secret);
  });
});
