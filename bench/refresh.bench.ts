import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { AuthorizationServer, newClient, type OAuthClient } from '../test/support/authorization-server';
import { formatNumber, isQuick, median, printTable } from './bench-stats';
import { createBenchDatabase } from './bench-database';
import { ensureBuilt, startServer, stopServers, waitReady } from './bench-server';

/** Two instances waking waiters by notice, and two polling (REFRESH_NOTICES_ENABLED=false), as before. */
const NOTIFIED = [3911, 3912];
const POLLING = [3913, 3914];
const CALLERS = 50;
const SERVICE_TOKEN = randomBytes(24).toString('base64url');
const ADMIN_TOKEN = randomBytes(24).toString('base64url');

const service = { authorization: `Bearer ${SERVICE_TOKEN}` };

interface Account {
  userId: number;
  id: number;
}

async function json(port: number, method: string, path: string, headers: object, body?: unknown) {
  const answer = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!answer.ok) throw new Error(`${method} ${path} answered ${answer.status}`);
  return (await answer.json()) as Record<string, unknown>;
}

/** An account whose access token expired a minute ago, on a grant of its own. */
async function expiredAccount(
  as: AuthorizationServer,
  client: OAuthClient,
  userId: number,
): Promise<Account> {
  const account = await json(NOTIFIED[0], 'POST', `/users/${userId}/accounts`, service, {
    provider: 'google_drive',
    tokens: {
      access_token: `expired_${randomBytes(16).toString('base64url')}`,
      refresh_token: await as.mint(client, `user-${userId}`),
      token_type: 'Bearer',
      expires_at: Math.floor(Date.now() / 1000) - 60,
    },
  });
  return { userId, id: account.id as number };
}

/** Milliseconds until every caller had tokens valid for a minute; all must agree on them. */
async function round(ports: number[], callers: number, account: Account): Promise<number> {
  const started = process.hrtime.bigint();
  const path = `/users/${account.userId}/accounts/${account.id}/tokens?minValidity=60`;
  const answers = await Promise.all(
    Array.from({ length: callers }, (_, index) => json(ports[index % ports.length], 'GET', path, service)),
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (new Set(answers.map((answer) => answer.access_token)).size !== 1)
    throw new Error('the callers of one round got different tokens');
  return ms;
}

type Kind = 'lone' | 'notified' | 'polling' | 'valid';

/**
 * One refresh of an expired account against the local authorization server (oidc-provider),
 * asked by one caller; then by 50 callers at once over two server instances, whose callers on
 * the instance that does not hold the refresh wait for its notice, or poll (the instances
 * started with REFRESH_NOTICES_ENABLED=false, as every instance did before); and the same 50
 * requests for tokens still valid, which refresh nothing: what serving 50 requests costs. Fresh
 * accounts every round, the kinds in turns.
 */
export async function runRefreshBench(): Promise<string> {
  ensureBuilt();
  const database = await createBenchDatabase('refresh');
  const client = newClient();
  const as = await AuthorizationServer.start([client]);
  const servers: ChildProcess[] = [];
  try {
    const env = {
      DATABASE_URL: database.url,
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: randomBytes(32).toString('base64'),
      REFRESH_AHEAD_SECONDS: '0',
      ROTATION_WORKER_ENABLED: 'false',
    };
    servers.push(
      ...NOTIFIED.map((port) => startServer(port, env)),
      ...POLLING.map((port) => startServer(port, { ...env, REFRESH_NOTICES_ENABLED: 'false' })),
    );
    await Promise.all([...NOTIFIED, ...POLLING].map((port) => waitReady(port)));
    await json(
      NOTIFIED[0],
      'PUT',
      '/admin/providers/google_drive',
      { authorization: `Bearer ${ADMIN_TOKEN}` },
      {
        tokenUrl: as.tokenUrl,
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        clientAuth: client.auth,
      },
    );
    let user = 0;
    const next = () => expiredAccount(as, client, (user += 1));
    const runs: Record<Kind, (account: Account) => Promise<number>> = {
      lone: (account) => round(NOTIFIED, 1, account),
      notified: (account) => round(NOTIFIED, CALLERS, account),
      polling: (account) => round(POLLING, CALLERS, account),
      valid: (account) => round(NOTIFIED, CALLERS, account),
    };
    // Warm-up: connections, the servers' code paths, each instance's notice connection.
    for (let warm = 0; warm < 3; warm += 1) {
      await runs.notified(await next());
      await runs.polling(await next());
    }
    const valid = await next();
    await runs.lone(valid);
    const rounds = isQuick() ? 5 : 11;
    const kinds: Kind[] = ['lone', 'notified', 'polling', 'valid'];
    const times: Record<Kind, number[]> = { lone: [], notified: [], polling: [], valid: [] };
    const calls = await as.tokenRequests();
    for (let index = 0; index < rounds; index += 1) {
      // Each round in another order, so drift on a shared machine hits every kind alike.
      const order = kinds.map((_, at) => kinds[(at + index) % kinds.length]);
      for (const kind of order) times[kind].push(await runs[kind](kind === 'valid' ? valid : await next()));
    }
    const refreshes = (await as.tokenRequests()) - calls;
    if (refreshes !== 3 * rounds) throw new Error(`${refreshes} token requests for ${3 * rounds} refreshes`);
    const medians = Object.fromEntries(kinds.map((kind) => [kind, median(times[kind])])) as Record<
      Kind,
      number
    >;
    const spread = (values: number[]) =>
      `${formatNumber(Math.min(...values), 1)} to ${formatNumber(Math.max(...values), 1)}`;
    const row = (callers: string, kind: Kind) => ({
      callers,
      'median ms': formatNumber(medians[kind], 1),
      'min to max ms': spread(times[kind]),
      '× lone': formatNumber(medians[kind] / medians.lone),
    });
    printTable([
      row('1, a refresh', 'lone'),
      row(`${CALLERS} over 2 instances, a refresh, woken by notice`, 'notified'),
      row(`${CALLERS} over 2 instances, a refresh, polling`, 'polling'),
      row(`${CALLERS} over 2 instances, tokens valid (no refresh)`, 'valid'),
    ]);
    console.log(`${rounds} rounds of each, in turns; one provider call per refresh (${refreshes} in all)`);
    const summary =
      `refresh: ${CALLERS} callers over 2 instances / lone = ${formatNumber(medians.notified / medians.lone)} ` +
      `(${formatNumber(medians.notified, 1)} / ${formatNumber(medians.lone, 1)} ms; polling ` +
      `${formatNumber(medians.polling, 1)} ms; no refresh ${formatNumber(medians.valid, 1)} ms)`;
    console.log(summary);
    return summary;
  } finally {
    await stopServers(servers);
    await as.stop();
    await database.drop();
  }
}

if (require.main === module) void runRefreshBench();
