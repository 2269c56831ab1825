import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { ExternalAccountsRepository } from '../src/connectors/external-accounts.repository';
import { RefreshAheadWorker } from '../src/connectors/refresh/refresh-ahead.worker';
import { TokenStorage } from '../src/connectors/token-storage';
import { ADDRESS_LOOKUP, type AddressLookup } from '../src/providers/endpoint-url';
import { truncateAll, type TestApp } from './create-app';
import { newKey } from './support/rotation-fixtures';
import {
  admin,
  createExpiredAccount,
  createRefreshApp,
  refreshEnv,
  service,
} from './support/refresh-fixtures';

type Answer = (response: ServerResponse) => void;

const json =
  (status: number, body: unknown): Answer =>
  (response) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

/** A token endpoint that answers as the test says: the shapes real providers send. */
class TokenEndpoint {
  answer: Answer = json(200, { access_token: 'at' });
  requests = 0;
  private server!: Server;

  async start(): Promise<string> {
    this.server = createServer((incoming, response) => {
      incoming.resume();
      incoming.on('end', () => {
        this.requests += 1;
        this.answer(response);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/token`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const STORED_REFRESH = 'rt-stored-grant';

/**
 * What names under .localhost resolve to: the one thing outside the service these cases cannot
 * make real (a test does not write the machine's hosts file); any other name does not resolve.
 */
const resolver = new Map<string, string[]>();
const lookup: AddressLookup = async (hostname) => {
  const addresses = resolver.get(hostname);
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND`), { code: 'ENOTFOUND' });
  return addresses;
};

describe('token endpoints as real providers answer them', () => {
  const endpoint = new TokenEndpoint();
  let tokenUrl: string;
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    tokenUrl = await endpoint.start();
    testApp = await createRefreshApp(
      refreshEnv(newKey(), { REFRESH_AHEAD_POLL_SECONDS: '3600' }),
      (builder) => builder.overrideProvider(ADDRESS_LOOKUP).useValue(lookup),
    );
    await truncateAll(testApp.dataSource);
    await http()
      .put('/admin/providers/salesforce')
      .set(admin)
      .send({ tokenUrl, clientId: 'client', clientSecret: 'secret', clientAuth: 'client_secret_post' })
      .expect(200);
  });

  afterAll(async () => {
    await testApp?.close();
    await endpoint.stop();
  });

  /** The token set the row holds, opened as the service opens it. */
  async function storedTokens(id: number) {
    const row = await testApp.app.get(ExternalAccountsRepository).findRefreshRow(7, id);
    return testApp.app.get(TokenStorage).open(row!);
  }

  async function refreshWith(answer: Answer) {
    endpoint.answer = answer;
    const { id } = await createExpiredAccount(testApp, 7, 'salesforce', STORED_REFRESH);
    const before = await storedTokens(id);
    const response = await http().get(`/users/7/accounts/${id}/tokens?minValidity=60`).set(service);
    const view = await http().get(`/users/7/accounts/${id}`).set(service);
    return {
      id,
      before,
      response,
      status: (view.body as { status: string }).status,
      stored: await storedTokens(id),
    };
  }

  it('reads whole numbers sent as strings, any case of Bearer or none, and a form-encoded body', async () => {
    const now = Math.floor(Date.now() / 1000);
    const strings = await refreshWith(
      json(200, { access_token: 'at-1', expires_in: '3599', token_type: 'bearer' }),
    );
    expect(strings.response.status).toBe(200);
    expect(strings.stored).toMatchObject({ access_token: 'at-1', expires_in: 3599, token_type: 'Bearer' });
    expect(strings.stored.expires_at).toBeGreaterThanOrEqual(now + 3599);

    const absent = await refreshWith(json(200, { access_token: 'at-2', expires_in: 3600 }));
    expect(absent.stored).toMatchObject({ access_token: 'at-2', token_type: 'Bearer' });

    const form = await refreshWith((response) => {
      response.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
      response.end(
        'access_token=at%2F3&expires_in=60&scope=repo+user&token_type=bearer&refresh_token=rt-new',
      );
    });
    expect(form.response.status).toBe(200);
    expect(form.stored).toMatchObject({
      access_token: 'at/3',
      expires_in: 60,
      scope: 'repo user',
      refresh_token: 'rt-new',
    });
  });

  it('keeps the stored refresh token when the provider sends it null, absent or empty', async () => {
    for (const refresh_token of [null, undefined, '']) {
      const result = await refreshWith(json(200, { access_token: 'at', expires_in: 3600, refresh_token }));
      expect(result.response.status).toBe(200);
      expect(result.stored.refresh_token).toBe(STORED_REFRESH);
      expect(result.stored.access_token).toBe('at');
    }
  });

  it('keeps the members a provider adds with the tokens, sealed with them', async () => {
    const extras = {
      instance_url: 'https://eu12.my.salesforce.com',
      workspace_id: 'w-1',
      api_domain: 'api.example',
    };
    const result = await refreshWith(json(200, { access_token: 'at', expires_in: 3600, ...extras }));
    expect(result.response.status).toBe(200);
    expect(result.stored).toMatchObject(extras);
    expect(result.response.body).toMatchObject(extras);
    const [row] = await testApp.dataSource.query('SELECT access_token FROM external_accounts WHERE id = $1', [
      result.id,
    ]);
    expect(String(row.access_token)).not.toContain('eu12');
  });

  it('takes an error member in a 2xx body, or a 2xx without an access token, as an error', async () => {
    const grant = await refreshWith(json(200, { error: 'invalid_grant' }));
    expect(grant.response.status).toBe(409);
    expect(grant.status).toBe('needs_reauth');

    const missing = await refreshWith(json(200, { token_type: 'Bearer', expires_in: 3600 }));
    expect(missing.response.status).toBe(502);
    expect(missing.response.body).toMatchObject({ error: 'PROVIDER_REFUSED' });
    expect(missing.stored).toEqual(missing.before);
    expect(missing.status).toBe('active');
  });

  it('refuses as invalid_response reserved keys, deep nesting and control characters in tokens', async () => {
    const deep = `{"access_token":"at","extra":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const answers = [
      json(200, '{"access_token":"at","__proto__":{"polluted":true}}'),
      json(200, '{"access_token":"at","meta":{"constructor":{"prototype":{}}}}'),
      json(200, deep),
      json(200, { access_token: 'at\r\nSet-Cookie: x=1' }),
      json(200, { access_token: 'at', refresh_token: 'rt\n' }),
      json(200, { access_token: 'at', token_type: 'Bearer\u0000' }),
    ];
    for (const answer of answers) {
      const result = await refreshWith(answer);
      expect(result.response.status).toBe(502);
      expect(result.response.body).toMatchObject({ error: 'PROVIDER_REFUSED' });
      expect(JSON.stringify(result.response.body)).toContain('invalid_response');
      expect(result.stored).toEqual(result.before);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('answers 502 PROVIDER_MISCONFIGURED for invalid_client and unauthorized_client, keeps the account active, counts it', async () => {
    for (const answer of [
      json(401, { error: 'invalid_client' }),
      json(200, { error: 'unauthorized_client' }),
    ]) {
      const result = await refreshWith(answer);
      expect(result.response.status).toBe(502);
      expect(result.response.body).toMatchObject({ error: 'PROVIDER_MISCONFIGURED' });
      expect(result.status).toBe('active');
      expect(result.stored).toEqual(result.before);
    }
    const metrics = await http().get('/metrics').set(admin);
    expect(metrics.text).toMatch(
      /^connectors_provider_misconfigured_total\{provider="salesforce",error="invalid_client"\} 1$/m,
    );
    expect(metrics.text).toMatch(
      /^connectors_provider_misconfigured_total\{provider="salesforce",error="unauthorized_client"\} 1$/m,
    );
  });

  it('backs refresh-ahead off a provider that refuses the client instead of retrying every account', async () => {
    endpoint.answer = json(400, { error: 'invalid_client' });
    for (let index = 0; index < 3; index += 1)
      await createExpiredAccount(testApp, 9, 'salesforce', STORED_REFRESH);
    const before = endpoint.requests;
    const worker = testApp.app.get(RefreshAheadWorker);
    const run = await worker.runOnce();
    expect(endpoint.requests).toBe(before + 1);
    expect(run).toMatchObject({ refreshed: 0, failed: { PROVIDER_MISCONFIGURED: 1 } });
    expect(run!.deferred).toBeGreaterThanOrEqual(2);
    await worker.runOnce();
    expect(endpoint.requests).toBe(before + 1);
  });

  it('stores provider URLs as parsed, and takes names under .localhost for what they are', async () => {
    const put = (url: string) =>
      http()
        .put('/admin/providers/numeric')
        .set(admin)
        .send({ tokenUrl: url, clientId: 'client', clientSecret: 'secret' });
    const stored = await put('http://2130706433/x');
    expect(stored.status).toBe(200);
    expect(stored.body).toMatchObject({ tokenUrl: 'http://127.0.0.1/x' });
    expect((await put('http://api.localhost/token')).status).toBe(400);
  });

  it('takes plain http to a name under .localhost while it resolves to loopback alone, checked again on every request', async () => {
    const named = `http://idp.localhost:${new URL(tokenUrl).port}/token`;
    const put = () =>
      http()
        .put('/admin/providers/devidp')
        .set(admin)
        .send({ tokenUrl: named, clientId: 'client', clientSecret: 'secret' });
    resolver.set('idp.localhost', ['10.1.2.3']);
    expect((await put()).body).toMatchObject({
      statusCode: 400,
      message: expect.stringContaining('tokenUrl'),
    });
    resolver.set('idp.localhost', ['127.0.0.1', '::1']);
    expect((await put()).body).toMatchObject({ tokenUrl: named });
    const { id } = await createExpiredAccount(testApp, 7, 'devidp', STORED_REFRESH);
    endpoint.answer = json(200, { access_token: 'at-through-the-name' });
    const refreshed = await http().post(`/users/7/accounts/${id}/tokens/refresh`).set(service);
    expect(refreshed.body).toMatchObject({ access_token: 'at-through-the-name' });

    // The name now also resolves outside the host: nothing is sent there, the tokens stay.
    resolver.set('idp.localhost', ['127.0.0.1', '198.51.100.4']);
    const before = endpoint.requests;
    const moved = await http().post(`/users/7/accounts/${id}/tokens/refresh`).set(service);

    expect([moved.status, moved.body.error]).toEqual([502, 'PROVIDER_UNAVAILABLE']);
    expect(moved.body.message).toContain('ENDPOINT_NOT_LOOPBACK');
    expect(endpoint.requests).toBe(before);
    expect(await storedTokens(id)).toMatchObject({ access_token: 'at-through-the-name' });
    resolver.delete('idp.localhost');
  });

  describe('bounded bodies', () => {
    const MB = 1024 * 1024;

    /** Resident memory after a collection, when the test runs with --expose-gc. */
    function rss(): number {
      (global as { gc?: () => void }).gc?.();
      return process.memoryUsage().rss;
    }

    async function growthOf(answer: Answer): Promise<number> {
      const start = rss();
      let peak = start;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      const result = await refreshWith(answer);
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
      expect(result.response.status).toBe(502);
      expect(result.stored).toEqual(result.before);
      return peak - start;
    }

    /** 100 MB sent as fast as the client reads it, with no length declared. */
    const hundredMegabytes: Answer = (response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(MB, 0x20);
      let sent = 0;
      const write = () => {
        while (sent < 100 && !response.destroyed) {
          sent += 1;
          if (!response.write(sent === 1 ? Buffer.from(`{"access_token":"${'a'.repeat(MB)}`) : chunk)) {
            response.once('drain', write);
            return;
          }
        }
        response.end();
      };
      response.on('error', () => undefined);
      write();
    };

    it('stops reading a 100 MB body at the limit, declared or not', async () => {
      expect(await growthOf(hundredMegabytes)).toBeLessThan(64 * MB);
      expect(
        await growthOf((response) => {
          response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(100 * MB) });
          response.write('{"access_token":"');
          response.on('error', () => undefined);
        }),
      ).toBeLessThan(64 * MB);
    });

    it('stops inflating a gzip bomb at the limit, four at once too', async () => {
      const bomb = gzipSync(Buffer.concat([Buffer.from('{"access_token":"'), Buffer.alloc(400 * MB, 0x61)]), {
        level: 9,
      });
      const answer: Answer = (response) => {
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        response.on('error', () => undefined);
        response.end(bomb);
      };
      expect(await growthOf(answer)).toBeLessThan(64 * MB);
      const start = rss();
      endpoint.answer = answer;
      const accounts = await Promise.all(
        [0, 1, 2, 3].map(() => createExpiredAccount(testApp, 7, 'salesforce', STORED_REFRESH)),
      );
      let peak = start;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      const answers = await Promise.all(
        accounts.map(({ id }) => http().get(`/users/7/accounts/${id}/tokens?minValidity=60`).set(service)),
      );
      clearInterval(sampler);
      expect(answers.map((answer) => answer.status)).toEqual([502, 502, 502, 502]);
      expect(peak - start).toBeLessThan(64 * MB);
    });
  });
});
