import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyDevCredentials } from './dev-credentials';

describe('applyDevCredentials', () => {
  const dataDir = () => mkdtempSync(join(tmpdir(), 'dev-credentials-'));

  it('generates both tokens once into a 0600 file and reuses them', () => {
    const dir = dataDir();
    const first: NodeJS.ProcessEnv = { DATA_DIR: dir };
    const file = applyDevCredentials(first);
    expect(file).toBe(join(dir, 'dev-credentials.json'));
    expect(statSync(file as string).mode & 0o777).toBe(0o600);
    expect(first.CONNECTORS_API_TOKEN).toHaveLength(32);
    expect(first.ADMIN_API_TOKEN).not.toBe(first.CONNECTORS_API_TOKEN);
    const second: NodeJS.ProcessEnv = { DATA_DIR: dir, NODE_ENV: 'development' };
    applyDevCredentials(second);
    expect(second.CONNECTORS_API_TOKEN).toBe(first.CONNECTORS_API_TOKEN);
    expect(JSON.parse(readFileSync(file as string, 'utf8')).ADMIN_API_TOKEN).toBe(first.ADMIN_API_TOKEN);
  });

  it('never generates anything in production or under test', () => {
    for (const nodeEnv of ['production', 'test']) {
      const env: NodeJS.ProcessEnv = { DATA_DIR: dataDir(), NODE_ENV: nodeEnv };
      expect(applyDevCredentials(env)).toBeUndefined();
      expect(env.CONNECTORS_API_TOKEN).toBeUndefined();
      expect(env.ADMIN_API_TOKEN).toBeUndefined();
    }
  });

  it('keeps tokens that are configured', () => {
    const env: NodeJS.ProcessEnv = { DATA_DIR: dataDir(), CONNECTORS_API_TOKEN: 'configured-service-token' };
    applyDevCredentials(env);
    expect(env.CONNECTORS_API_TOKEN).toBe('configured-service-token');
    expect(env.ADMIN_API_TOKEN).toHaveLength(32);
  });
});
