import { EventEmitter2 } from '@nestjs/event-emitter';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { ACCOUNT_EVENTS, type AccountEvent } from '../src/connectors/account-events';
import { ExternalAccountsService } from '../src/connectors/external-accounts.service';
import { truncateAll, type TestApp } from './create-app';
import { AuthorizationServer, newClient, type OAuthClient } from './support/authorization-server';
import { newKey } from './support/rotation-fixtures';
import {
  admin,
  createExpiredAccount,
  createRefreshApp,
  refreshEnv,
  service,
} from './support/refresh-fixtures';

const basicClient = newClient('client_secret_basic');
const postClient = newClient('client_secret_post');

describe('disconnect revokes the grant at the provider (RFC 7009)', () => {
  let as: AuthorizationServer;
  let testApp: TestApp;
  const deleted: AccountEvent[] = [];
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    as = await AuthorizationServer.start([basicClient, postClient]);
    testApp = await createRefreshApp(refreshEnv(newKey()));
    testApp.app.get(EventEmitter2).on(ACCOUNT_EVENTS.deleted, (event: AccountEvent) => deleted.push(event));
  });

  beforeEach(async () => {
    await truncateAll(testApp.dataSource);
    deleted.length = 0;
  });

  afterAll(async () => {
    await testApp?.close();
    await as?.stop();
  });

  async function configure(client: OAuthClient, revocationUrl: string | undefined) {
    const answer = await http()
      .put('/admin/providers/google_drive')
      .set(admin)
      .send({
        tokenUrl: as.tokenUrl,
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        clientAuth: client.auth,
        ...(revocationUrl ? { revocationUrl } : {}),
      });
    expect(answer.status).toBe(200);
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
});
