import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { AuthorizationServer, newClient } from './support/authorization-server';
import { OutputCapture } from './support/output-capture';
import { newKey } from './support/rotation-fixtures';
import { randomSecret, randomTokens } from './support/safety-fixtures';
import { ResponseLog } from './support/safety-http';
import { SecretRegistry, storedOutsideSealedColumns } from './support/safety-secrets';

const key = newKey();
const SERVICE_TOKEN = randomSecret('svc_', 32);
const ADMIN_TOKEN = randomSecret('adm_', 32);
const client = newClient('client_secret_post');

/**
 * A revocation endpoint that answers every request with `status` and echoes what it was sent
 * (the refresh token and the client secret) in its body, as a hostile or careless provider might.
 */
function startEchoingProvider(status: () => number): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      res.writeHead(status(), { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: 'unsupported_token_type', error_description: body, echo: body }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * Disconnects at LOG_LEVEL=trace: revoked by the local oidc-provider, refused and failed by a
 * provider that echoes the request. The refresh and access tokens sent in revocation requests and
 * the client secret must appear in no log line, answer, or stored row outside the sealed columns.
 */
describe('no token sent in a revocation request in any output, at LOG_LEVEL=trace', () => {
  const capture = new OutputCapture();
  const secrets = new SecretRegistry();
  const responses = new ResponseLog();
  const auth = { Authorization: `Bearer ${SERVICE_TOKEN}` };
  const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
  let as: AuthorizationServer;
  let echo: Server;
  let echoStatus = 400;
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    secrets.addKey('key', key.key);
    secrets.add('service API token', SERVICE_TOKEN);
    secrets.add('admin API token', ADMIN_TOKEN);
    secrets.addClientCredentials('provider', client.clientId, client.clientSecret);
    as = await AuthorizationServer.start([client]);
    echo = await startEchoingProvider(() => echoStatus);
    capture.start();
    testApp = await createTestApp({
      LOG_LEVEL: 'trace',
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: key.key,
      PROVIDER_TIMEOUT_MS: '3000',
    });
    await truncateAll(testApp.dataSource);
  });

  afterAll(async () => {
    capture.stop();
    await testApp?.close();
    await as?.stop();
    await new Promise((resolve) => echo?.close(resolve));
  });

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
    return (created.body as { id: number }).id;
  }

  it('revokes at the oidc-provider', async () => {
    await provider('oidc', `${as.issuer}/token/revocation`);
    const id = await account('oidc', await as.mint(client));
    const deleted = await http().delete(`/users/31/accounts/${id}`).set(auth);
    expect(responses.record('revoked', deleted).body).toEqual({ id, revocation: 'revoked' });
  });

  it('is refused by a provider that echoes the request in its error', async () => {
    await provider('echo', `http://127.0.0.1:${(echo.address() as AddressInfo).port}/revoke`);
    echoStatus = 400;
    const id = await account('echo');
    const deleted = await http().delete(`/users/31/accounts/${id}`).set(auth);
    expect(responses.record('refused', deleted).body).toEqual({ id, revocation: 'refused' });
  });

  it('leaves the account revoking against a provider that answers 503 with the request echoed', async () => {
    echoStatus = 503;
    const id = await account('echo');
    const pending = await http().delete(`/users/31/accounts/${id}`).set(auth);
    expect(responses.record('provider unavailable', pending).body).toEqual({ id, revocation: 'pending' });
  });

  it('printed, answered and stored no token it sent for revocation', async () => {
    const persisted = await storedOutsideSealedColumns(testApp.dataSource);
    const output = capture.stop();
    expect(output).toContain('request completed');
    expect(output).toContain('refused to revoke');
    expect(responses.count).toBeGreaterThan(6);
    const leaks = [
      ...secrets.find(output, 'server stdout and stderr'),
      ...responses.leaks(secrets),
      ...secrets.find(persisted, 'tables outside the sealed columns'),
    ];
    expect(leaks).toEqual([]);
  });
});
