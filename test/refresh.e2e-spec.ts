import { EventEmitter2 } from '@nestjs/event-emitter';
import request from 'supertest';
import { ACCOUNT_EVENTS, type AccountEvent } from '../src/connectors/account-events';
import type { TokenSet } from '../src/connectors/token-set';
import { ExternalAccountsService } from '../src/connectors/external-accounts.service';
import { RefreshAheadWorker } from '../src/connectors/refresh/refresh-ahead.worker';
import { truncateAll, type TestApp, type TestEnv } from './create-app';
import { AuthorizationServer, newClient } from './support/authorization-server';
import { freePort } from './support/built-server';
import { poll, tokenColumnsOf } from './support/fixtures';
import { newKey } from './support/rotation-fixtures';
import {
  admin,
  createExpiredAccount,
  createRefreshApp,
  putProvider,
  refreshEnv,
  service,
} from './support/refresh-fixtures';

const key = newKey();
const basicClient = newClient('client_secret_basic');
const postClient = newClient('client_secret_post');
// RFC 6749 §2.3.1: Basic credentials are form-encoded first, which a secret like this one tests.
const oddClient = {
  ...newClient('client_secret_basic'),
  clientSecret: `s3cr:t %+/=&${newClient().clientSecret}`,
};

/** The `connectors_token_refreshes_total` counter of google_drive, by outcome, in a scrape. */
function refreshesCounted(metrics: string): (outcome: string) => number {
  return (outcome) =>
    Number(
      new RegExp(
        `^connectors_token_refreshes_total\\{provider="google_drive",outcome="${outcome}"\\} (\\d+)$`,
        'm',
      ).exec(metrics)?.[1] ?? 0,
    );
}

describe('fresh tokens from the provider', () => {
  let as: AuthorizationServer;
  let testApp: TestApp;
  const events: { name: string; event: AccountEvent }[] = [];
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    as = await AuthorizationServer.start([basicClient, postClient, oddClient]);
    testApp = await openApp(refreshEnv(key));
  });

  async function openApp(env: TestEnv): Promise<TestApp> {
    const app = await createRefreshApp(env);
    const emitter = app.app.get(EventEmitter2);
    for (const name of Object.values(ACCOUNT_EVENTS)) {
      emitter.on(name, (event: AccountEvent) => events.push({ name, event }));
    }
    return app;
  }

  /** The suite's instance with other settings, for one test: the embedded database has one instance at a time. */
  async function withSettings(extra: TestEnv, work: () => Promise<void>): Promise<void> {
    await testApp.close();
    testApp = await openApp(refreshEnv(key, extra));
    try {
      await work();
    } finally {
      await testApp.close();
      testApp = await openApp(refreshEnv(key));
    }
  }

  beforeEach(async () => {
    await truncateAll(testApp.dataSource);
    await as.behave({});
    events.length = 0;
    expect((await putProvider(testApp, 'google_drive', basicClient, as.tokenUrl)).status).toBe(200);
  });

  afterAll(async () => {
    await testApp?.close();
    await as?.stop();
  });

  const tokensOf = async (id: number, query = '') => {
    const answer = await http().get(`/users/7/accounts/${id}/tokens${query}`).set(service);
    return answer;
  };

  it('refreshes an expired token once, stores the rotated set first, and returns it', async () => {
    const refreshToken = await as.mint(basicClient);
    const { id, tokens } = await createExpiredAccount(testApp, 7, 'google_drive', refreshToken);
    const calls = await as.tokenRequests();

    const fresh = await tokensOf(id, '?minValidity=60');

    expect(fresh.status).toBe(200);
    const body = fresh.body as TokenSet;
    expect(body.access_token).not.toBe(tokens.access_token);
    expect(body.refresh_token).not.toBe(refreshToken);
    expect(body.expires_at).toBeGreaterThan(Date.now() / 1000 + 60);
    expect(await as.tokenRequests()).toBe(calls + 1);
    expect((await tokensOf(id)).body).toEqual(body);
    expect(await as.introspect(basicClient, body.refresh_token as string)).toMatchObject({ active: true });
    expect(await as.introspect(basicClient, refreshToken)).toMatchObject({ active: false });

    const again = await tokensOf(id, '?minValidity=60');
    expect(again.body).toEqual(body);
    expect(await as.tokenRequests()).toBe(calls + 1);

    const account = await http().get(`/users/7/accounts/${id}`).set(service);
    expect(account.body).toMatchObject({ status: 'active', statusReason: null, version: 2 });
    expect(account.body.lastRefreshedAt).toEqual(expect.any(String));
    const refreshed = events.filter((entry) => entry.name === ACCOUNT_EVENTS.tokensRefreshed);
    expect(refreshed).toHaveLength(1);
    expect(refreshed[0].event).toMatchObject({ userId: 7, accountId: id, provider: 'google_drive' });
  });

  it('answers without a provider call while the token is valid long enough, and as today without minValidity', async () => {
    const { id, tokens } = await createExpiredAccount(testApp, 7, 'google_drive', await as.mint(basicClient));
    const calls = await as.tokenRequests();
    expect((await tokensOf(id)).body).toMatchObject({ access_token: tokens.access_token });
    const put = await http()
      .put(`/users/7/accounts/${id}/tokens`)
      .set(service)
      .send({ access_token: 'valid-for-an-hour', expires_in: 3600 });
    expect(put.status).toBe(200);
    expect((await tokensOf(id, '?minValidity=600')).body).toMatchObject({
      access_token: 'valid-for-an-hour',
    });
    expect(await as.tokenRequests()).toBe(calls);
  });

  it('forces a refresh with POST .../tokens/refresh, with client_secret_post as well', async () => {
    expect((await putProvider(testApp, 'notion', postClient, as.tokenUrl)).status).toBe(200);
    const { id } = await createExpiredAccount(testApp, 7, 'notion', await as.mint(postClient));
    const first = await http().post(`/users/7/accounts/${id}/tokens/refresh`).set(service);
    expect(first.status).toBe(200);
    const second = await http().post(`/users/7/accounts/${id}/tokens/refresh`).set(service);
    expect(second.status).toBe(200);
    expect(second.body.access_token).not.toBe(first.body.access_token);
    expect(await as.introspect(postClient, second.body.refresh_token)).toMatchObject({ active: true });

    expect((await putProvider(testApp, 'zotero', oddClient, as.tokenUrl)).status).toBe(200);
    const { id: odd } = await createExpiredAccount(testApp, 7, 'zotero', await as.mint(oddClient));
    expect((await http().post(`/users/7/accounts/${odd}/tokens/refresh`).set(service)).status).toBe(200);
  });

  it('waits for a refresh another instance holds, answers 503 when the wait runs out, and takes over an expired lease', async () => {
    await withSettings({ REFRESH_WAIT_MS: '500' }, async () => {
      const { id } = await createExpiredAccount(testApp, 7, 'google_drive', await as.mint(basicClient));
      await testApp.dataSource.query(
        `UPDATE external_accounts SET refresh_lease_owner = 'another-instance', refresh_lease_until = now() + interval '1 hour' WHERE id = $1`,
        [id],
      );
      const calls = await as.tokenRequests();
      const read = () => http().get(`/users/7/accounts/${id}/tokens?minValidity=60`).set(service);

      const waited = await read();
      expect([waited.status, waited.body.error, waited.headers['retry-after']]).toEqual([
        503,
        'REFRESH_IN_PROGRESS',
        '1',
      ]);
      expect(await as.tokenRequests()).toBe(calls);

      // The holder died: its lease ends, and the next caller refreshes.
      await testApp.dataSource.query(
        `UPDATE external_accounts SET refresh_lease_until = now() - interval '1 second' WHERE id = $1`,
        [id],
      );
      expect((await read()).status).toBe(200);
      expect(await as.tokenRequests()).toBe(calls + 1);
    });
  });

  it('finishes a refresh in flight before the instance shuts down, so the rotated token is kept', async () => {
    const { id } = await createExpiredAccount(testApp, 7, 'google_drive', await as.mint(basicClient));
    const calls = await as.tokenRequests();
    await as.behave({ holdMs: 1000 });
    // Called as another module would, with no HTTP request keeping the server open.
    const inFlight = testApp.app
      .get(ExternalAccountsService)
      .getFreshTokens(7, id, { minValiditySeconds: 60 })
      .catch(() => undefined);
    await poll(async () => ((await as.tokenRequests()) > calls ? true : undefined));
    await testApp.close();
    testApp = await openApp(refreshEnv(key));
    await inFlight;
    await as.behave({});

    const account = await http().get(`/users/7/accounts/${id}`).set(service);
    expect(account.body).toMatchObject({ status: 'active', version: 2 });
    const stored = (await tokensOf(id)).body as TokenSet;
    expect(await as.introspect(basicClient, stored.refresh_token as string)).toMatchObject({ active: true });
  });

  it('coalesces concurrent callers of one instance on one provider call', async () => {
    const { id } = await createExpiredAccount(testApp, 7, 'google_drive', await as.mint(basicClient));
    const calls = await as.tokenRequests();
    const answers = await Promise.all(Array.from({ length: 20 }, () => tokensOf(id, '?minValidity=30')));
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(200));
    expect(new Set(answers.map((answer) => answer.body.access_token)).size).toBe(1);
    expect(await as.tokenRequests()).toBe(calls + 1);
  });

  it('marks a revoked grant needs_reauth once, stops calling the provider, and a PUT makes it active', async () => {
    const countedBefore = refreshesCounted((await http().get('/metrics').set(admin).expect(200)).text);
    const refreshToken = await as.mint(basicClient);
    const { id } = await createExpiredAccount(testApp, 7, 'google_drive', refreshToken);
    await as.revoke(basicClient, refreshToken);
    const calls = await as.tokenRequests();

    const refused = await Promise.all([tokensOf(id, '?minValidity=60'), tokensOf(id, '?minValidity=60')]);
    expect(refused.map((answer) => [answer.status, answer.body.error])).toEqual([
      [409, 'ACCOUNT_NEEDS_REAUTH'],
      [409, 'ACCOUNT_NEEDS_REAUTH'],
    ]);
    const later = await http().post(`/users/7/accounts/${id}/tokens/refresh`).set(service);
    expect(later.status).toBe(409);
    expect(await as.tokenRequests()).toBe(calls + 1);
    expect(events.filter((entry) => entry.name === ACCOUNT_EVENTS.needsReauth)).toHaveLength(1);

    const listed = await http().get('/users/7/accounts?status=needs_reauth').set(service);
    expect(listed.body).toEqual([
      expect.objectContaining({ id, status: 'needs_reauth', statusReason: 'invalid_grant' }),
    ]);
    expect((await http().get('/users/7/accounts?status=active').set(service)).body).toEqual([]);
    expect((await http().get('/users/7/accounts?status=gone').set(service)).status).toBe(400);

    const reconnected = await http()
      .put(`/users/7/accounts/${id}/tokens`)
      .set(service)
      .send({ access_token: 'new-after-consent', refresh_token: await as.mint(basicClient), expires_in: 0 });
    expect(reconnected.body).toMatchObject({ status: 'active', statusReason: null });
    expect((await tokensOf(id, '?minValidity=60')).status).toBe(200);
    expect(await as.tokenRequests()).toBe(calls + 2);

    // Each provider call is counted by provider and outcome: one refused, one refreshed.
    const counted = refreshesCounted((await http().get('/metrics').set(admin).expect(200)).text);
    expect({
      needs_reauth: counted('needs_reauth') - countedBefore('needs_reauth'),
      refreshed: counted('refreshed') - countedBefore('refreshed'),
    }).toEqual({ needs_reauth: 1, refreshed: 1 });
  });

  it('answers 502 with Retry-After and keeps the tokens when the provider fails, is down or is slow', async () => {
    const { id } = await createExpiredAccount(testApp, 7, 'google_drive', await as.mint(basicClient));
    const before = await tokenColumnsOf(testApp.dataSource, id);

    await as.behave({ failStatus: 503 });
    const failing = await tokensOf(id, '?minValidity=60');
    expect(failing.status).toBe(502);
    expect(failing.body.error).toBe('PROVIDER_UNAVAILABLE');
    expect(Number(failing.headers['retry-after'])).toBeGreaterThan(0);
    expect(await tokenColumnsOf(testApp.dataSource, id)).toEqual(before);

    const closed = `http://127.0.0.1:${await freePort()}/token`;
    expect((await putProvider(testApp, 'google_drive', basicClient, closed)).status).toBe(200);
    const down = await tokensOf(id, '?minValidity=60');
    expect([down.status, down.body.error]).toEqual([502, 'PROVIDER_UNAVAILABLE']);
    expect(await tokenColumnsOf(testApp.dataSource, id)).toEqual(before);

    expect((await putProvider(testApp, 'google_drive', basicClient, as.tokenUrl)).status).toBe(200);
    await as.behave({ holdMs: 5000 });
    const slow = await tokensOf(id, '?minValidity=60');
    expect([slow.status, slow.body.error]).toEqual([502, 'PROVIDER_UNAVAILABLE']);
    expect(slow.body.message).toContain('TIMEOUT');
    expect(await tokenColumnsOf(testApp.dataSource, id)).toEqual(before);
    const account = await http().get(`/users/7/accounts/${id}`).set(service);
    expect(account.body.status).toBe('active');
  });

  it('answers 409 when no client is configured or no refresh token is stored', async () => {
    const { id: unconfigured } = await createExpiredAccount(
      testApp,
      7,
      'dropbox',
      await as.mint(basicClient),
    );
    const noClient = await tokensOf(unconfigured, '?minValidity=60');
    expect([noClient.status, noClient.body.error]).toEqual([409, 'PROVIDER_NOT_CONFIGURED']);
    const { id: bare } = await createExpiredAccount(testApp, 7, 'google_drive', undefined);
    const noRefresh = await tokensOf(bare, '?minValidity=60');
    expect([noRefresh.status, noRefresh.body.error]).toEqual([409, 'NO_REFRESH_TOKEN']);
    expect((await tokensOf(bare, '?minValidity=-1')).status).toBe(400);
    expect((await tokensOf(bare, '?minValidity=1e3')).status).toBe(400);
    // Nothing was sent to a provider, so nothing is counted, and a caller's provider name is no label.
    const metrics = (await http().get('/metrics').set(admin).expect(200)).text;
    const series = metrics.split('\n').filter((line) => line.startsWith('connectors_token_refreshes_total{'));
    expect(series.join('\n')).not.toMatch(/dropbox|PROVIDER_NOT_CONFIGURED|NO_REFRESH_TOKEN/);
  });

  it('labels refreshes with the provider only when a client is configured for it, else other', async () => {
    const invented = ['made_up_one', 'made_up_two', 'made_up_three'];
    for (const provider of invented) {
      const { id } = await createExpiredAccount(testApp, 7, provider, await as.mint(basicClient));
      expect((await tokensOf(id, '?minValidity=60')).body.error).toBe('PROVIDER_NOT_CONFIGURED');
    }
    const { id } = await createExpiredAccount(testApp, 7, 'google_drive', await as.mint(basicClient));
    expect((await tokensOf(id, '?minValidity=60')).status).toBe(200);
    const metrics = (await http().get('/metrics').set(admin).expect(200)).text;
    const providers = new Set(
      [...metrics.matchAll(/^connectors_token_refreshes_total\{provider="([^"]*)"/gm)].map(
        (match) => match[1],
      ),
    );
    expect(providers.has('google_drive')).toBe(true);
    for (const provider of invented) expect(providers.has(provider)).toBe(false);
  });

  it('emits account events with ids, provider and metadata, never a token', async () => {
    const refreshToken = await as.mint(basicClient);
    const { id, tokens } = await createExpiredAccount(testApp, 7, 'google_drive', refreshToken);
    await http().put(`/users/7/accounts/${id}/tokens`).set(service).send({ access_token: 'replaced' });
    const refreshed = await http().post(`/users/7/accounts/${id}/tokens/refresh`).set(service);
    await http().delete(`/users/7/accounts/${id}`).set(service).expect(200);

    expect(events.map((entry) => entry.name)).toEqual([
      ACCOUNT_EVENTS.created,
      ACCOUNT_EVENTS.tokensUpdated,
      ACCOUNT_EVENTS.tokensRefreshed,
      ACCOUNT_EVENTS.deleted,
    ]);
    const printed = JSON.stringify(events);
    for (const secret of [tokens.access_token, refreshToken, 'replaced', refreshed.body.access_token]) {
      expect(printed).not.toContain(secret);
    }
    expect(events[3].event).toMatchObject({ userId: 7, accountId: id, provider: 'google_drive' });
  });

  it('refreshes ahead the accounts that expire soonest first, within the per-provider rate', async () => {
    const ahead = {
      REFRESH_AHEAD_SECONDS: '600',
      REFRESH_AHEAD_PER_PROVIDER_PER_MINUTE: '1',
      REFRESH_AHEAD_POLL_SECONDS: '3600',
    };
    await withSettings(ahead, async () => {
      const later = await createExpiredAccount(testApp, 8, 'google_drive', await as.mint(basicClient));
      const sooner = await createExpiredAccount(testApp, 8, 'google_drive', await as.mint(basicClient));
      await http()
        .put(`/users/8/accounts/${later.id}/tokens`)
        .set(service)
        .send({ access_token: 'valid-for-a-minute', expires_in: 60 })
        .expect(200);
      const worker = testApp.app.get(RefreshAheadWorker);
      const run = await worker.runOnce();
      expect(run).toMatchObject({ refreshed: 1, deferred: 1 });
      const views = await http().get('/users/8/accounts').set(service);
      const refreshedIds = (views.body as { id: number; lastRefreshedAt: string | null }[])
        .filter((view) => view.lastRefreshedAt !== null)
        .map((view) => view.id);
      expect(refreshedIds).toEqual([sooner.id]);
    });
  });

  it('does not refresh ahead again on the next pass a token that lives less than the window', async () => {
    await withSettings({ REFRESH_AHEAD_SECONDS: '7200', REFRESH_AHEAD_POLL_SECONDS: '3600' }, async () => {
      await createExpiredAccount(testApp, 8, 'google_drive', await as.mint(basicClient));
      const calls = await as.tokenRequests();
      const worker = testApp.app.get(RefreshAheadWorker);
      expect(await worker.runOnce()).toMatchObject({ refreshed: 1 });
      expect(await worker.runOnce()).toMatchObject({ refreshed: 0, deferred: 0 });
      expect(await as.tokenRequests()).toBe(calls + 1);
    });
  });

  describe('provider clients (admin)', () => {
    it('stores the client secret sealed, bound to the provider, and never returns it', async () => {
      const [row] = await testApp.dataSource.query(
        `SELECT client_secret FROM provider_clients WHERE provider = 'google_drive'`,
      );
      expect(row.client_secret).toMatch(/^\{"_enc":"aesgcm:v3"/);
      expect(row.client_secret).not.toContain(basicClient.clientSecret);
      for (const answer of [
        await http().get('/admin/providers').set(admin),
        await http().get('/admin/providers/google_drive').set(admin),
        await putProvider(testApp, 'google_drive', basicClient, as.tokenUrl),
      ]) {
        expect(answer.status).toBe(200);
        expect(JSON.stringify(answer.body)).not.toContain(basicClient.clientSecret);
      }
      const one = await http().get('/admin/providers/google_drive').set(admin);
      expect(one.body).toMatchObject({
        provider: 'google_drive',
        tokenUrl: as.tokenUrl,
        clientId: basicClient.clientId,
        clientAuth: 'client_secret_basic',
        version: 2,
      });
      expect(one.body).not.toHaveProperty('clientSecret');
    });

    it('refuses token URLs that are not https, except on loopback', async () => {
      const put = (tokenUrl: string, revocationUrl?: string) =>
        http()
          .put('/admin/providers/notion')
          .set(admin)
          .send({ tokenUrl, clientId: 'id', clientSecret: 'secret', revocationUrl });
      for (const url of ['http://api.notion.com/v1/oauth/token', 'http://10.1.2.3/token', 'file:///etc/x']) {
        const refused = await put(url);
        expect(refused.status).toBe(400);
        expect(refused.body.details).toEqual([expect.stringMatching(/^tokenUrl: must be an https URL/)]);
      }
      expect((await put('https://api.notion.com/v1/oauth/token', 'http://example.com/revoke')).status).toBe(
        400,
      );
      expect((await put('https://api.notion.com/v1/oauth/token')).status).toBe(200);
      expect((await put('http://localhost:9/token')).status).toBe(200);
      expect((await put('http://[::1]:9/token')).status).toBe(200);
    });

    it('deletes a client, answers 404 for one that is not there, and closes the routes without the admin token', async () => {
      expect((await http().delete('/admin/providers/google_drive').set(admin)).status).toBe(204);
      expect((await http().get('/admin/providers/google_drive').set(admin)).status).toBe(404);
      expect((await http().delete('/admin/providers/google_drive').set(admin)).status).toBe(404);
      expect((await http().get('/admin/providers').set(service)).status).toBe(403);
      expect((await http().get('/admin/providers')).status).toBe(401);
      expect((await http().get('/admin/providers/Not-A-Slug').set(admin)).status).toBe(400);
    });

    it('records every provider route in the audit trail', async () => {
      await http().get('/admin/providers').set(admin);
      await http().get('/admin/providers').set(service);
      const audit = await http().get('/admin/audit?limit=10').set(admin);
      const actions = (audit.body.events as { action: string; outcome: string }[]).map(
        (event) => `${event.action} ${event.outcome}`,
      );
      expect(actions).toEqual(
        expect.arrayContaining([
          'GET /admin/providers allowed',
          'GET /admin/providers forbidden',
          'PUT /admin/providers/:provider allowed',
        ]),
      );
    });
  });
});
