import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { AdminAuditService } from '../src/audit/admin-audit.service';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { AuthorizationServer, newClient } from './support/authorization-server';
import { ensureBuilt } from './support/built-server';
import { poll } from './support/fixtures';
import { OutputCapture } from './support/output-capture';
import { cliEnv, runCli } from './support/rotation-cli';
import { newKey } from './support/rotation-fixtures';
import { randomTokens } from './support/safety-fixtures';
import { ResponseLog } from './support/safety-http';
import { SecretRegistry, storedOutsideSealedColumns } from './support/safety-secrets';
import { bearer, newApiToken } from './support/auth';

const key = newKey();
const SERVICE_TOKEN = newApiToken('service');
const ADMIN_TOKEN = newApiToken('admin');
const client = newClient('client_secret_post');
const settings = {
  LOG_LEVEL: 'trace',
  CONNECTORS_API_TOKEN: SERVICE_TOKEN,
  ADMIN_API_TOKEN: ADMIN_TOKEN,
  WORKFLOWS_ARTIFACT_ENC_KEY: key.key,
  PROVIDER_TIMEOUT_MS: '3000',
  REVOCATION_RETRY_SECONDS: '1',
  REVOCATION_POLL_SECONDS: '1',
  INCIDENT_REVOKE_PER_MINUTE: '60000',
};

/**
 * A revocation endpoint that echoes what it was sent (the token and the client secret) in its
 * body, as a hostile or careless provider might, with the status `statusFor` gives that body.
 */
function startEchoingProvider(statusFor: (body: string) => number): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      res.writeHead(statusFor(body), { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: 'unsupported_token_type', error_description: body, echo: body }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * Disconnects and grant incidents at LOG_LEVEL=trace: revoked by the local oidc-provider; refused,
 * left pending, retried by the worker and failed by a provider that echoes the request. The
 * refresh and access tokens sent in revocation requests and the client secret must appear in no
 * log line, answer, audit row or stored row outside the sealed columns, nor in the output of
 * `connectors incident:grants`.
 */
describe('no token sent in a revocation request in any output, at LOG_LEVEL=trace', () => {
  const capture = new OutputCapture();
  const secrets = new SecretRegistry();
  const responses = new ResponseLog();
  const auth = bearer(SERVICE_TOKEN);
  const admin = bearer(ADMIN_TOKEN);
  let as: AuthorizationServer;
  let echo: Server;
  /** The status the echoing provider answers, by the refresh token in the request; 503 unless set. */
  const echoStatus = new Map<string, number>();
  let testApp: TestApp | undefined;
  const http = () => request((testApp as TestApp).app.getHttpServer());

  beforeAll(async () => {
    secrets.addKey('key', key.key);
    secrets.add('service API token', SERVICE_TOKEN);
    secrets.add('admin API token', ADMIN_TOKEN);
    secrets.addClientCredentials('provider', client.clientId, client.clientSecret);
    as = await AuthorizationServer.start([client]);
    echo = await startEchoingProvider((body) => {
      const sent = new URLSearchParams(body).get('token') ?? '';
      return echoStatus.get(sent) ?? 503;
    });
    capture.start();
    testApp = await createTestApp(settings);
    await truncateAll(testApp.dataSource);
  });

  afterAll(async () => {
    capture.stop();
    await testApp?.close();
    await as?.stop();
    await new Promise((resolve) => echo?.close(resolve));
  });

  const echoUrl = () => `http://127.0.0.1:${(echo.address() as AddressInfo).port}/revoke`;

  async function provider(name: string, revocationUrl: string) {
    const answer = await http().put(`/admin/providers/${name}`).set(admin).send({
      tokenUrl: as.tokenUrl,
      revocationUrl,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      clientAuth: client.auth,
    });
    expect(responses.record(`provider ${name}`, answer).status).toBe(200);
  }

  async function account(name: string, refreshToken?: string) {
    const tokens = { ...randomTokens(), ...(refreshToken ? { refresh_token: refreshToken } : {}) };
    secrets.addTokens(name, tokens);
    const created = await http().post('/users/31/accounts').set(auth).send({ provider: name, tokens });
    expect(responses.record(`create ${name}`, created).status).toBe(201);
    return { id: (created.body as { id: number }).id, refreshToken: tokens.refresh_token };
  }

  const view = (id: number) => http().get(`/users/31/accounts/${id}`).set(auth);

  it('revokes at the oidc-provider', async () => {
    await provider('oidc', `${as.issuer}/token/revocation`);
    const { id } = await account('oidc', await as.mint(client));
    const deleted = await http().delete(`/users/31/accounts/${id}`).set(auth);
    expect(responses.record('revoked', deleted).body).toEqual({ id, revocation: 'revoked' });
  });

  it('is refused by a provider that echoes the request in its error', async () => {
    await provider('echo', echoUrl());
    const { id, refreshToken } = await account('echo');
    echoStatus.set(refreshToken, 400);
    const deleted = await http().delete(`/users/31/accounts/${id}`).set(auth);
    expect(responses.record('refused', deleted).body).toEqual({ id, revocation: 'refused' });
  });

  it('leaves accounts revoking against a provider that answers 503 with the request echoed; the worker retries them, then ends them refused and revoked', async () => {
    const refusedLater = await account('echo');
    const revokedLater = await account('echo');
    for (const { id } of [refusedLater, revokedLater]) {
      const pending = await http().delete(`/users/31/accounts/${id}`).set(auth);
      expect(responses.record('pending', pending).body).toEqual({ id, revocation: 'pending' });
    }
    await poll(async () => {
      const views = await Promise.all([view(refusedLater.id), view(revokedLater.id)]);
      return views.every((answer) => answer.body.revocation?.attempts >= 2) ? true : undefined;
    }, 20_000);
    const retried = await view(refusedLater.id);
    expect(responses.record('retried', retried).body).toMatchObject({
      status: 'revoking',
      revocation: { lastError: 'PROVIDER_UNAVAILABLE:HTTP_503' },
    });
    const served = await http().get(`/users/31/accounts/${refusedLater.id}/tokens`).set(auth);
    expect(responses.record('tokens of a revoking account', served).body.error).toBe('ACCOUNT_REVOKING');

    echoStatus.set(refusedLater.refreshToken, 400);
    echoStatus.set(revokedLater.refreshToken, 200);
    await poll(async () => {
      const views = await Promise.all([view(refusedLater.id), view(revokedLater.id)]);
      return views.every((answer) => answer.status === 404) ? true : undefined;
    }, 20_000);
  });

  it('runs incident:grants through the admin route: revoked at the oidc-provider, failed by the echoing one', async () => {
    for (let index = 0; index < 2; index += 1) await account('oidc', await as.mint(client));
    const revoked = await http().post('/admin/incidents/grants').set(admin).send({ provider: 'oidc' });
    expect(responses.record('incident revoked', revoked).body).toMatchObject({ revoked: 2, complete: true });

    const refused = await account('echo');
    echoStatus.set(refused.refreshToken, 400);
    const failed = await http().post('/admin/incidents/grants').set(admin).send({ provider: 'echo' });
    expect(responses.record('incident failed', failed).body).toMatchObject({
      failed: 1,
      failures: [{ accountId: refused.id, code: 'PROVIDER_REFUSED:unsupported_token_type' }],
    });
  });

  it('printed, answered and stored no token it sent for revocation', async () => {
    const app = testApp as TestApp;
    await app.app.get(AdminAuditService).flush();
    const persisted = await storedOutsideSealedColumns(app.dataSource);
    const output = capture.text();
    expect(output).toContain('request completed');
    expect(output).toContain('refused to revoke');
    expect(output).toContain('did not answer the revocation');
    expect(output).toContain('incident:grants');
    expect(persisted).toContain('revocation_refused:echo');
    expect(persisted).toContain('revocation_revoked:echo');
    expect(responses.count).toBeGreaterThan(15);
    const leaks = [
      ...secrets.find(output, 'server stdout and stderr'),
      ...responses.leaks(secrets),
      ...secrets.find(persisted, 'tables outside the sealed columns'),
    ];
    expect(leaks).toEqual([]);
  });

  it('connectors incident:grants prints no token it sent, at LOG_LEVEL=trace', async () => {
    ensureBuilt();
    await testApp?.close();
    testApp = undefined;
    const result = await runCli(['incident:grants', '--provider', 'echo'], cliEnv(settings), 'built');
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('PROVIDER_REFUSED:unsupported_token_type');
    expect(secrets.find(`${result.stdout}${result.stderr}`, 'incident:grants stdout and stderr')).toEqual([]);
  });
});
