import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { EnvelopeService } from '../src/crypto/envelope.service';
import { KeyRing } from '../src/crypto/key-ring';
import { alternate, formatNumber, isQuick, median, printTable } from './bench-stats';
import { createBenchDatabase } from './bench-database';
import { ensureBuilt, startServer, stopServers, waitReady } from './bench-server';
import { benchTokenSet } from './seed-accounts';

const ACCOUNTS = 10000;
const CONNECTIONS = 16;
const SERVICE_TOKEN = randomBytes(24).toString('base64url');

/** Users 1..N hold one encrypted account each, users N+1..2N one plaintext account each. */
async function seed(
  query: (sql: string, parameters: unknown[]) => Promise<unknown>,
  key: string,
): Promise<void> {
  const envelopes = new EnvelopeService(KeyRing.fromSettings({ primary: key }));
  for (let start = 1; start <= 2 * ACCOUNTS; start += 2000) {
    const ids = Array.from({ length: 2000 }, (_, i) => start + i);
    const tokens = ids.map((id) => benchTokenSet(id));
    const access = ids.map((id, i) =>
      id <= ACCOUNTS
        ? envelopes.encryptJsonBlob(tokens[i], { userId: id, accountId: id })
        : tokens[i].access_token,
    );
    const refresh = ids.map((id, i) => (id <= ACCOUNTS ? null : tokens[i].refresh_token));
    // Both modes also store the scope and expiry in their own columns, as the service does.
    await query(
      `INSERT INTO external_accounts (id, user_id, provider, access_token, refresh_token, scopes, token_expires_at)
       SELECT id, id, 'google_drive', a, r, $4, to_timestamp(e)
         FROM unnest($1::int[], $2::text[], $3::text[], $5::bigint[]) AS t(id, a, r, e)`,
      [ids, access, refresh, tokens[0].scope, tokens.map((set) => set.expires_at)],
    );
  }
  await query(`SELECT setval(pg_get_serial_sequence('external_accounts', 'id'), $1)`, [2 * ACCOUNTS]);
}

/** CPU seconds a process has used (user and system), from /proc: its clock ticks are 1/100 s. */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function load(
  port: number,
  seconds: number,
  firstUser: number | undefined,
  server?: ChildProcess,
): Promise<{ rps: number; p99: number; requests: number; cpuSeconds: number }> {
  const cpuBefore = server?.pid ? cpuSecondsOf(server.pid) : 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${SERVICE_TOKEN}` },
    requests: [
      {
        setupRequest: (request) => {
          if (firstUser === undefined) return { ...request, path: '/health' };
          const user = firstUser + Math.floor(Math.random() * ACCOUNTS);
          return { ...request, path: `/users/${user}/accounts/${user}/tokens` };
        },
      },
    ],
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`load run had ${result.non2xx} non-2xx and ${result.errors} errors`);
  const cpuSeconds = server?.pid ? cpuSecondsOf(server.pid) - cpuBefore : 0;
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    requests: result.requests.total,
    cpuSeconds,
  };
}

/**
 * Every token read of the run, as the servers recorded them (users 1..N read from the encrypted
 * server, N+1..2N from the plaintext one). Counted once the servers have stopped: a SIGTERM
 * writes the records still queued.
 */
async function recordedReads(query: (sql: string, parameters: unknown[]) => Promise<unknown>) {
  const [row] = (await query(
    `SELECT count(*) FILTER (WHERE user_id <= $1)::int AS enc, count(*) FILTER (WHERE user_id > $1)::int AS plain
       FROM token_read_audit WHERE outcome = 'served'`,
    [ACCOUNTS],
  )) as { enc: number; plain: number }[];
  return row;
}

/**
 * GET tokens under load: encrypted server against the same server in plaintext mode. Both record
 * every read in the token-read trail, failing closed (the production default), as deployed.
 */
export async function runRequestBench(): Promise<string> {
  ensureBuilt();
  const database = await createBenchDatabase('request');
  const key = randomBytes(32).toString('base64');
  const common = {
    DATABASE_URL: database.url,
    CONNECTORS_API_TOKEN: SERVICE_TOKEN,
    DATABASE_POOL_SIZE: '10',
  };
  const servers: ChildProcess[] = [];
  try {
    await seed((sql, parameters) => database.dataSource.query(sql, parameters), key);
    servers.push(
      startServer(3901, { ...common, WORKFLOWS_ARTIFACT_ENC_KEY: key }),
      // Production refuses to store tokens unencrypted unless told to: this server is the reference.
      startServer(3902, { ...common, CONNECTORS_ALLOW_PLAINTEXT_TOKENS: 'true' }),
    );
    await Promise.all([waitReady(3901), waitReady(3902)]);
    // Many short rounds, alternating: drift on a shared machine hits both servers alike.
    const seconds = isQuick() ? 2 : 3;
    const rounds = isQuick() ? 2 : 10;
    const warmUp = await Promise.all([load(3901, 1, 1), load(3902, 1, ACCOUNTS + 1)]);
    const [encrypted, plaintext] = servers;
    const result = await alternate(
      rounds,
      () => load(3901, seconds, 1, encrypted),
      () => load(3902, seconds, ACCOUNTS + 1, plaintext),
    );
    // What each server's process spends on a read, whatever else the machine is doing meanwhile.
    const cpuPerRead = (runs: { cpuSeconds: number; requests: number }[]) =>
      (runs.reduce((sum, run) => sum + run.cpuSeconds, 0) /
        runs.reduce((sum, run) => sum + run.requests, 0)) *
      1e6;
    const cpu = { enc: cpuPerRead(result.project), plain: cpuPerRead(result.reference) };
    const health = await load(3901, seconds, undefined);
    const rps = {
      enc: median(result.project.map((r) => r.rps)),
      plain: median(result.reference.map((r) => r.rps)),
    };
    const p99 = {
      enc: median(result.project.map((r) => r.p99)),
      plain: median(result.reference.map((r) => r.p99)),
    };
    printTable([
      { server: 'encrypted', 'req/s': formatNumber(rps.enc, 0), 'p99 ms': formatNumber(p99.enc, 1) },
      { server: 'plaintext', 'req/s': formatNumber(rps.plain, 0), 'p99 ms': formatNumber(p99.plain, 1) },
      {
        server: 'GET /health (ceiling)',
        'req/s': formatNumber(health.rps, 0),
        'p99 ms': formatNumber(health.p99, 1),
      },
    ]);
    console.log(
      `${rounds} rounds × ${seconds} s per server, ${ACCOUNTS} accounts each, ${CONNECTIONS} connections`,
    );
    console.log(
      `server process CPU per read: encrypted ${formatNumber(cpu.enc, 0)} µs, plaintext ${formatNumber(cpu.plain, 0)} µs ` +
        `(${formatNumber(cpu.enc / cpu.plain)}×)`,
    );
    await stopServers(servers.splice(0));
    const sent = {
      enc: warmUp[0].requests + result.project.reduce((sum, r) => sum + r.requests, 0),
      plain: warmUp[1].requests + result.reference.reduce((sum, r) => sum + r.requests, 0),
    };
    const recorded = await recordedReads((sql, parameters) => database.dataSource.query(sql, parameters));
    console.log(
      `token reads recorded: encrypted ${recorded.enc} of ${sent.enc}, plaintext ${recorded.plain} of ${sent.plain} ` +
        `(a load run ends with up to ${CONNECTIONS} requests in flight, answered and recorded but not counted)`,
    );
    const loadRuns = rounds + 1;
    for (const server of ['enc', 'plain'] as const) {
      const unanswered = recorded[server] - sent[server];
      if (unanswered < 0 || unanswered > CONNECTIONS * loadRuns)
        throw new Error(
          `the ${server} server recorded ${recorded[server]} reads for ${sent[server]} answered`,
        );
    }
    const summary =
      `request throughput enc/plain = ${formatNumber(rps.enc / rps.plain)}, ` +
      `p99 enc/plain = ${formatNumber(p99.enc / p99.plain)}`;
    console.log(summary);
    return summary;
  } finally {
    await stopServers(servers);
    await database.drop();
  }
}

if (require.main === module) void runRequestBench();
