import { ConfigurationError } from './configuration.error';
import { validateEnvironment } from './env.validation';

function variableOf(raw: Record<string, string>): string {
  try {
    validateEnvironment(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).not.toContain(Object.values(raw)[0]);
    return (error as ConfigurationError).variable;
  }
  throw new Error('expected a ConfigurationError');
}

describe('connect flow settings', () => {
  it.each([
    [{ PUBLIC_BASE_URL: 'http://connectors.example' }],
    [{ PUBLIC_BASE_URL: 'https://connectors.example/base' }],
    [{ PUBLIC_BASE_URL: 'https://user:pw@connectors.example' }],
    [{ PUBLIC_BASE_URL: 'https://connectors.example?x=1' }],
    [{ CONNECT_RETURN_ORIGINS: 'https://app.example,//evil.example' }],
    [{ CONNECT_RETURN_ORIGINS: 'https://app.example/return' }],
    [{ CONNECT_RETURN_ORIGINS: 'http://app.example' }],
    [{ CONNECT_SESSION_TTL_SECONDS: '30' }],
    [{ CONNECT_SESSION_TTL_SECONDS: '7200' }],
    [{ CONNECT_ENABLED_PROVIDERS: 'Google Drive' }],
    [{ CONNECT_ENABLED_PROVIDERS: ',' }],
    [{ CONNECT_ALLOWED_ACCOUNT_DOMAINS: 'example.com,@evil' }],
  ])('refuses %j, naming the variable and never its value', (raw) => {
    expect(variableOf(raw)).toBe(Object.keys(raw)[0]);
  });

  it.each([
    [{ PUBLIC_BASE_URL: 'https://connectors.example/' }],
    [{ PUBLIC_BASE_URL: 'http://127.0.0.1:8080' }],
    [{ CONNECT_RETURN_ORIGINS: 'https://app.example, http://localhost:3000' }],
    [{ CONNECT_ENABLED_PROVIDERS: 'google_drive,notion' }],
    [{ CONNECT_ALLOWED_ACCOUNT_DOMAINS: 'example.com, corp.example.org' }],
  ])('accepts %j', (raw) => {
    expect(() => validateEnvironment(raw)).not.toThrow();
  });
});
