import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface DevCredentials {
  CONNECTORS_API_TOKEN: string;
  ADMIN_API_TOKEN: string;
}

/**
 * Outside production, a newcomer gets working bearer secrets without any setup: generated once
 * into DATA_DIR/dev-credentials.json (mode 0600) and reused. Returns the file path when used.
 * Never runs in production or under test, where unset tokens keep the routes closed.
 */
export function applyDevCredentials(env: NodeJS.ProcessEnv): string | undefined {
  const nodeEnv = env.NODE_ENV ?? 'development';
  if (nodeEnv !== 'development') return undefined;
  if (env.CONNECTORS_API_TOKEN || env.CONNECTORS_API_TOKEN_FILE) {
    if (env.ADMIN_API_TOKEN || env.ADMIN_API_TOKEN_FILE) return undefined;
  }
  const dataDir = resolve(env.DATA_DIR || './data');
  const file = join(dataDir, 'dev-credentials.json');
  const credentials = existsSync(file) ? readCredentials(file) : writeCredentials(dataDir, file);
  if (!env.CONNECTORS_API_TOKEN && !env.CONNECTORS_API_TOKEN_FILE) {
    env.CONNECTORS_API_TOKEN = credentials.CONNECTORS_API_TOKEN;
  }
  if (!env.ADMIN_API_TOKEN && !env.ADMIN_API_TOKEN_FILE) env.ADMIN_API_TOKEN = credentials.ADMIN_API_TOKEN;
  return file;
}

function readCredentials(file: string): DevCredentials {
  return JSON.parse(readFileSync(file, 'utf8')) as DevCredentials;
}

function writeCredentials(dataDir: string, file: string): DevCredentials {
  const credentials: DevCredentials = {
    CONNECTORS_API_TOKEN: randomBytes(24).toString('base64url'),
    ADMIN_API_TOKEN: randomBytes(24).toString('base64url'),
  };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return credentials;
}
