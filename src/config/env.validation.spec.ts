import { randomBytes } from 'node:crypto';
import { ConfigurationError } from './configuration.error';
import { auditConfig } from './configuration';
import { validateEnvironment } from './env.validation';

const newKey = (): string => randomBytes(32).toString('base64');

function errorOf(raw: Record<string, string>): ConfigurationError {
  try {
    validateEnvironment(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('validateEnvironment', () => {
  it('names the variable, and the entry of a list, that holds a bad key, never the key', () => {
    const bad = randomBytes(16).toString('base64');
    const cases: [Record<string, string>, string][] = [
      [{ WORKFLOWS_ARTIFACT_ENC_KEY: bad }, 'WORKFLOWS_ARTIFACT_ENC_KEY'],
      [
        { WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: `${newKey()},${bad}` },
        'WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS[2]',
      ],
      [{ JOBS_CRYPTO_SECONDARY_KEY: bad }, 'JOBS_CRYPTO_SECONDARY_KEY'],
    ];
    for (const [raw, variable] of cases) {
      const error = errorOf(raw);
      expect(error.variable).toBe(variable);
      expect(error.message).not.toContain(bad);
    }
  });

  it('returns the key ring it decoded with the settings', () => {
    const raw = { WORKFLOWS_ARTIFACT_ENC_KEY: newKey(), WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: newKey() };
    const { keys } = validateEnvironment(raw);
    expect(keys.ring.keyIds()).toHaveLength(2);
    expect(keys.wrapping).toBeUndefined();
  });

  it('decodes the keys of each input it is given', () => {
    const first = validateEnvironment({ WORKFLOWS_ARTIFACT_ENC_KEY: newKey() });
    const second = validateEnvironment({ WORKFLOWS_ARTIFACT_ENC_KEY: newKey() });
    expect(second.keys.ring.primaryKeyId).not.toBe(first.keys.ring.primaryKeyId);
  });

  it('returns the root key of local wrapping decoded, and no env-mode key', () => {
    const { keys } = validateEnvironment({ KEY_WRAPPING: 'local', ROOT_KEY: newKey() });
    expect(keys.wrapping?.kind).toBe('local');
    expect(keys.ring.keyIds()).toHaveLength(0);
  });

  it.each([
    [{ PROVIDER_TIMEOUT_MS: '50' }, 'PROVIDER_TIMEOUT_MS'],
    [{ REFRESH_LEASE_SECONDS: 'soon' }, 'REFRESH_LEASE_SECONDS'],
    [{ REFRESH_WAIT_MS: '-1' }, 'REFRESH_WAIT_MS'],
    [{ REFRESH_AHEAD_SECONDS: '90000' }, 'REFRESH_AHEAD_SECONDS'],
    [{ REFRESH_AHEAD_POLL_SECONDS: '0' }, 'REFRESH_AHEAD_POLL_SECONDS'],
    [{ REFRESH_AHEAD_PER_PROVIDER_PER_MINUTE: '1.5' }, 'REFRESH_AHEAD_PER_PROVIDER_PER_MINUTE'],
    [{ REFRESH_LEASE_SECONDS: '5', PROVIDER_TIMEOUT_MS: '5000' }, 'REFRESH_LEASE_SECONDS'],
  ])('refuses a bad refresh setting %j, naming %s', (raw, variable) => {
    expect(errorOf(raw).variable).toBe(variable);
  });

  it.each([
    [{ REVOCATION_RETRY_SECONDS: '0' }, 'REVOCATION_RETRY_SECONDS'],
    [{ REVOCATION_MAX_HOURS: '1.5' }, 'REVOCATION_MAX_HOURS'],
    [{ REVOCATION_POLL_SECONDS: 'often' }, 'REVOCATION_POLL_SECONDS'],
    [{ REVOCATION_WORKER_ENABLED: 'maybe' }, 'REVOCATION_WORKER_ENABLED'],
    [{ INCIDENT_REVOKE_PER_MINUTE: '0' }, 'INCIDENT_REVOKE_PER_MINUTE'],
    [{ REVOCATION_LEASE_SECONDS: '10', PROVIDER_TIMEOUT_MS: '10000' }, 'REVOCATION_LEASE_SECONDS'],
  ])('refuses a bad revocation setting %j, naming %s', (raw, variable) => {
    expect(errorOf(raw).variable).toBe(variable);
  });

  it('turns refresh-ahead off with REFRESH_AHEAD_SECONDS=0', () => {
    expect(validateEnvironment({ REFRESH_AHEAD_SECONDS: '0' }).REFRESH_AHEAD_SECONDS).toBe(0);
  });

  it.each([
    [{ AUDIT_MAX_LAG_SECONDS: '0' }, 'AUDIT_MAX_LAG_SECONDS', 'must be between 1 and 3600'],
    [{ AUDIT_MAX_PENDING: '5' }, 'AUDIT_MAX_PENDING', 'must be between 10 and 1000000'],
    [{ AUDIT_FAIL_CLOSED: 'maybe' }, 'AUDIT_FAIL_CLOSED', 'must be true or false'],
    [
      { CLIENT_SECRET_OVERLAP_HOURS: '1.5' },
      'CLIENT_SECRET_OVERLAP_HOURS',
      'must be an integer number of hours',
    ],
    [{ CLIENT_CACHE_SECONDS: '301' }, 'CLIENT_CACHE_SECONDS', 'must be between 0 and 300'],
  ])('refuses a bad audit or caller setting %j, naming %s', (raw, variable, rule) => {
    const error = errorOf(raw);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(rule);
  });

  it('fails the token-read trail closed by default in production only', () => {
    const production = { NODE_ENV: 'production', WORKFLOWS_ARTIFACT_ENC_KEY: newKey() };
    expect(auditConfig(validateEnvironment(production)).failClosed).toBe(true);
    expect(auditConfig(validateEnvironment({ ...production, AUDIT_FAIL_CLOSED: 'false' })).failClosed).toBe(
      false,
    );
    expect(auditConfig(validateEnvironment({ NODE_ENV: 'development' })).failClosed).toBe(false);
    expect(auditConfig(validateEnvironment({ AUDIT_FAIL_CLOSED: 'true' })).failClosed).toBe(true);
  });
});
