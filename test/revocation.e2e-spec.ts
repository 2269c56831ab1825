import { EventEmitter2 } from '@nestjs/event-emitter';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { ACCOUNT_EVENTS, type AccountEvent } from '../src/connectors/account-events';
import { ExternalAccountsService } from '../src/connectors/external-accounts.service';
import { RevocationWorker } from '../src/revocation/revocation.worker';
import { truncateAll, type TestApp } from './create-app';
import { AuthorizationServer, newClient, type OAuthClient } from './support/authorization-server';
import { freePort, startBuiltServer } from './support/built-server';
import { itIfPostgres, poll } from './support/fixtures';
import { newKey } from './support/rotation-fixtures';
import {
  admin,
  createExpiredAccount,
  createRefreshApp,
  refreshEnv,
  service,
} from './support/refresh-fixtures';
import { TcpProxy } from './support/tcp-proxy';

const basicClient = newClient('client_secret_basic');
const postClient = newClient('client_secret_post');
const key = newKey();

/** Short waits, so the worker's retries happen within the test. */
const RETRY_SETTINGS = {
  REVOCATION_RETRY_SECONDS: '1',
  REVOCATION_POLL_SECONDS: '1',
  REVOCATION_LEASE_SECONDS: '3',
  PUBLIC_BASE_URL: 'http://127.0.0.1:3000',
};

/** A revocation endpoint that answers what the test says, counting the requests it gets. */
interface StubEndpoint {
  server: Server;
  url: string;
  answer: { status: number; headers?: Record<string, string>; body?: unknown };
  requests: number;
}

async function startStub(): Promise<StubEndpoint> {
  const stub = { answer: { status: 503 }, requests: 0 } as StubEndpoint;
  stub.server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      stub.requests += 1;
      res.writeHead(stub.answer.status, { 'content-type': 'application/json', ...stub.answer.headers });
      res.end(JSON.stringify(stub.answer.body ?? {}));
    });
  });
  await new Promise<void>((resolve) => stub.server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${(stub.server.address() as AddressInfo).port}/revoke`;
  return stub;
}

describe('disconnect revokes the grant at the provider (RFC 7009)', () => {
  let as: AuthorizationServer;
  let proxy: TcpProxy;
  let stub: StubEndpoint;
  let testApp: TestApp;
  const deleted: AccountEvent[] = [];
  const http = () => request(testApp.app.getHttpServer());

  function listen(app: TestApp) {
    app.app.get(EventEmitter2).on(ACCOUNT_EVENTS.deleted, (event: AccountEvent) => deleted.push(event));
  }

  beforeAll(async () => {
    as = await AuthorizationServer.start([basicClient, postClient]);
    const issuer = new URL(as.issuer);
    proxy = new TcpProxy(issuer.hostname, Number(issuer.port));
    await proxy.start();
    stub = await startStub();
    testApp = await createRefreshApp(refreshEnv(key, RETRY_SETTINGS));
    listen(testApp);
  });

  beforeEach(async () => {
    await truncateAll(testApp.dataSource);
    deleted.length = 0;
  });

  afterAll(async () => {
    await testApp?.close();
    await proxy?.cut();
    await new Promise((resolve) => stub?.server.close(resolve));
    await as?.stop();
  });

  async function configure(client: OAuthClient, revocationUrl: string | undefined) {
    const answer = await http()
      .put('/admin/providers/google_drive')
      .set(admin)
      .send({
        tokenUrl: as.tokenUrl,
        authorizationUrl: `${as.issuer}/auth`,
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        clientAuth: client.auth,
        ...(revocationUrl ? { revocationUrl } : {}),
      });
    expect(answer.status).toBe(200);
  }

  async function metrics(): Promise<string> {
    const answer = await http().get('/metrics').set(admin);
    expect(answer.status).toBe(200);
    return answer.text;
  }

  /** The revocations sent to google_drive with `outcome` so far (0 before the first). */
  function counted(text: string, outcome: string): number {
    const line = new RegExp(
      `^connectors_revocations_total\\{provider="google_drive",outcome="${outcome}"\\} (\\d+)$`,
      'm',
    ).exec(text);
    return line ? Number(line[1]) : 0;
  }

  const viaProxy = () => `http://127.0.0.1:${proxy.port}/token/revocation`;

  async function auditActions(prefix: string): Promise<string[]> {
    const page = await http().get('/admin/audit?limit=1000').set(admin);
    expect(page.status).toBe(200);
    return (page.body.events as { action: string }[])
      .map((event) => event.action)
      .filter((action) => action.startsWith(prefix));
  }

  async function connected(client: OAuthClient) {
    const refreshToken = await as.mint(client);
    const { id } = await createExpiredAccount(testApp, 7, 'google_drive', refreshToken);
    expect(await as.introspect(client, refreshToken)).toMatchObject({ active: true });
    return { id, refreshToken };
  }

  it.each([basicClient, postClient])('revokes, then deletes ($auth)', async (client) => {
    await configure(client, `${as.issuer}/token/revocation`);
    const { id, refreshToken } = await connected(client);

    const answer = await http().delete(`/users/7/accounts/${id}`).set(service);

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ id, revocation: 'revoked' });
    expect(await as.introspect(client, refreshToken)).toMatchObject({ active: false });
    await http().get(`/users/7/accounts/${id}`).set(service).expect(404);
    expect(deleted).toEqual([expect.objectContaining({ accountId: id, revocation: 'revoked' })]);
  });

  it('does the same through ExternalAccountsService.deleteAccount', async () => {
    await configure(basicClient, `${as.issuer}/token/revocation`);
    const { id, refreshToken } = await connected(basicClient);

    const outcome = await testApp.app.get(ExternalAccountsService).deleteAccount(7, id);

    expect(outcome).toEqual({ id, revocation: 'revoked' });
    expect(await as.introspect(basicClient, refreshToken)).toMatchObject({ active: false });
    await http().get(`/users/7/accounts/${id}`).set(service).expect(404);
    expect(deleted).toEqual([expect.objectContaining({ accountId: id, revocation: 'revoked' })]);
  });

  it('?revoke=false deletes without asking the provider, and says so', async () => {
    await configure(basicClient, `${as.issuer}/token/revocation`);
    const { id, refreshToken } = await connected(basicClient);

    const answer = await http().delete(`/users/7/accounts/${id}?revoke=false`).set(service);

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ id, revocation: 'skipped' });
    expect(await as.introspect(basicClient, refreshToken)).toMatchObject({ active: true });
    await http().get(`/users/7/accounts/${id}`).set(service).expect(404);
    expect(deleted).toEqual([expect.objectContaining({ accountId: id, revocation: 'skipped' })]);
  });

  it('answers not_supported for a client without a revocation endpoint', async () => {
    await configure(basicClient, undefined);
    const { id, refreshToken } = await connected(basicClient);

    const answer = await http().delete(`/users/7/accounts/${id}`).set(service);

    expect(answer.body).toEqual({ id, revocation: 'not_supported' });
    expect(await as.introspect(basicClient, refreshToken)).toMatchObject({ active: true });
    await http().get(`/users/7/accounts/${id}`).set(service).expect(404);
  });

  it('records a 4xx from the provider as refused and still deletes', async () => {
    // A client the provider does not know: the revocation request is refused (invalid_client).
    await configure(newClient('client_secret_basic'), `${as.issuer}/token/revocation`);
    const { id } = await connected(basicClient);

    const answer = await http().delete(`/users/7/accounts/${id}`).set(service);

    expect(answer.body).toEqual({ id, revocation: 'refused' });
    await http().get(`/users/7/accounts/${id}`).set(service).expect(404);
  });

  it('refuses a revoke flag other than true or false, deleting nothing', async () => {
    await configure(basicClient, `${as.issuer}/token/revocation`);
    const { id } = await connected(basicClient);

    const answer = await http().delete(`/users/7/accounts/${id}?revoke=no`).set(service);

    expect(answer.status).toBe(400);
    await http().get(`/users/7/accounts/${id}`).set(service).expect(200);
  });

  it('sends the access token when there is no refresh token, in the JSON format the client asks for; a 200 with any body is success', async () => {
    const received: { type?: string; auth?: string; body: string }[] = [];
    const provider = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        received.push({ type: req.headers['content-type'], auth: req.headers.authorization, body });
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html>not json</html>');
      });
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    try {
      const port = (provider.address() as AddressInfo).port;
      const answer = await http()
        .put('/admin/providers/google_drive')
        .set(admin)
        .send({
          tokenUrl: as.tokenUrl,
          revocationUrl: `http://127.0.0.1:${port}/revoke`,
          clientId: postClient.clientId,
          clientSecret: postClient.clientSecret,
          clientAuth: 'client_secret_post',
          tokenRequestFormat: 'json',
        });
      expect(answer.status).toBe(200);
      const { id, tokens } = await createExpiredAccount(testApp, 7, 'google_drive', undefined);

      const deleted = await http().delete(`/users/7/accounts/${id}`).set(service);

      expect(deleted.body).toEqual({ id, revocation: 'revoked' });
      expect(received).toHaveLength(1);
      expect(received[0].type).toBe('application/json');
      expect(JSON.parse(received[0].body)).toEqual({
        token: tokens.access_token,
        token_type_hint: 'access_token',
        client_id: postClient.clientId,
        client_secret: postClient.clientSecret,
      });
    } finally {
      await new Promise((resolve) => provider.close(resolve));
    }
  });
  it('answers pending while the provider is down; the account is revoking, serves and takes no token; once the provider is back the worker revokes and deletes it', async () => {
    await configure(basicClient, viaProxy());
    const { id, refreshToken } = await connected(basicClient);
    await proxy.cut();

    const answer = await http().delete(`/users/7/accounts/${id}`).set(service);

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ id, revocation: 'pending' });
    const account = await http().get(`/users/7/accounts/${id}`).set(service);
    expect(account.body).toMatchObject({
      status: 'revoking',
      revocation: { attempts: expect.any(Number), lastError: 'PROVIDER_UNAVAILABLE:UNREACHABLE' },
    });
    const giveUpIn = Date.parse(account.body.revocation.giveUpAt) - Date.now();
    expect(Math.abs(giveUpIn - 72 * 3600_000)).toBeLessThan(60_000);
    const listed = await http().get('/users/7/accounts?status=revoking').set(service);
    expect(listed.body.map((view: { id: number }) => view.id)).toEqual([id]);

    const refused = await Promise.all([
      http().get(`/users/7/accounts/${id}/tokens`).set(service),
      http().get(`/users/7/accounts/${id}/tokens?minValidity=60`).set(service),
      http().post(`/users/7/accounts/${id}/tokens/refresh`).set(service),
      http().put(`/users/7/accounts/${id}/tokens`).set(service).send({ access_token: 'new-access' }),
      http().post('/users/7/connect-sessions').set(service).send({ provider: 'google_drive', accountId: id }),
    ]);
    expect(refused.map((r) => [r.status, r.body.error])).toEqual(Array(5).fill([409, 'ACCOUNT_REVOKING']));
    const again = await http().delete(`/users/7/accounts/${id}`).set(service);
    expect(again.body).toEqual({ id, revocation: 'pending' });
    expect(await testApp.app.get(ExternalAccountsService).deleteAccount(7, id)).toEqual({
      id,
      revocation: 'pending',
    });
    const still = await http().get(`/users/7/accounts/${id}`).set(service);
    expect(still.body).toMatchObject({ status: 'revoking', version: account.body.version });
    expect(deleted).toEqual([]);
    expect(await as.introspect(basicClient, refreshToken)).toMatchObject({ active: true });
    const waiting = await metrics();
    expect(waiting).toMatch(/^connectors_accounts_revoking 1$/m);
    const unanswered = counted(waiting, 'PROVIDER_UNAVAILABLE');
    expect(unanswered).toBeGreaterThanOrEqual(1);
    const revokedBefore = counted(waiting, 'revoked');

    await proxy.restore();
    await poll(async () => (deleted.length > 0 ? true : undefined), 20_000, 100);
    const ended = await metrics();
    expect(ended).toMatch(/^connectors_accounts_revoking 0$/m);
    expect(counted(ended, 'revoked')).toBe(revokedBefore + 1);

    await http().get(`/users/7/accounts/${id}`).set(service).expect(404);
    expect(await as.introspect(basicClient, refreshToken)).toMatchObject({ active: false });
    expect(deleted).toEqual([expect.objectContaining({ accountId: id, revocation: 'revoked' })]);
    expect(await auditActions('revocation_')).toEqual([`revocation_revoked:google_drive account ${id}`]);
  });

  it("waits as long as the provider's Retry-After asks, and ?revoke=false deletes a revoking account at once", async () => {
    await configure(basicClient, stub.url);
    stub.answer = { status: 429, headers: { 'retry-after': '600' } };
    const { id } = await createExpiredAccount(testApp, 7, 'google_drive', 'rt-never-sent-anywhere-else');

    const answer = await http().delete(`/users/7/accounts/${id}`).set(service);

    expect(answer.body).toEqual({ id, revocation: 'pending' });
    const account = await http().get(`/users/7/accounts/${id}`).set(service);
    expect(account.body.revocation).toMatchObject({
      attempts: 1,
      lastError: 'PROVIDER_UNAVAILABLE:HTTP_429',
    });
    expect(Date.parse(account.body.revocation.nextAttemptAt) - Date.now()).toBeGreaterThan(590_000);

    const skipped = await http().delete(`/users/7/accounts/${id}?revoke=false`).set(service);

    expect(skipped.body).toEqual({ id, revocation: 'skipped' });
    await http().get(`/users/7/accounts/${id}`).set(service).expect(404);
    expect(deleted).toEqual([expect.objectContaining({ accountId: id, revocation: 'skipped' })]);
  });

  it('ends a retried revocation the provider refuses as refused, and one past REVOCATION_MAX_HOURS as abandoned, in the audit trail', async () => {
    await configure(basicClient, stub.url);
    stub.answer = { status: 503 };
    const refusedLater = (await createExpiredAccount(testApp, 7, 'google_drive', 'rt-one')).id;
    const givenUp = (await createExpiredAccount(testApp, 7, 'google_drive', 'rt-two')).id;
    for (const id of [refusedLater, givenUp]) {
      const answer = await http().delete(`/users/7/accounts/${id}`).set(service);
      expect(answer.body).toEqual({ id, revocation: 'pending' });
    }
    // 72 hours pass for one of them: its give-up time is now.
    await testApp.dataSource.query(
      `UPDATE external_accounts SET revocation_give_up_at = now(), revocation_next_at = now() WHERE id = $1`,
      [givenUp],
    );
    const sent = stub.requests;
    stub.answer = { status: 400, body: { error: 'unsupported_token_type' } };

    await poll(async () => (deleted.length === 2 ? true : undefined), 20_000, 100);

    expect(deleted).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ accountId: refusedLater, revocation: 'refused' }),
        expect.objectContaining({ accountId: givenUp, revocation: 'abandoned' }),
      ]),
    );
    // The abandoned one was not asked again; the other was, once.
    expect(stub.requests).toBe(sent + 1);
    expect((await auditActions('revocation_')).sort()).toEqual(
      [
        `revocation_abandoned:google_drive account ${givenUp}`,
        `revocation_refused:google_drive account ${refusedLater}`,
      ].sort(),
    );
    const abandoned = await http()
      .get(
        `/admin/audit?action=${encodeURIComponent(`revocation_abandoned:google_drive account ${givenUp}`)}`,
      )
      .set(admin);
    expect(abandoned.body.events).toEqual([
      expect.objectContaining({ outcome: 'failed', statusCode: 504, actor: 'revocation-worker' }),
    ]);
  });

  itIfPostgres(
    'a SIGKILL of the instance holding the revocation lease delays the revocation by at most the lease',
    async () => {
      // This instance stops its worker; the built server's worker takes the lease, then is killed.
      const survivor = await createRefreshApp(
        refreshEnv(key, { ...RETRY_SETTINGS, REVOCATION_WORKER_ENABLED: 'false' }),
      );
      await testApp.close();
      testApp = survivor;
      listen(survivor);
      await configure(basicClient, viaProxy());
      const { id, refreshToken } = await connected(basicClient);
      await proxy.cut();
      expect((await http().delete(`/users/7/accounts/${id}`).set(service)).body.revocation).toBe('pending');
      await proxy.restore();
      await as.behave({ holdRevocations: true });
      const held = (await as.stats()).held;

      const settings = Object.entries(refreshEnv(key, RETRY_SETTINGS)).filter(([, v]) => v !== undefined);
      const child = startBuiltServer(await freePort(), {
        ...(Object.fromEntries(settings) as Record<string, string>),
        NODE_ENV: 'test',
        DATABASE_URL: process.env.E2E_DATABASE_URL,
        REFRESH_AHEAD_SECONDS: '0',
      });
      const exited = new Promise((done) => child.once('exit', done));
      try {
        await poll(async () => ((await as.stats()).held > held ? true : undefined), 60_000, 25);
        child.kill('SIGKILL');
        const killedAt = Date.now();
        await exited;
        await as.behave({});
        await as.release();
        const [{ until }] = await survivor.dataSource.query(
          `SELECT (extract(epoch FROM expires_at) * 1000)::float8 AS until FROM job_leases WHERE name = 'revocation'`,
        );

        const worker = survivor.app.get(RevocationWorker);
        await poll(async () => ((await worker.runOnce())?.revoked === 1 ? true : undefined), 20_000, 100);
        const endedAt = Date.now();

        expect(endedAt).toBeGreaterThanOrEqual(until);
        expect(endedAt - killedAt).toBeLessThan(3_000 + 2_000);
        await http().get(`/users/7/accounts/${id}`).set(service).expect(404);
        expect(await as.introspect(basicClient, refreshToken)).toMatchObject({ active: false });
        expect(deleted).toEqual([expect.objectContaining({ accountId: id, revocation: 'revoked' })]);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await as.behave({});
        await as.release();
      }
    },
    120_000,
  );
});
