import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { KeyRing } from '../src/crypto/key-ring';
import { alternate, formatNumber, isQuick, median, printTable } from './bench-stats';
import { createBenchDatabase } from './bench-database';

const ROOT = resolve(__dirname, '..');
const PORT = 3903;

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function waitReady(): Promise<void> {
  for (let attempt = 0; attempt < 150; attempt += 1) {
    if (
      await fetch(`http://127.0.0.1:${PORT}/health/ready`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((done) => setTimeout(done, 200));
  }
  throw new Error('server did not become ready');
}

/** `GET /admin/keys` on N accounts spread over two keys, legacy and plaintext rows, against the bare GROUP BY. */
export async function runInventoryBench(): Promise<void> {
  if (spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' }).status !== 0)
    throw new Error('build failed');
  const count = isQuick() ? 100000 : 1000000;
  const keys = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
  const kids = keys.map((key) => KeyRing.fromSettings({ primary: key }).primaryKeyId as string);
  const adminToken = randomBytes(24).toString('base64url');
  const database = await createBenchDatabase('inventory');
  const server = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      PORT: String(PORT),
      LOG_LEVEL: 'warn',
      DATABASE_URL: database.url,
      ADMIN_API_TOKEN: adminToken,
      ADMIN_RATE_LIMIT_PER_MINUTE: '100000',
      ROTATION_WORKER_ENABLED: 'false',
      WORKFLOWS_ARTIFACT_ENC_KEY: keys[1],
      WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: keys[0],
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await database.dataSource.query(
      `INSERT INTO external_accounts (user_id, provider, access_token, token_key_id)
       SELECT i, 'google_drive', repeat('x', 400),
              CASE WHEN i % 100 = 0 THEN 'legacy-v1' WHEN i % 100 = 1 THEN 'plaintext' WHEN i % 2 = 0 THEN $1 ELSE $2 END
         FROM generate_series(1, $3) AS i`,
      [kids[0], kids[1], count],
    );
    await database.dataSource.query(`VACUUM ANALYZE external_accounts`);
    await waitReady();
    const headers = { authorization: `Bearer ${adminToken}` };
    const route = () => fetch(`http://127.0.0.1:${PORT}/admin/keys`, { headers }).then((r) => r.json());
    const bare = () =>
      database.dataSource.query(`SELECT token_key_id, count(*) FROM external_accounts GROUP BY token_key_id`);
    await route();
    await bare();
    const result = await alternate(
      isQuick() ? 3 : 7,
      () => timed(route),
      () => timed(bare),
    );
    const routeMs = median(result.project);
    const bareMs = median(result.reference);
    printTable([
      { measure: 'GET /admin/keys', 'median ms': formatNumber(routeMs, 1) },
      { measure: 'bare GROUP BY', 'median ms': formatNumber(bareMs, 1) },
    ]);
    console.log(
      `inventory = ${formatNumber(routeMs / 1000, 3)} s at ${count}, route/bare = ${formatNumber(routeMs / bareMs)}`,
    );
  } finally {
    server.kill('SIGTERM');
    await database.drop();
  }
}

if (require.main === module) void runInventoryBench();
