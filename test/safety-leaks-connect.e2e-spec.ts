import type { Server } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import request, { type Response } from 'supertest';
import { EnvelopeService } from '../src/crypto/envelope.service';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { bearer, newApiToken } from './support/auth';
import { AuthorizationServer, newClient } from './support/authorization-server';
import { holdCallback, launchBrowser, signInAndConsent, startReturnServer } from './support/browser';
import { freePort } from './support/built-server';
import { describeIfPostgres } from './support/fixtures';
import { OutputCapture } from './support/output-capture';
import { newKey } from './support/rotation-fixtures';
import { randomSecret } from './support/safety-fixtures';
import { ResponseLog } from './support/safety-http';
import { SecretRegistry, storedOutsideSealedColumns } from './support/safety-secrets';

const key = newKey();
const SERVICE_TOKEN = newApiToken('service');
const ADMIN_TOKEN = newApiToken('admin');
const client = newClient('client_secret_post');

/**
 * The connect flow at LOG_LEVEL=trace, in Chromium: every link, state, binding cookie, code,
 * PKCE verifier (and its envelope), token and the client secret is registered, then looked for in
 * everything the service printed, every answer it gave the browser and the caller (redirect URLs
 * and pages included) and every row outside the sealed columns, audit rows included.
 */
describeIfPostgres('no secret of the connect flow in any output, at LOG_LEVEL=trace', () => {
  const capture = new OutputCapture();
  const secrets = new SecretRegistry();
  const responses = new ResponseLog();
  const auth = bearer(SERVICE_TOKEN);
  const admin = bearer(ADMIN_TOKEN);
  let as: AuthorizationServer;
  let testApp: TestApp;
  let browser: Browser;
  let returnServer: Server;
  let base: string;
  let returnOrigin: string;
  let callbackUrl: string;
  /** The one value an answer of the service may carry to the provider: the state of its authorize URL. */
  const statesSent = new Set<string>();
  const browserAnswers: Promise<unknown>[] = [];
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    const [servicePort, returnPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${servicePort}`;
    callbackUrl = `${base}/oauth/callback`;
    returnOrigin = `http://127.0.0.1:${returnPort}`;
    secrets.addKey('key', key.key);
    secrets.add('service API token', SERVICE_TOKEN);
    secrets.add('admin API token', ADMIN_TOKEN);
    secrets.addClientCredentials('provider', client.clientId, client.clientSecret);
    as = await AuthorizationServer.start([{ ...client, redirectUris: [callbackUrl] }]);
    returnServer = await startReturnServer(returnPort);
    capture.start();
    testApp = await createTestApp({
      LOG_LEVEL: 'trace',
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: key.key,
      PROVIDER_TIMEOUT_MS: '3000',
      PUBLIC_BASE_URL: base,
      CONNECT_RETURN_ORIGINS: returnOrigin,
      CONNECT_ALLOWED_ACCOUNT_DOMAINS: 'allowed.example',
    });
    await testApp.app.listen(servicePort, '127.0.0.1');
    await truncateAll(testApp.dataSource);
    browser = await launchBrowser();
    responses.record(
      'provider client',
      await http()
        .put('/admin/providers/acme')
        .set(admin)
        .send({
          issuer: as.issuer,
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          clientAuth: 'client_secret_post',
          scope: 'openid email profile offline_access files.read',
          authorizationParams: { prompt: 'consent' },
        }),
    );
  });

  afterAll(async () => {
    capture.stop();
    await browser?.close();
    await testApp?.close();
    await new Promise((resolve) => returnServer?.close(resolve));
    await as?.stop();
  });

  /** Every answer the service gives this context's browser, redirects included. */
  function recordBrowser(context: BrowserContext, step: string): void {
    context.on('response', (response) => {
      if (!response.url().startsWith(base)) return;
      const location = response.headers().location;
      if (location?.startsWith(as.issuer)) {
        const state = new URL(location).searchParams.get('state') as string;
        secrets.add('state', state);
        statesSent.add(state);
      }
      const recorded = response
        .text()
        .catch(() => '')
        .then((text) =>
          responses.record(
            `${step}: ${response.status()}`,
            {
              status: response.status(),
              headers: response.headers(),
              text,
            } as unknown as Response,
            [...statesSent],
          ),
        );
      browserAnswers.push(recorded);
    });
  }

  async function session(body: object) {
    const created = await http()
      .post('/users/7/connect-sessions')
      .set(auth)
      .send({ provider: 'acme', ...body });
    const link = (created.body.connectUrl as string).split('/').pop() as string;
    secrets.add('connect link', link);
    // The caller gets the link to hand to the browser, and nothing else does.
    responses.record('create session', created, [link]);
    return created.body as { id: string; connectUrl: string };
  }

  /** Opens the link, signs in and consents, holding the callback; registers what the flow made. */
  async function held(context: BrowserContext, login: string, body: object) {
    const created = await session(body);
    const release = await holdCallback(context, as.issuer, callbackUrl);
    const page = await context.newPage();
    await page.goto(created.connectUrl);
    const [row] = await testApp.dataSource.query(`SELECT code_verifier FROM connect_sessions WHERE id = $1`, [
      created.id,
    ]);
    secrets.addEnvelope('sealed PKCE verifier', row.code_verifier);
    const verifier = testApp.app
      .get(EnvelopeService)
      .decryptJsonBlob<string>(row.code_verifier, { connectSession: created.id });
    secrets.add('PKCE verifier', verifier);
    for (const cookie of await context.cookies(base))
      if (cookie.name.startsWith('connect-')) secrets.add('binding cookie', cookie.value);
    await signInAndConsent(page, as.issuer, login);
    const url = new URL(await release());
    secrets.add('authorization code', url.searchParams.get('code') as string);
    return { created, url, page };
  }

  async function landOn(page: Page, url: URL | string): Promise<string> {
    await page.goto(url.toString());
    return page.content();
  }

  it('connects through the browser and lands on returnTo with the outcome only', async () => {
    const context = await browser.newContext();
    recordBrowser(context, 'connect');
    const { created, url, page } = await held(context, 'alice@allowed.example', {
      returnTo: `${returnOrigin}/done`,
    });
    await landOn(page, url);
    const landed = new URL(page.url());
    expect(landed.searchParams.get('status')).toBe('connected');
    responses.record('landed on returnTo', {
      status: 200,
      headers: {},
      text: landed.href,
    } as unknown as Response);
    const accountId = Number(landed.searchParams.get('account'));
    const tokens = await http().get(`/users/7/accounts/${accountId}/tokens`).set(auth);
    secrets.addTokens('connected account', tokens.body);
    const own = Object.entries(tokens.body as Record<string, unknown>)
      .filter(([field, value]) => field !== 'token_type' && field !== 'scope' && typeof value === 'string')
      .map(([, value]) => value as string);
    responses.record('token read', tokens, own);
    const [{ access_token }] = await testApp.dataSource.query(
      `SELECT access_token FROM external_accounts WHERE id = $1`,
      [accountId],
    );
    secrets.addEnvelope('stored tokens', access_token);
    responses.record('session', await http().get(`/users/7/connect-sessions/${created.id}`).set(auth));
    await context.close();
  });

  it('shows pages for refusals and failures without any provider text or secret', async () => {
    const context = await browser.newContext();
    recordBrowser(context, 'refusals');
    const first = await held(context, 'alice@allowed.example', {});
    const replayed = new URL(first.url);
    replayed.searchParams.set('iss', 'http://127.0.0.1:1');
    replayed.searchParams.set('error_description', `<script>${randomSecret('leak_')}</script>`);
    expect(await landOn(first.page, replayed)).toContain('connect_issuer_mismatch');
    expect(await landOn(first.page, first.url)).toContain('connect_state_unknown');
    // Another browser: the provider remembers who signed in in this one.
    const elsewhere = await browser.newContext();
    recordBrowser(elsewhere, 'denied');
    const denied = await held(elsewhere, 'mallory@evil.example', {});
    expect(await landOn(denied.page, denied.url)).toContain('connect_account_domain_denied');
    secrets.add('denied refresh token', (await as.stats()).lastRefreshToken as string);
    await elsewhere.close();
    const other = await held(context, 'alice@allowed.example', {});
    const injected = new URL(other.url);
    injected.searchParams.set('code', first.url.searchParams.get('code') as string);
    expect(await landOn(other.page, injected)).toContain('provider_invalid_grant');
    expect(await landOn(other.page, other.url)).toContain('connect_state_unknown');
    await context.close();
  });

  it('printed, answered and stored no code, verifier, state, cookie, token or client secret', async () => {
    await Promise.all(browserAnswers);
    responses.record('audit trail', await http().get('/admin/audit?limit=1000').set(admin));
    responses.record('key inventory', await http().get('/admin/keys').set(admin));
    const persisted = await storedOutsideSealedColumns(testApp.dataSource);
    const output = capture.stop();
    expect(output).toContain('request completed');
    expect(output).toContain('/oauth/callback');
    expect(persisted).toContain('connect.refused_issuer_mismatch');
    expect(secrets.size).toBeGreaterThan(25);
    expect(responses.count).toBeGreaterThan(15);
    const leaks = [
      ...secrets.find(output, 'server stdout and stderr'),
      ...responses.leaks(secrets),
      ...secrets.find(persisted, 'tables outside the sealed columns'),
    ];
    expect(leaks).toEqual([]);
  });
});
