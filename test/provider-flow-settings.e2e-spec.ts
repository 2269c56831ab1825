import request from 'supertest';
import { truncateAll, type TestApp } from './create-app';
import { AuthorizationServer, newClient } from './support/authorization-server';
import { admin, createRefreshApp, refreshEnv } from './support/refresh-fixtures';

const client = newClient();

describe('provider settings for the authorization-code flow', () => {
  let as: AuthorizationServer;
  let testApp: TestApp;
  const put = (provider: string, body: object) =>
    request(testApp.app.getHttpServer()).put(`/admin/providers/${provider}`).set(admin).send(body);
  const credentials = { clientId: client.clientId, clientSecret: client.clientSecret };

  beforeAll(async () => {
    as = await AuthorizationServer.start([client]);
    testApp = await createRefreshApp(refreshEnv());
  });

  beforeEach(() => truncateAll(testApp.dataSource));

  afterAll(async () => {
    await testApp?.close();
    await as?.stop();
  });

  it('stores and shows every flow setting, with the defaults where none is given', async () => {
    const defaults = await put('plain', { ...credentials, tokenUrl: 'https://oauth.example/token' });
    expect(defaults.status).toBe(200);
    expect(defaults.body).toMatchObject({
      authorizationUrl: null,
      issuer: null,
      issuerSendsIss: false,
      userinfoUrl: null,
      scopeSeparator: ' ',
      authorizationParams: null,
      pkce: 'S256',
      tokenRequestFormat: 'form',
    });
    const google = await put('google_drive', {
      ...credentials,
      tokenUrl: 'https://oauth2.googleapis.com/token',
      authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
      issuer: 'https://accounts.google.com',
      userinfoUrl: 'https://openidconnect.googleapis.com/v1/userinfo',
      scope: 'openid email https://www.googleapis.com/auth/drive.readonly',
      scopeSeparator: ',',
      authorizationParams: { access_type: 'offline', prompt: 'consent' },
      pkce: 'none',
      tokenRequestFormat: 'json',
    });
    expect(google.status).toBe(200);
    const read = await request(testApp.app.getHttpServer()).get('/admin/providers/google_drive').set(admin);
    expect(read.body).toMatchObject({
      authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
      issuer: 'https://accounts.google.com',
      issuerSendsIss: false,
      scopeSeparator: ',',
      authorizationParams: { access_type: 'offline', prompt: 'consent' },
      pkce: 'none',
      tokenRequestFormat: 'json',
    });
  });

  it.each([
    [{ authorizationUrl: 'http://accounts.example/auth' }, 'authorizationUrl'],
    [{ userinfoUrl: 'ftp://127.0.0.1/userinfo' }, 'userinfoUrl'],
    [{ issuer: 'https://issuer.example?x=1' }, 'issuer'],
    [{ pkce: 'plain' }, 'pkce'],
    [{ tokenRequestFormat: 'xml' }, 'tokenRequestFormat'],
    [{ scopeSeparator: ';' }, 'scopeSeparator'],
    [{ authorizationParams: { state: 'fixed' } }, 'authorizationParams'],
    [{ authorizationParams: { code_challenge_method: 'plain' } }, 'authorizationParams'],
    [{ authorizationParams: { prompt: 1 } }, 'authorizationParams'],
    [{ authorizationParams: ['access_type=offline'] }, 'authorizationParams'],
  ])('refuses %j, naming %s, and stores nothing', async (settings, field) => {
    const answer = await put('refused', {
      ...credentials,
      tokenUrl: 'https://oauth.example/token',
      ...settings,
    });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body.details ?? answer.body.message)).toContain(field);
    const [{ count }] = await testApp.dataSource.query(`SELECT count(*)::int AS count FROM provider_clients`);
    expect(count).toBe(0);
  });

  it('requires tokenUrl when no issuer is given', async () => {
    const answer = await put('no_endpoint', credentials);
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toContain('tokenUrl');
  });

  it('fills the endpoints from the issuer’s metadata and records that it sends iss', async () => {
    const answer = await put('oidc', { ...credentials, issuer: as.issuer });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      issuer: as.issuer,
      issuerSendsIss: true,
      authorizationUrl: `${as.issuer}/auth`,
      tokenUrl: `${as.issuer}/token`,
      revocationUrl: `${as.issuer}/token/revocation`,
      userinfoUrl: `${as.issuer}/me`,
    });
    const typed = await put('oidc', {
      ...credentials,
      issuer: as.issuer,
      userinfoUrl: 'https://me.example/',
    });
    expect(typed.body).toMatchObject({ userinfoUrl: 'https://me.example/', tokenUrl: `${as.issuer}/token` });
  });

  it('refuses metadata whose issuer differs from the configured one, and an issuer with none', async () => {
    const other = await put('oidc', {
      ...credentials,
      issuer: `${as.issuer.replace('127.0.0.1', 'localhost')}`,
    });
    expect(other.status).toBe(400);
    expect(other.body.error).toBe('PROVIDER_METADATA_INVALID');
    const none = await put('oidc', { ...credentials, issuer: `${as.issuer}/nothing-here` });
    expect(none.status).toBe(400);
    expect(none.body.error).toBe('PROVIDER_METADATA_INVALID');
    const [{ count }] = await testApp.dataSource.query(`SELECT count(*)::int AS count FROM provider_clients`);
    expect(count).toBe(0);
  });

  it('answers 502 when the issuer cannot be reached', async () => {
    const unreachable = await put('oidc', { ...credentials, issuer: 'http://127.0.0.1:9/' });
    expect(unreachable.status).toBe(502);
    expect(unreachable.body.error).toBe('PROVIDER_METADATA_UNAVAILABLE');
  });
});
