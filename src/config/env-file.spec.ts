import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnvFile } from './env-file';

describe('loadEnvFile', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'env-file-'));
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('adds the settings of .env that the environment does not have, and keeps those it has', () => {
    writeFileSync(
      join(dir, '.env'),
      [
        '# a comment',
        'PORT=8080',
        'LOG_LEVEL=debug',
        'ADMIN_API_TOKEN="quoted value # not a comment"',
        'EMPTY=',
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = { NODE_ENV: 'production', LOG_LEVEL: 'warn', EMPTY: 'given' };

    expect(loadEnvFile(env, dir)).toBe(join(dir, '.env'));

    expect(env).toEqual({
      NODE_ENV: 'production',
      PORT: '8080',
      LOG_LEVEL: 'warn',
      ADMIN_API_TOKEN: 'quoted value # not a comment',
      EMPTY: 'given',
    });
  });

  it('reads nothing under NODE_ENV=test, nor when there is no file', () => {
    writeFileSync(join(dir, '.env'), 'PORT=8080\n');
    const testEnv: NodeJS.ProcessEnv = { NODE_ENV: 'test' };
    expect(loadEnvFile(testEnv, dir)).toBeUndefined();
    expect(testEnv).toEqual({ NODE_ENV: 'test' });

    const elsewhere = mkdtempSync(join(tmpdir(), 'env-file-none-'));
    const env: NodeJS.ProcessEnv = {};
    try {
      expect(loadEnvFile(env, elsewhere)).toBeUndefined();
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
    expect(env).toEqual({});
  });
});
