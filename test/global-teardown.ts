import { rmSync } from 'node:fs';
import { adminQuery, serverUrl } from './test-database';

export default async function globalTeardown(): Promise<void> {
  const server = serverUrl();
  const name = process.env.E2E_DATABASE_NAME;
  if (server && name) await adminQuery(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  if (process.env.E2E_DATA_DIR) rmSync(process.env.E2E_DATA_DIR, { recursive: true, force: true });
}
