import { randomBytes } from 'node:crypto';
import { KeyRing } from '../src/crypto/key-ring';
import { alternate, formatNumber, isQuick, median, printTable, timedSeconds } from './bench-stats';
import { createBenchDatabase } from './bench-database';
import { ensureBuilt, startServer, stopServers, waitReady } from './bench-server';

const PORT = 3903;

const timedMs = async (work: () => Promise<unknown>) => (await timedSeconds(work)) * 1000;

/** `GET /admin/keys` on N accounts spread over two keys, legacy and plaintext rows, against the bare GROUP BY. */
export async function runInventoryBench(): Promise<string> {
  ensureBuilt();
  const count = isQuick() ? 100000 : 1000000;
  const keys = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
  const kids = keys.map((key) => KeyRing.fromSettings({ primary: key }).primaryKeyId as string);
  const adminToken = randomBytes(24).toString('base64url');
  const database = await createBenchDatabase('inventory');
  const server = startServer(PORT, {
    DATABASE_URL: database.url,
    ADMIN_API_TOKEN: adminToken,
    ADMIN_RATE_LIMIT_PER_MINUTE: '100000',
    ROTATION_WORKER_ENABLED: 'false',
    WORKFLOWS_ARTIFACT_ENC_KEY: keys[1],
    WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: keys[0],
  });
  try {
    await database.dataSource.query(
      `INSERT INTO external_accounts (user_id, provider, access_token)
       SELECT i, 'google_drive',
              CASE WHEN i % 100 = 0 THEN '{"_enc": "aesgcm:v1", "nonce": "' || repeat('x', 380) || '"}'
                   WHEN i % 100 = 1 THEN repeat('x', 400)
                   ELSE '{"_enc":"aesgcm:v3","kid":"' || (CASE WHEN i % 2 = 0 THEN $1 ELSE $2 END) || '","nonce":"'
                        || repeat('x', 350) || '"}' END
         FROM generate_series(1, $3) AS i`,
      [kids[0], kids[1], count],
    );
    await database.dataSource.query(`VACUUM ANALYZE external_accounts`);
    await waitReady(PORT);
    const headers = { authorization: `Bearer ${adminToken}` };
    const route = () => fetch(`http://127.0.0.1:${PORT}/admin/keys`, { headers }).then((r) => r.json());
    const bare = () =>
      database.dataSource.query(`SELECT token_key_id, count(*) FROM external_accounts GROUP BY token_key_id`);
    await route();
    await bare();
    const result = await alternate(
      isQuick() ? 3 : 7,
      () => timedMs(route),
      () => timedMs(bare),
    );
    const routeMs = median(result.project);
    const bareMs = median(result.reference);
    printTable([
      { measure: 'GET /admin/keys', 'median ms': formatNumber(routeMs, 1) },
      { measure: 'bare GROUP BY', 'median ms': formatNumber(bareMs, 1) },
    ]);
    const summary = `inventory = ${formatNumber(routeMs / 1000, 3)} s at ${count}, route/bare = ${formatNumber(routeMs / bareMs)}`;
    console.log(summary);
    return summary;
  } finally {
    await stopServers([server]);
    await database.drop();
  }
}

if (require.main === module) void runInventoryBench();
