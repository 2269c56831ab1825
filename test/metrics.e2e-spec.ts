import { networkInterfaces } from 'node:os';
import type { Socket } from 'node:net';
import request from 'supertest';
import { freePort } from './support/built-server';
import { findLeaks } from './support/output-capture';
import {
  createRotationApp,
  createSealedAccounts,
  keyEnv,
  newKey,
  setToken,
  tamperedEnvelope,
  type ExpectedTokens,
  type RotationApp,
} from './support/rotation-fixtures';
import { directClient, randomSecret } from './support/safety-fixtures';
import { truncateAll } from './create-app';
import { itIfPostgres, poll } from './support/fixtures';
import { bearer, newApiToken } from './support/auth';
import { heldFor, openSocket } from './support/sockets';

const ADMIN_TOKEN = newApiToken('admin');
const SERVICE_TOKEN = newApiToken('service');
const keyA = newKey();
const keyB = newKey();
const admin = bearer(ADMIN_TOKEN);
const service = bearer(SERVICE_TOKEN);
const USER_ID = 734_251;

/** `name{labels} value` lines of a scrape, the labels parsed. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
      const labels = Object.fromEntries(
        [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [
          m[1],
          m[2],
        ]),
      );
      return { name: match[1], labels, value: Number(match[3]) };
    });
}

function valueOf(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples(text).find(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  )?.value;
}

describe('GET /metrics', () => {
  let app: RotationApp;
  const http = () => request(app.app.getHttpServer());
  const scrape = async () => (await http().get('/metrics').set(admin).expect(200)).text;

  beforeAll(async () => {
    app = await createRotationApp(
      keyEnv(keyA, [], {
        ADMIN_API_TOKEN: ADMIN_TOKEN,
        CONNECTORS_API_TOKEN: SERVICE_TOKEN,
        METRICS_INVENTORY_SECONDS: '1',
      }),
    );
  });
  afterAll(() => app.close());
  beforeEach(() => truncateAll(app.dataSource));

  it('answers only the admin token, in the Prometheus text format', async () => {
    await http().get('/metrics').expect(401);
    await http().get('/metrics').set(service).expect(403);
    const response = await http().get('/metrics').set(admin).expect(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain;.*version=0\.0\.4/);
    expect(response.text).toMatch(/^# HELP connectors_http_request_duration_seconds /m);
    expect(response.text).toMatch(/^# TYPE connectors_http_request_duration_seconds histogram$/m);
    expect(response.text).toMatch(/^connectors_process_resident_memory_bytes \d+/m);
    // Parses as a whole: every line is a comment or a sample.
    expect(samples(response.text).length).toBeGreaterThan(10);
  });

  it('counts requests by route template, seals, opens and failures by reason, with no id or secret in a label', async () => {
    const expected: ExpectedTokens = new Map();
    await createSealedAccounts(app, 3, expected);
    const ids = [...expected.keys()];
    const created = await http()
      .post(`/users/${USER_ID}/accounts`)
      .set(service)
      .send({ provider: 'notion', tokens: { access_token: randomSecret('secret_') } })
      .expect(201);
    await http().get(`/users/${USER_ID}/accounts/${created.body.id}/tokens`).set(service).expect(200);
    const [row] = await app.dataSource.query(`SELECT access_token FROM external_accounts WHERE id = $1`, [
      ids[0],
    ]);
    await setToken(app.dataSource, ids[0], tamperedEnvelope(row.access_token));
    const [{ user_id: owner }] = await app.dataSource.query(
      `SELECT user_id FROM external_accounts WHERE id = $1`,
      [ids[0]],
    );
    await http().get(`/users/${owner}/accounts/${ids[0]}/tokens`).set(service).expect(500);
    await http().get(`/users/${USER_ID}/accounts/abc`).set(service).expect(400);
    await http().get(`/no-such-route/${USER_ID}`).set(service).expect(404);

    const text = await scrape();
    expect(
      valueOf(text, 'connectors_http_request_duration_seconds_count', {
        method: 'GET',
        route: 'unmatched',
        status: '404',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      valueOf(text, 'connectors_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/users/:userId/accounts/:id/tokens',
        status: '200',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      valueOf(text, 'connectors_envelope_operations_total', { operation: 'seal' }),
    ).toBeGreaterThanOrEqual(4);
    expect(
      valueOf(text, 'connectors_envelope_operations_total', { operation: 'open' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      valueOf(text, 'connectors_envelope_failures_total', {
        operation: 'open',
        reason: 'ENVELOPE_AUTH_FAILED',
      }),
    ).toBeGreaterThanOrEqual(1);

    for (const { labels } of samples(text)) {
      for (const [name, value] of Object.entries(labels)) {
        if (name === 'route') expect(value).toMatch(/^(?:unmatched|(?:\/(?:[a-z-]+|:[a-zA-Z]+))+)$/);
        expect(value).not.toContain(String(USER_ID));
      }
    }
    const secrets = [...expected.values()].flatMap((tokens) => [
      tokens.access_token,
      String(tokens.refresh_token),
    ]);
    expect(findLeaks(text, [...secrets, ADMIN_TOKEN, SERVICE_TOKEN, keyA.key, keyB.key])).toEqual([]);
  });

  itIfPostgres('counts the pool connections in use, idle and waiting', async () => {
    // Two of the pool's connections wait on an advisory lock this test holds, until it lets go.
    const holder = await directClient();
    try {
      await holder.query('SELECT pg_advisory_lock(724031)');
      const held = [1, 2].map(() => app.dataSource.query('SELECT pg_advisory_lock_shared(724031)'));
      await poll(async () => {
        const { rows } = await holder.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND $1 = ANY (pg_blocking_pids(pid))`,
          [(await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid],
        );
        return rows[0].n === 2 ? true : undefined;
      });
      const text = await scrape();
      await holder.query('SELECT pg_advisory_unlock(724031)');
      await Promise.all(held);
      const inUse = valueOf(text, 'connectors_db_pool_connections', { state: 'in_use' }) as number;
      expect(inUse).toBeGreaterThanOrEqual(2);

      const after = await scrape();
      expect(valueOf(after, 'connectors_db_pool_connections', { state: 'in_use' })).toBeLessThanOrEqual(
        inUse - 2,
      );
      expect(valueOf(after, 'connectors_db_pool_connections', { state: 'idle' })).toBeGreaterThanOrEqual(2);
      // Callers waiting for a connection being opened are counted too: the scrape's own may be.
      expect(valueOf(after, 'connectors_db_pool_connections', { state: 'waiting' })).toEqual(
        expect.any(Number),
      );
    } finally {
      await holder.end();
    }
  });

  it('shows accounts per key id from the cached inventory, and a rotation moves the job counters', async () => {
    const expected: ExpectedTokens = new Map();
    await createSealedAccounts(app, 5, expected);
    // The inventory behind the gauges is at most METRICS_INVENTORY_SECONDS (1 s) old.
    const counted = await poll(async () => {
      const value = valueOf(await scrape(), 'connectors_accounts', { key_id: keyA.kid, role: 'primary' });
      return value === 5 ? value : undefined;
    }, 10_000);
    expect(counted).toBe(5);

    const rotating = await createRotationApp(
      keyEnv(keyB, [keyA], { ADMIN_API_TOKEN: ADMIN_TOKEN, METRICS_INVENTORY_SECONDS: '1' }),
    );
    try {
      const job = await rotating.rotation.startRotation({ requestedBy: 'test' });
      await rotating.worker.runJob(job.id);
      const text = (await request(rotating.app.getHttpServer()).get('/metrics').set(admin).expect(200)).text;
      expect(valueOf(text, 'connectors_rotation_job_status', { status: 'completed' })).toBe(1);
      expect(valueOf(text, 'connectors_rotation_job_accounts', { outcome: 'rotated' })).toBe(5);
      expect(valueOf(text, 'connectors_rotation_job_accounts', { outcome: 'failed' })).toBe(0);
      expect(valueOf(text, 'connectors_accounts', { key_id: keyB.kid, role: 'primary' })).toBe(5);
      expect(valueOf(text, 'connectors_accounts', { key_id: keyA.kid, role: 'previous' })).toBe(0);
      expect(valueOf(text, 'connectors_accounts_to_rotate')).toBe(0);
    } finally {
      await rotating.close();
    }
  });
});

describe('METRICS_PORT', () => {
  it('serves /metrics on its own port without a token, and nothing else there', async () => {
    const port = await freePort();
    const app = await createRotationApp(
      keyEnv(keyA, [], { ADMIN_API_TOKEN: ADMIN_TOKEN, METRICS_PORT: String(port) }),
    );
    try {
      const scraped = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toMatch(/^# TYPE connectors_accounts gauge$/m);
      expect((await fetch(`http://127.0.0.1:${port}/users/1/accounts`)).status).toBe(404);
      // On the API port it still needs the admin token.
      await request(app.app.getHttpServer()).get('/metrics').expect(401);
    } finally {
      await app.close();
    }
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('listens on loopback unless METRICS_HOST says otherwise', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && !address.internal && address.family === 'IPv4')?.address;
    const port = await freePort();
    const app = await createRotationApp(keyEnv(keyA, [], { METRICS_PORT: String(port) }));
    try {
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
      // A machine with no other interface has no other address to be reached on.
      if (external) await expect(fetch(`http://${external}:${port}/metrics`)).rejects.toThrow();
    } finally {
      await app.close();
    }
    if (!external) return;
    const everywhere = await createRotationApp(
      keyEnv(keyA, [], { METRICS_PORT: String(port), METRICS_HOST: '0.0.0.0' }),
    );
    try {
      expect((await fetch(`http://${external}:${port}/metrics`)).status).toBe(200);
    } finally {
      await everywhere.close();
    }
  });

  it("holds the API port's limits: headers timeout and connection cap", async () => {
    const port = await freePort();
    const app = await createRotationApp(
      keyEnv(keyA, [], {
        METRICS_PORT: String(port),
        HTTP_HEADERS_TIMEOUT_SECONDS: '3',
        HTTP_MAX_CONNECTIONS: '2',
      }),
    );
    const open: Socket[] = [];
    try {
      const halfSent = 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ';
      // Node's own default would hold it 60 s.
      expect(await heldFor(port, halfSent)).toBeLessThan(8_000);
      open.push(await openSocket(port), await openSocket(port));
      // The third socket is closed at once, well before its headers could time out.
      expect(await heldFor(port, halfSent)).toBeLessThan(2_000);
    } finally {
      for (const socket of open) socket.destroy();
      await app.close();
    }
  });
});
