import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { AdminAuditService } from '../src/audit/admin-audit.service';
import { truncateAll, type TestApp, type TestEnv } from './create-app';
import { newKey } from './support/rotation-fixtures';
import { admin, createRefreshApp, refreshEnv, service } from './support/refresh-fixtures';

const key = newKey();
const PUBLIC = 'https://connectors.example';
const settings: TestEnv = {
  PUBLIC_BASE_URL: PUBLIC,
  CONNECT_RETURN_ORIGINS: 'https://allowed.example,http://127.0.0.1:5173',
  CONNECT_ENABLED_PROVIDERS: 'google_drive,notion',
};
const clientSecret = `cs_${randomBytes(24).toString('base64url')}`;

describe('connect sessions', () => {
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());
  const create = (body: object, userId = 7) =>
    http().post(`/users/${userId}/connect-sessions`).set(service).send(body);
  const linkOf = (connectUrl: string) => new URL(connectUrl).pathname;
  const sessionRows = () =>
    testApp.dataSource.query(
      `SELECT id, status, error, link_hash, state_hash, browser_hash, code_verifier FROM connect_sessions`,
    );

  beforeAll(async () => {
    testApp = await createRefreshApp(refreshEnv(key, settings));
  });

  beforeEach(async () => {
    await truncateAll(testApp.dataSource);
    for (const provider of ['google_drive', 'notion', 'dropbox']) {
      const answer = await http()
        .put(`/admin/providers/${provider}`)
        .set(admin)
        .send({
          tokenUrl: 'https://oauth.example/token',
          authorizationUrl: 'https://accounts.example/o/auth?hd=example.com',
          clientId: 'client-1',
          clientSecret,
          scope: 'openid email drive.readonly',
          authorizationParams: { access_type: 'offline', prompt: 'consent' },
          ...(provider === 'notion' ? { scopeSeparator: ',', pkce: 'none' } : {}),
        });
      expect(answer.status).toBe(200);
    }
  });

  afterAll(async () => {
    await testApp?.close();
  });

  it('creates a pending session with a one-time link under PUBLIC_BASE_URL, and reads it back', async () => {
    const created = await create({ provider: 'google_drive', returnTo: 'https://allowed.example/done?x=1' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      provider: 'google_drive',
      status: 'pending',
      connectUrl: expect.stringMatching(/^https:\/\/connectors\.example\/oauth\/connect\/[A-Za-z0-9_-]{43}$/),
      expiresAt: expect.any(String),
    });
    const ttl = Date.parse(created.body.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
    const read = await http().get(`/users/7/connect-sessions/${created.body.id}`).set(service);
    expect(read.status).toBe(200);
    expect(read.body).toEqual({
      id: created.body.id,
      provider: 'google_drive',
      status: 'pending',
      expiresAt: created.body.expiresAt,
    });
    expect((await http().get(`/users/8/connect-sessions/${created.body.id}`).set(service)).status).toBe(404);
    const [row] = await sessionRows();
    expect(row.link_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(created.body.connectUrl.split('/').pop());
  });

  it('opens a link once: binding cookie, then the authorize URL with a fresh state and the S256 challenge', async () => {
    const created = await create({ provider: 'google_drive', scope: 'openid email' });
    const probed = await http().head(linkOf(created.body.connectUrl));
    expect(probed.status).toBe(200);
    expect(probed.headers['set-cookie']).toBeUndefined();
    const opened = await http().get(linkOf(created.body.connectUrl));
    expect(opened.status).toBe(303);
    expect(opened.headers['cache-control']).toBe('no-store');
    const location = new URL(opened.headers.location);
    expect(`${location.origin}${location.pathname}`).toBe('https://accounts.example/o/auth');
    const query = Object.fromEntries(location.searchParams);
    expect(query).toEqual({
      hd: 'example.com',
      access_type: 'offline',
      prompt: 'consent',
      response_type: 'code',
      client_id: 'client-1',
      redirect_uri: `${PUBLIC}/oauth/callback`,
      state: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      scope: 'openid email',
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
    });
    const cookie = String(opened.headers['set-cookie']);
    expect(cookie).toMatch(new RegExp(`^__Host-connect-${created.body.id}=[A-Za-z0-9_-]{43};`));
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Lax');
    expect(cookie).toContain('Secure');
    expect(cookie).toContain('Path=/');
    const [row] = await sessionRows();
    expect(row).toMatchObject({ status: 'opened', link_hash: null });
    expect(row.state_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.browser_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(row.code_verifier)).toMatchObject({ _enc: 'aesgcm:v3', kid: key.kid });
    expect(JSON.stringify(row)).not.toContain(query.state);
    expect((await http().get(`/users/7/connect-sessions/${created.body.id}`).set(service)).body.status).toBe(
      'opened',
    );

    const again = await http().get(linkOf(created.body.connectUrl));
    expect(again.status).toBe(410);
    expect(again.headers.location).toBeUndefined();
    expect(again.headers['set-cookie']).toBeUndefined();
    expect(again.text).toContain('connect_link_invalid');
  });

  it('joins scopes with the provider’s separator and leaves PKCE out for a provider that refuses it', async () => {
    const created = await create({ provider: 'notion' });
    const location = new URL((await http().get(linkOf(created.body.connectUrl))).headers.location);
    expect(location.searchParams.get('scope')).toBe('openid,email,drive.readonly');
    expect(location.searchParams.has('code_challenge')).toBe(false);
    expect(location.searchParams.has('code_challenge_method')).toBe(false);
    const [row] = await sessionRows();
    expect(row.code_verifier).toBeNull();
  });

  it.each([
    ['//evil.example/done'],
    ['https://allowed.example.evil.example/done'],
    ['https://allowed.example@evil.example/done'],
    ['http://allowed.example/done'],
    ['https://allowed.example:8443/done'],
    ['/done'],
    ['javascript:alert(1)'],
    ['https://evil.example/?next=https://allowed.example/'],
  ])('refuses returnTo %s and stores nothing', async (returnTo) => {
    const answer = await create({ provider: 'google_drive', returnTo });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('CONNECT_RETURN_TO_REFUSED');
    expect(await sessionRows()).toEqual([]);
  });

  it('refuses an unknown, unconfigured or disabled provider and an unknown or foreign account, storing nothing', async () => {
    expect((await create({ provider: 'box' })).body.error).toBe('PROVIDER_NOT_CONFIGURED');
    expect((await create({ provider: 'dropbox' })).body).toMatchObject({
      error: 'CONNECT_PROVIDER_DISABLED',
    });
    expect((await create({ provider: 'dropbox' })).status).toBe(409);
    const missing = await create({ provider: 'google_drive', accountId: 99 });
    expect([missing.status, missing.body.error]).toEqual([404, 'ACCOUNT_NOT_FOUND']);
    const account = await http()
      .post('/users/7/accounts')
      .set(service)
      .send({ provider: 'notion', tokens: { access_token: 'at', token_type: 'Bearer' } });
    const foreign = await create({ provider: 'google_drive', accountId: account.body.id });
    expect([foreign.status, foreign.body.error]).toEqual([409, 'CONNECT_ACCOUNT_PROVIDER_MISMATCH']);
    expect((await create({ provider: 'google_drive', accountId: account.body.id }, 8)).status).toBe(404);
    expect(
      (await create({ provider: 'google_drive', returnTo: 'https://allowed.example/', extra: 1 })).status,
    ).toBe(400);
    expect(await sessionRows()).toEqual([]);
  });

  it('refuses a forged or malformed state on the callback with a page that reflects nothing', async () => {
    const forged = randomBytes(32).toString('base64url');
    const answer = await http().get(
      `/oauth/callback?state=${forged}&code=abc&error_description=%3Cscript%3Ealert(1)%3C/script%3E`,
    );
    expect(answer.status).toBe(403);
    expect(answer.headers['content-type']).toMatch(/^text\/html/);
    expect(answer.headers['content-security-policy']).toContain("default-src 'none'");
    expect(answer.text).toContain('connect_state_unknown');
    expect(answer.text).not.toContain(forged);
    expect(answer.text).not.toContain('script');
    const malformed = await http().get('/oauth/callback?state=%3Cb%3E&code=abc');
    expect(malformed.status).toBe(403);
    expect(malformed.text).toContain('connect_state_invalid');
  });

  it('records creation and refusals in the audit trail, coalescing a flood, and counts them', async () => {
    // Refusals of earlier tests still wait in the open window: written and cleared first.
    await testApp.app.get(AdminAuditService).flush();
    await testApp.dataSource.query(`DELETE FROM admin_audit_events`);
    await create({ provider: 'google_drive' });
    for (let attempt = 0; attempt < 30; attempt += 1)
      await http().get(`/oauth/callback?state=${randomBytes(32).toString('base64url')}&code=c`);
    await testApp.app.get(AdminAuditService).flush();
    const rows: { action: string; outcome: string; count: number }[] = await testApp.dataSource.query(
      `SELECT action, outcome, count FROM admin_audit_events WHERE action LIKE 'connect.%' ORDER BY action`,
    );
    expect(rows).toEqual([
      { action: 'connect.created:google_drive', outcome: 'allowed', count: 1 },
      { action: 'connect.refused_state_unknown:unknown', outcome: 'forbidden', count: 30 },
    ]);
    const metrics = (await http().get('/metrics').set(admin)).text;
    expect(metrics).toMatch(
      /connectors_connect_sessions_total\{provider="google_drive",outcome="created"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /connectors_connect_sessions_total\{provider="unknown",outcome="refused_state_unknown"\} [1-9]/,
    );
  });

  it('ends an expired session: its link is refused and it reads expired, its verifier gone', async () => {
    const created = await create({ provider: 'google_drive' });
    await testApp.dataSource.query(`UPDATE connect_sessions SET expires_at = now() - interval '1 second'`);
    const read = await http().get(`/users/7/connect-sessions/${created.body.id}`).set(service);
    expect(read.body).toMatchObject({ status: 'expired', error: 'connect_session_expired' });
    const opened = await http().get(linkOf(created.body.connectUrl));
    expect(opened.status).toBe(403);
    expect(opened.text).toContain('connect_session_expired');
    expect(await sessionRows()).toEqual([
      expect.objectContaining({ status: 'expired', link_hash: null, code_verifier: null }),
    ]);
  });

  it('counts a running session’s sealed verifier as use of its key in the key inventory', async () => {
    const created = await create({ provider: 'google_drive' });
    await http().get(linkOf(created.body.connectUrl));
    const inventory = await http().get('/admin/keys').set(admin);
    expect(inventory.body.connectSessions).toEqual([{ keyId: key.kid, sessions: 1 }]);
  });

  it('shows the browser connect_failed when the provider refuses this service’s client at the code exchange', async () => {
    const refusing = createServer((incoming, response) => {
      incoming.resume();
      incoming.on('end', () => {
        response.writeHead(401, { 'content-type': 'application/json' });
        response.end('{"error":"invalid_client","error_description":"client authentication failed"}');
      });
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    try {
      const port = (refusing.address() as AddressInfo).port;
      const put = await http()
        .put('/admin/providers/notion')
        .set(admin)
        .send({
          tokenUrl: `http://127.0.0.1:${port}/token`,
          authorizationUrl: 'https://accounts.example/o/auth',
          clientId: 'client-1',
          clientSecret,
        });
      expect(put.status).toBe(200);
      const created = await create({ provider: 'notion', returnTo: 'https://allowed.example/done' });
      const opened = await http().get(linkOf(created.body.connectUrl));
      const state = new URL(opened.headers.location).searchParams.get('state');
      const cookie = String(opened.headers['set-cookie']).split(';')[0];

      const callback = await http().get(`/oauth/callback?state=${state}&code=a-code`).set('Cookie', cookie);

      expect(callback.status).toBe(303);
      const landed = new URL(callback.headers.location);
      expect(Object.fromEntries(landed.searchParams)).toEqual({
        connect_session: created.body.id,
        status: 'failed',
        error: 'connect_failed',
      });
      const read = await http().get(`/users/7/connect-sessions/${created.body.id}`).set(service);
      expect(read.body).toMatchObject({ status: 'failed', error: 'connect_failed' });
      expect((await http().get('/metrics').set(admin)).text).toMatch(
        /connectors_provider_misconfigured_total\{provider="notion",error="invalid_client"\} 1/,
      );
    } finally {
      await new Promise((resolve) => refusing.close(resolve));
    }
  });

  it('answers CONNECT_NOT_CONFIGURED while PUBLIC_BASE_URL is unset', async () => {
    await testApp.close();
    testApp = await createRefreshApp(refreshEnv(key));
    try {
      const answer = await create({ provider: 'google_drive' });
      expect([answer.status, answer.body.error]).toEqual([409, 'CONNECT_NOT_CONFIGURED']);
    } finally {
      await testApp.close();
      testApp = await createRefreshApp(refreshEnv(key, settings));
    }
  });
});
