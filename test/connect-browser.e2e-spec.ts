import type { Server } from 'node:http';
import type { Browser, BrowserContext } from 'playwright-core';
import request from 'supertest';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { AuthorizationServer, newClient } from './support/authorization-server';
import {
  cookieHeader,
  holdCallback,
  launchBrowser,
  signInAndConsent,
  startReturnServer,
} from './support/browser';
import { freePort } from './support/built-server';
import { countAccounts, describeIfPostgres } from './support/fixtures';
import { newKey } from './support/rotation-fixtures';
import { admin, refreshEnv, service } from './support/refresh-fixtures';

const key = newKey();
const client = newClient('client_secret_basic');
const SCOPE = 'openid email profile offline_access files.read';

/** The whole flow in Chromium against oidc-provider's own pages; one browser for the file. */
describeIfPostgres('connecting an account in a real browser', () => {
  let as: AuthorizationServer;
  let testApp: TestApp;
  let browser: Browser;
  let returnServer: Server;
  let base: string;
  let returnOrigin: string;
  let callbackUrl: string;
  const contexts: BrowserContext[] = [];
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    const [servicePort, returnPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${servicePort}`;
    callbackUrl = `${base}/oauth/callback`;
    returnOrigin = `http://127.0.0.1:${returnPort}`;
    as = await AuthorizationServer.start([{ ...client, redirectUris: [callbackUrl] }]);
    returnServer = await startReturnServer(returnPort);
    testApp = await createTestApp(
      refreshEnv(key, {
        PUBLIC_BASE_URL: base,
        CONNECT_RETURN_ORIGINS: returnOrigin,
        CONNECT_ALLOWED_ACCOUNT_DOMAINS: 'allowed.example',
      }),
    );
    await testApp.app.listen(servicePort, '127.0.0.1');
    browser = await launchBrowser();
  });

  beforeEach(async () => {
    await truncateAll(testApp.dataSource);
    const put = await http()
      .put('/admin/providers/acme')
      .set(admin)
      .send({
        issuer: as.issuer,
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        scope: SCOPE,
        authorizationParams: { prompt: 'consent' },
      });
    expect(put.status).toBe(200);
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
  });

  afterAll(async () => {
    await browser?.close();
    await testApp?.close();
    await new Promise((resolve) => returnServer?.close(resolve));
    await as?.stop();
  });

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    contexts.push(context);
    return context;
  }

  async function createSession(body: object = {}) {
    const answer = await http()
      .post('/users/7/connect-sessions')
      .set(service)
      .send({ provider: 'acme', returnTo: `${returnOrigin}/connected?from=test`, ...body });
    expect(answer.status).toBe(201);
    return answer.body as { id: string; connectUrl: string };
  }

  /** Runs the flow in `context` up to the provider's redirect, which the test holds. */
  async function heldCallbackOf(context: BrowserContext, login = 'alice@allowed.example') {
    const session = await createSession();
    const release = await holdCallback(context, as.issuer, callbackUrl);
    const page = await context.newPage();
    await page.goto(session.connectUrl);
    await signInAndConsent(page, as.issuer, login);
    return { session, url: new URL(await release()), page };
  }

  /** Code exchanges the provider saw since `since`: every authorization_code request, answered or not. */
  const exchangesSince = async (since: number) => (await as.stats()).codeExchanges - since;
  const exchanges = async () => (await as.stats()).codeExchanges;

  const sessionOf = async (id: string) =>
    (await http().get(`/users/7/connect-sessions/${id}`).set(service)).body as {
      status: string;
      error?: string;
      accountId?: number;
    };

  it('connects an account from the first click to the return page; its tokens read back and refresh', async () => {
    const before = await exchanges();
    const context = await newContext();
    const session = await createSession();
    const page = await context.newPage();
    await page.goto(session.connectUrl);
    await signInAndConsent(page, as.issuer, 'alice@allowed.example');
    await page.waitForURL((url) => url.origin === returnOrigin);
    const landed = new URL(page.url());
    expect(landed.pathname).toBe('/connected');
    expect(Object.fromEntries(landed.searchParams)).toEqual({
      from: 'test',
      connect_session: session.id,
      status: 'connected',
      account: expect.stringMatching(/^\d+$/),
    });
    expect(await page.textContent('p')).toBe('landed');
    const accountId = Number(landed.searchParams.get('account'));
    expect(await sessionOf(session.id)).toMatchObject({ status: 'connected', accountId });
    const account = await http().get(`/users/7/accounts/${accountId}`).set(service);
    expect(account.body).toMatchObject({
      provider: 'acme',
      email: 'alice@allowed.example',
      status: 'active',
    });
    const tokens = await http().get(`/users/7/accounts/${accountId}/tokens`).set(service);
    expect(tokens.body).toMatchObject({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
    });
    expect(await as.introspect(client, tokens.body.refresh_token)).toMatchObject({ active: true });
    expect(await exchangesSince(before)).toBe(1);
    const refreshed = await http().post(`/users/7/accounts/${accountId}/tokens/refresh`).set(service);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(tokens.body.access_token);
    const bindings = (await context.cookies(base)).filter((cookie) => cookie.name.startsWith('connect-'));
    expect(bindings).toEqual([]);
  });

  it('reconnects a needs_reauth account: same id, active, new tokens', async () => {
    const first = await heldCallbackOf(await newContext());
    await first.page.goto(first.url.toString());
    const accountId = (await sessionOf(first.session.id)).accountId as number;
    const before = await http().get(`/users/7/accounts/${accountId}/tokens`).set(service);
    await testApp.dataSource.query(
      `UPDATE external_accounts SET status = 'needs_reauth', status_reason = 'invalid_grant' WHERE id = $1`,
      [accountId],
    );
    const context = await newContext();
    const session = await createSession({ accountId });
    const page = await context.newPage();
    await page.goto(session.connectUrl);
    await signInAndConsent(page, as.issuer, 'alice@allowed.example');
    await page.waitForURL((url) => url.origin === returnOrigin);
    expect(new URL(page.url()).searchParams.get('account')).toBe(String(accountId));
    const account = await http().get(`/users/7/accounts/${accountId}`).set(service);
    expect(account.body).toMatchObject({ id: accountId, status: 'active' });
    const after = await http().get(`/users/7/accounts/${accountId}/tokens`).set(service);
    expect(after.body.access_token).not.toBe(before.body.access_token);
    expect(await countAccounts(testApp.dataSource)).toBe(1);
  });

  it('refuses a reconnect signed in as another account: the account keeps its tokens, the new grant is revoked', async () => {
    const first = await heldCallbackOf(await newContext());
    await first.page.goto(first.url.toString());
    const accountId = (await sessionOf(first.session.id)).accountId as number;
    const before = await http().get(`/users/7/accounts/${accountId}/tokens`).set(service);
    const session = await createSession({ accountId });
    const page = await (await newContext()).newPage();
    await page.goto(session.connectUrl);
    await signInAndConsent(page, as.issuer, 'bob@allowed.example');
    await page.waitForURL((url) => url.origin === returnOrigin);
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toMatchObject({
      status: 'denied',
      error: 'connect_account_mismatch',
    });
    const after = await http().get(`/users/7/accounts/${accountId}/tokens`).set(service);
    expect(after.body.access_token).toBe(before.body.access_token);
    const issued = (await as.stats()).lastRefreshToken as string;
    expect(issued).not.toBe(before.body.refresh_token);
    expect(await as.introspect(client, issued)).toMatchObject({ active: false });
    expect(await countAccounts(testApp.dataSource)).toBe(1);
  });

  it('takes a state once: 20 concurrent callbacks give one exchange at the provider and one account', async () => {
    const context = await newContext();
    const { url } = await heldCallbackOf(context);
    const before = await exchanges();
    const cookie = await cookieHeader(context, base);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => fetch(url, { headers: { cookie }, redirect: 'manual' })),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses).toEqual([303, ...Array(19).fill(403)]);
    expect(await exchangesSince(before)).toBe(1);
    expect(await countAccounts(testApp.dataSource)).toBe(1);
    const replay = await fetch(url, { headers: { cookie }, redirect: 'manual' });
    expect(replay.status).toBe(403);
    expect(await replay.text()).toContain('connect_state_unknown');
    expect(await exchangesSince(before)).toBe(1);
  });

  it('refuses the callback in a second browser context without the cookie, and still completes in the first', async () => {
    const context = await newContext();
    const { session, url } = await heldCallbackOf(context);
    const before = await exchanges();
    const other = await (await newContext()).newPage();
    const refused = await other.goto(url.toString());
    expect(refused?.status()).toBe(403);
    expect(await other.textContent('code')).toBe('connect_browser_mismatch');
    expect(await exchangesSince(before)).toBe(0);
    expect(await countAccounts(testApp.dataSource)).toBe(0);
    expect((await sessionOf(session.id)).status).toBe('opened');
    const page = await context.newPage();
    await page.goto(url.toString());
    expect(new URL(page.url()).searchParams.get('status')).toBe('connected');
    expect(await exchangesSince(before)).toBe(1);
  });

  it('refuses the callback of an expired session without exchanging the code', async () => {
    const context = await newContext();
    const { session, url } = await heldCallbackOf(context);
    const before = await exchanges();
    await testApp.dataSource.query(`UPDATE connect_sessions SET expires_at = now() - interval '1 second'`);
    const page = await context.newPage();
    expect((await page.goto(url.toString()))?.status()).toBe(403);
    expect(await page.textContent('code')).toBe('connect_session_expired');
    expect(await exchangesSince(before)).toBe(0);
    expect(await countAccounts(testApp.dataSource)).toBe(0);
    expect(await sessionOf(session.id)).toMatchObject({
      status: 'expired',
      error: 'connect_session_expired',
    });
  });

  it.each([
    [
      'another issuer',
      (url: URL) => url.searchParams.set('iss', 'http://127.0.0.1:1'),
      'connect_issuer_mismatch',
    ],
    [
      'no iss although the provider advertises it',
      (url: URL) => url.searchParams.delete('iss'),
      'connect_issuer_missing',
    ],
  ])(
    'refuses a callback with %s (RFC 9207), the session failed, no code exchanged',
    async (_name, change, error) => {
      const context = await newContext();
      const { session, url } = await heldCallbackOf(context);
      expect(url.searchParams.get('iss')).toBe(as.issuer);
      const before = await exchanges();
      change(url);
      const page = await context.newPage();
      await page.goto(url.toString());
      const landed = new URL(page.url());
      expect(landed.origin).toBe(returnOrigin);
      expect(Object.fromEntries(landed.searchParams)).toMatchObject({ status: 'failed', error });
      expect(await exchangesSince(before)).toBe(0);
      expect(await countAccounts(testApp.dataSource)).toBe(0);
      expect(await sessionOf(session.id)).toMatchObject({ status: 'failed', error });
    },
  );

  it('refuses a second open of a connectUrl', async () => {
    const context = await newContext();
    const { session } = await heldCallbackOf(context);
    const page = await context.newPage();
    expect((await page.goto(session.connectUrl))?.status()).toBe(410);
    expect(page.url()).toBe(session.connectUrl);
    expect(await page.textContent('code')).toBe('connect_link_invalid');
  });

  it('fails a code injected into another session’s callback at the exchange (PKCE), ending that session failed', async () => {
    const context = await newContext();
    const first = await heldCallbackOf(context);
    const second = await heldCallbackOf(context);
    const before = await exchanges();
    const injected = new URL(second.url);
    injected.searchParams.set('code', first.url.searchParams.get('code') as string);
    const page = await context.newPage();
    await page.goto(injected.toString());
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toMatchObject({
      connect_session: second.session.id,
      status: 'failed',
      error: 'provider_invalid_grant',
    });
    expect(await exchangesSince(before)).toBe(1);
    expect(await countAccounts(testApp.dataSource)).toBe(0);
    expect(await sessionOf(second.session.id)).toMatchObject({
      status: 'failed',
      error: 'provider_invalid_grant',
    });
  });

  it('denies an account outside CONNECT_ALLOWED_ACCOUNT_DOMAINS, stores nothing and revokes its grant', async () => {
    const context = await newContext();
    const session = await createSession();
    const page = await context.newPage();
    await page.goto(session.connectUrl);
    await signInAndConsent(page, as.issuer, 'mallory@evil.example');
    await page.waitForURL((url) => url.origin === returnOrigin);
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toMatchObject({
      status: 'denied',
      error: 'connect_account_domain_denied',
    });
    expect(await countAccounts(testApp.dataSource)).toBe(0);
    const issued = (await as.stats()).lastRefreshToken as string;
    expect(issued).toEqual(expect.any(String));
    expect(await as.introspect(client, issued)).toMatchObject({ active: false });
    expect(await sessionOf(session.id)).toMatchObject({
      status: 'denied',
      error: 'connect_account_domain_denied',
    });
  });
});
