import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuthTokenClient } from './oauth-token.client';
import type { ResolvedProviderClient } from './provider-clients.service';
import {
  ProviderInvalidGrantError,
  ProviderMisconfiguredError,
  ProviderRefusedError,
  ProviderUnavailableError,
} from './provider.errors';

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void;

describe('OAuthTokenClient', () => {
  let server: Server;
  let handler: Handler;
  let client: ResolvedProviderClient;
  const oauth = new OAuthTokenClient({ providerTimeoutMs: 300 } as never);

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => handler(request, body, response));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = {
      provider: 'notion',
      tokenUrl: `http://127.0.0.1:${port}/token`,
      clientId: 'id with space',
      clientSecret: 'se:cr%et',
      clientAuth: 'client_secret_basic',
      scope: null,
      tokenRequestFormat: 'form',
    };
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const answer = (status: number, body: string, headers: Record<string, string> = {}) => {
    handler = (_request, _body, response) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(body);
    };
  };

  it('sends the RFC 6749 §6 request with form-encoded Basic credentials', async () => {
    let seen: { authorization?: string; body: string } = { body: '' };
    handler = (request, body, response) => {
      seen = { authorization: request.headers.authorization, body };
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"access_token":"at","token_type":"Bearer"}');
    };
    await expect(oauth.refresh(client, 'rt/1+2')).resolves.toEqual({
      access_token: 'at',
      token_type: 'Bearer',
    });
    expect(Buffer.from(String(seen.authorization).slice(6), 'base64').toString()).toBe(
      'id+with+space:se%3Acr%25et',
    );
    expect(new URLSearchParams(seen.body).get('refresh_token')).toBe('rt/1+2');
    expect(new URLSearchParams(seen.body).get('grant_type')).toBe('refresh_token');
  });

  it('sends the client credentials in the body with client_secret_post', async () => {
    let body = '';
    handler = (_request, received, response) => {
      body = received;
      response.writeHead(200);
      response.end('{"access_token":"at"}');
    };
    await oauth.refresh({ ...client, clientAuth: 'client_secret_post', scope: 'a b' }, 'rt');
    expect(Object.fromEntries(new URLSearchParams(body))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'rt',
      scope: 'a b',
      client_id: 'id with space',
      client_secret: 'se:cr%et',
    });
  });

  it('tells invalid_grant apart from other OAuth errors, and passes on only a well-formed code', async () => {
    answer(400, '{"error":"invalid_grant","error_description":"refresh token rt-echoed"}');
    await expect(oauth.refresh(client, 'rt')).rejects.toBeInstanceOf(ProviderInvalidGrantError);
    answer(401, '{"error":"invalid_client"}');
    await expect(oauth.refresh(client, 'rt')).rejects.toMatchObject({ oauthError: 'invalid_client' });
    answer(400, '{"error":"<script>rt-echoed"}');
    await expect(oauth.refresh(client, 'rt')).rejects.toMatchObject({ oauthError: 'http_400' });
    answer(400, 'not json rt-echoed');
    const error = await oauth.refresh(client, 'rt').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProviderRefusedError);
    expect((error as Error).message).not.toContain('rt-echoed');
  });

  it('answers unavailable on 5xx and 429, with the provider’s Retry-After', async () => {
    answer(503, '{"error":"temporarily_unavailable"}');
    await expect(oauth.refresh(client, 'rt')).rejects.toMatchObject({
      reason: 'HTTP_503',
      retryAfterSeconds: 30,
    });
    answer(429, '{}', { 'retry-after': '120' });
    await expect(oauth.refresh(client, 'rt')).rejects.toMatchObject({
      reason: 'HTTP_429',
      retryAfterSeconds: 120,
    });
  });

  it('answers unavailable when the provider is too slow, and refused when a success has no access token', async () => {
    handler = () => undefined;
    await expect(oauth.refresh(client, 'rt')).rejects.toEqual(expect.any(ProviderUnavailableError));
    await expect(oauth.refresh(client, 'rt')).rejects.toMatchObject({ reason: 'TIMEOUT' });
    answer(200, '{"token_type":"Bearer"}');
    await expect(oauth.refresh(client, 'rt')).rejects.toMatchObject({ oauthError: 'invalid_response' });
  });

  it('sends a JSON body with the same fields when the client asks for tokenRequestFormat json', async () => {
    let seen: { type?: string; body: string } = { body: '' };
    handler = (request, body, response) => {
      seen = { type: request.headers['content-type'], body };
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"access_token":"at","token_type":"Bearer"}');
    };
    await oauth.refresh({ ...client, tokenRequestFormat: 'json', clientAuth: 'client_secret_post' }, 'rt');
    expect(seen.type).toBe('application/json');
    expect(JSON.parse(seen.body)).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'rt',
      client_id: 'id with space',
      client_secret: 'se:cr%et',
    });
  });

  it('exchanges a code with the redirect URI and the PKCE verifier (RFC 6749 §4.1.3, RFC 7636 §4.5)', async () => {
    let body = '';
    handler = (_request, received, response) => {
      body = received;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"access_token":"at","token_type":"Bearer","refresh_token":"rt"}');
    };
    const exchange = {
      code: 'c0de',
      redirectUri: 'https://svc.example/oauth/callback',
      codeVerifier: 'v'.repeat(43),
    };
    await expect(oauth.exchangeCode(client, exchange)).resolves.toMatchObject({ refresh_token: 'rt' });
    expect(Object.fromEntries(new URLSearchParams(body))).toEqual({
      grant_type: 'authorization_code',
      code: 'c0de',
      redirect_uri: 'https://svc.example/oauth/callback',
      code_verifier: 'v'.repeat(43),
    });
  });

  it('names a refused code exchange by its OAuth error code only', async () => {
    answer(400, '{"error":"invalid_grant","error_description":"PKCE verification failed <script>"}');
    const exchange = { code: 'c', redirectUri: 'https://svc.example/oauth/callback' };
    await expect(oauth.exchangeCode(client, exchange)).rejects.toBeInstanceOf(ProviderInvalidGrantError);
    answer(401, '{"error":"invalid_client","error_description":"<b>no</b>"}');
    const refused = await oauth.exchangeCode(client, exchange).catch((error: Error) => error);
    expect(refused).toBeInstanceOf(ProviderMisconfiguredError);
    expect((refused as Error).message).toBe(
      "Provider notion refused this service's client in the code exchange (invalid_client); its client configuration must be fixed",
    );
    answer(200, '{"error":"slow_down","access_token":"at"}');
    const inBody = await oauth.exchangeCode(client, exchange).catch((error: Error) => error);
    expect(inBody).toBeInstanceOf(ProviderRefusedError);
    expect((inBody as ProviderRefusedError).oauthError).toBe('slow_down');
  });
  it('sends to a name under .localhost only while it resolves to loopback alone, checked on every request', async () => {
    let addresses = ['127.0.0.1'];
    const resolving = new OAuthTokenClient(
      { providerTimeoutMs: 300 } as never,
      undefined,
      async () => addresses,
    );
    const port = new URL(client.tokenUrl).port;
    const named = { ...client, tokenUrl: `http://idp.localhost:${port}/token` };
    let requests = 0;
    handler = (_request, _body, response) => {
      requests += 1;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"access_token":"at"}');
    };
    await expect(resolving.refresh(named, 'rt')).resolves.toMatchObject({ access_token: 'at' });

    addresses = ['127.0.0.1', '203.0.113.9'];
    const moved = await resolving.refresh(named, 'rt').catch((error: Error) => error);
    expect(moved).toBeInstanceOf(ProviderUnavailableError);
    expect((moved as ProviderUnavailableError).reason).toBe('ENDPOINT_NOT_LOOPBACK');
    expect(requests).toBe(1);
  });
});
