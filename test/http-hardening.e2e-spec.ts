import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { createTestApp, truncateAll, type TestApp, type TestEnv } from './create-app';
import { OutputCapture } from './support/output-capture';
import { randomSecret } from './support/safety-fixtures';
import { bearer, newApiToken } from './support/auth';
import { heldFor } from './support/sockets';
import { describeIfEmbedded } from './support/fixtures';

const SERVICE_TOKEN = newApiToken('service');
const ADMIN_TOKEN = newApiToken('admin');
const KEY = randomBytes(32).toString('base64');
const service = bearer(SERVICE_TOKEN);
const admin = bearer(ADMIN_TOKEN);
const BASE_ENV: TestEnv = {
  CONNECTORS_API_TOKEN: SERVICE_TOKEN,
  ADMIN_API_TOKEN: ADMIN_TOKEN,
  WORKFLOWS_ARTIFACT_ENC_KEY: KEY,
  ROTATION_WORKER_ENABLED: 'false',
};

function portOf(app: TestApp): number {
  const address = app.app.getHttpServer().address();
  if (address === null || typeof address === 'string') throw new Error('the server is not listening');
  return address.port;
}

// The HTTP surface does not depend on the database behind it: the embedded pass runs it.
describeIfEmbedded('HTTP surface hardening', () => {
  let app: TestApp;
  const http = () => request(app.app.getHttpServer());

  async function linkAccount(userId = 7): Promise<{ id: number; accessToken: string }> {
    const accessToken = randomSecret('ya29.');
    const created = await http()
      .post(`/users/${userId}/accounts`)
      .set(service)
      .send({
        provider: 'google_drive',
        tokens: { access_token: accessToken, refresh_token: randomSecret('1//') },
      })
      .expect(201);
    return { id: created.body.id, accessToken };
  }

  beforeAll(async () => {
    app = await createTestApp({
      ...BASE_ENV,
      HTTP_HEADERS_TIMEOUT_SECONDS: '1',
      HTTP_REQUEST_TIMEOUT_SECONDS: '2',
    });
    await app.app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());
  beforeEach(() => truncateAll(app.dataSource));

  describe('compressed or damaged request bodies', () => {
    const bodies: [string, string, Buffer][] = [
      ['br', 'br', Buffer.from('not brotli at all')],
      ['deflate', 'deflate', Buffer.from('not deflate either')],
      ['truncated gzip', 'gzip', gzipSync(Buffer.from('{"access_token":"x"}')).subarray(0, 12)],
      ['valid gzip', 'gzip', gzipSync(Buffer.from('{"access_token":"x"}'))],
      ['an unknown coding', 'compress', Buffer.from('{}')],
    ];

    it.each(bodies)(
      'answers %s with 415 and a request id, on every route, without an error log line',
      async (_name, coding, body) => {
        const capture = new OutputCapture();
        capture.start();
        let responses: request.Response[];
        try {
          responses = [
            await http()
              .post('/health')
              .set('Content-Type', 'application/json')
              .set('Content-Encoding', coding)
              .send(body),
            await http()
              .put('/users/7/accounts/1/tokens')
              .set(service)
              .set('Content-Type', 'application/json')
              .set('Content-Encoding', coding)
              .send(body),
          ];
        } finally {
          capture.stop();
        }
        for (const response of responses) {
          expect(response.status).toBe(415);
          expect(response.body).toMatchObject({
            error: 'UNSUPPORTED_ENCODING',
            requestId: response.headers['x-request-id'],
          });
        }
        expect(capture.text()).not.toMatch(/"level":50/);
      },
    );
  });

  it('sends token sets with no ETag and Cache-Control: no-store, and never answers 304', async () => {
    const { id, accessToken } = await linkAccount();
    const tokens = await http().get(`/users/7/accounts/${id}/tokens`).set(service).expect(200);
    expect(tokens.body.access_token).toBe(accessToken);
    expect(tokens.headers.etag).toBeUndefined();
    expect(tokens.headers['cache-control']).toBe('no-store');
    const again = await http()
      .get(`/users/7/accounts/${id}/tokens`)
      .set(service)
      .set('If-None-Match', '*')
      .expect(200);
    expect(again.body.access_token).toBe(accessToken);
    for (const path of ['/users/7/accounts', `/users/7/accounts/${id}`, '/health', '/admin/keys']) {
      const response = await http()
        .get(path)
        .set(path.startsWith('/admin') ? admin : service);
      expect(response.headers['cache-control']).toBe('no-store');
    }
    // The account's own ETag is its version, never a hash of what it holds.
    const one = await http().get(`/users/7/accounts/${id}`).set(service).expect(200);
    expect(one.headers.etag).toBe('"1"');
  });

  it('routes case-sensitively: /ADMIN/KEYS is no route, and audits by route template', async () => {
    await http().get('/ADMIN/KEYS').set(admin).expect(404);
    await http().get('/Users/7/accounts').set(service).expect(404);
    await http().get('/admin/rotations/4242').set(admin).expect(404);
    const audit = await http().get('/admin/audit').set(admin).expect(200);
    const actions = audit.body.events.map((event: { action: string }) => event.action);
    expect(actions).toContain('GET /admin/rotations/:id');
    expect(actions.some((action: string) => /ADMIN|masked/.test(action))).toBe(false);
  });

  it('closes a socket whose headers never finish, after HTTP_HEADERS_TIMEOUT_SECONDS', async () => {
    const held = await heldFor(portOf(app), 'GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    // One second of headers timeout, checked every second: well under the 79 s seen before.
    expect(held).toBeLessThan(5_000);
  });

  it('accepts If-Match: * as any current version (RFC 9110), and still 404s a missing account', async () => {
    const { id } = await linkAccount();
    const updated = await http()
      .put(`/users/7/accounts/${id}/tokens`)
      .set(service)
      .set('If-Match', '*')
      .send({ access_token: randomSecret('ya29.') })
      .expect(200);
    expect(updated.body.version).toBe(2);
    await http()
      .put(`/users/7/accounts/999999/tokens`)
      .set(service)
      .set('If-Match', '*')
      .send({ access_token: 'x' })
      .expect(404);
  });

  it.each([
    [
      'POST providerMetadata',
      (id: number) => ({
        method: 'post',
        path: '/users/7/accounts',
        body: `{"provider":"notion","providerMetadata":{"__proto__":{"admin":true}},"tokens":{"access_token":"a${id}"}}`,
      }),
    ],
    [
      'POST nested providerMetadata',
      () => ({
        method: 'post',
        path: '/users/7/accounts',
        body: '{"provider":"notion","providerMetadata":{"team":{"constructor":{"x":1}}},"tokens":{"access_token":"a"}}',
      }),
    ],
    [
      'POST token set',
      () => ({
        method: 'post',
        path: '/users/7/accounts',
        body: '{"provider":"notion","tokens":{"access_token":"a","__proto__":{"admin":true}}}',
      }),
    ],
    [
      'PUT token set',
      (id: number) => ({
        method: 'put',
        path: `/users/7/accounts/${id}/tokens`,
        body: '{"access_token":"a","__proto__":{"admin":true}}',
      }),
    ],
    [
      'PUT nested extra field',
      (id: number) => ({
        method: 'put',
        path: `/users/7/accounts/${id}/tokens`,
        body: '{"access_token":"a","workspace":{"prototype":1}}',
      }),
    ],
  ])('refuses __proto__, constructor and prototype keys the same way in %s', async (_name, build) => {
    const { id } = await linkAccount();
    const { method, path, body } = build(id);
    const call = method === 'post' ? http().post(path) : http().put(path);
    const response = await call.set(service).set('Content-Type', 'application/json').send(body).expect(400);
    expect(JSON.stringify(response.body.details)).toMatch(/__proto__, constructor or prototype/);
    const [{ count }] = await app.dataSource.query(`SELECT count(*)::int AS count FROM external_accounts`);
    expect(count).toBe(1);
  });
});

describeIfEmbedded('connection cap', () => {
  it('refuses connections past HTTP_MAX_CONNECTIONS while the others stay served', async () => {
    const app = await createTestApp({ ...BASE_ENV, HTTP_MAX_CONNECTIONS: '2' });
    const open: Socket[] = [];
    try {
      await app.app.listen(0, '127.0.0.1');
      const port = portOf(app);
      for (let i = 0; i < 2; i += 1) {
        open.push(
          await new Promise<Socket>((resolve) => {
            const socket = connect(port, '127.0.0.1', () => resolve(socket));
          }),
        );
      }
      // The third socket is closed by the server before it can send a request.
      const held = await heldFor(port, 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
      expect(held).toBeLessThan(5_000);
      const answer = await new Promise<string>((resolve) => {
        let text = '';
        open[0].on('data', (chunk) => {
          text += chunk.toString();
          if (text.includes('\r\n\r\n')) resolve(text);
        });
        open[0].write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
      });
      expect(answer.startsWith('HTTP/1.1 200')).toBe(true);
    } finally {
      for (const socket of open) socket.destroy();
      await app.close();
    }
  });
});

describeIfEmbedded('API documentation', () => {
  it.each([
    ['production', { NODE_ENV: 'production' }, 404],
    ['production with API_DOCS_ENABLED=true', { NODE_ENV: 'production', API_DOCS_ENABLED: 'true' }, 200],
    ['outside production', {}, 200],
    ['outside production with API_DOCS_ENABLED=false', { API_DOCS_ENABLED: 'false' }, 404],
  ])('in %s answers /docs/openapi.json with %s', async (_name, env, status) => {
    const app = await createTestApp({ ...BASE_ENV, ...env });
    try {
      for (const path of ['/docs', '/docs/openapi.json', '/docs-yaml']) {
        expect((await request(app.app.getHttpServer()).get(path).redirects(1)).status).toBe(status);
      }
    } finally {
      await app.close();
    }
  });

  it('serves the documentation page with every asset, with or without a trailing slash', async () => {
    const app = await createTestApp(BASE_ENV);
    const http = () => request(app.app.getHttpServer());
    try {
      for (const address of ['/docs', '/docs/', '/docs/index.html', '/docs/?tab=1', '/docs?tab=1']) {
        let answer = await http().get(address);
        if (answer.status === 301) answer = await http().get(answer.headers.location);
        expect([address, answer.status]).toEqual([address, 200]);
        const page = answer.request.url.replace(/^http:\/\/[^/]+/, '');
        const html = answer.text;
        const assets = [...html.matchAll(/\b(?:src|href)=["']([^"'#][^"']*)["']/g)].map((match) => match[1]);
        expect(assets.length).toBeGreaterThan(2);
        for (const asset of assets) {
          const url = new URL(asset, `http://localhost${page}`);
          const answer = await http().get(url.pathname);
          expect([page, url.pathname, answer.status]).toEqual([page, url.pathname, 200]);
        }
      }
    } finally {
      await app.close();
    }
  });

  it('describes the bearer tokens as opaque secrets, not JWTs, and POST /admin/keys as 201', async () => {
    const app = await createTestApp(BASE_ENV);
    try {
      const document = (await request(app.app.getHttpServer()).get('/docs/openapi.json').expect(200)).body;
      const schemes = Object.values(document.components.securitySchemes) as { bearerFormat?: string }[];
      expect(schemes.length).toBe(2);
      for (const scheme of schemes) expect(JSON.stringify(scheme)).not.toMatch(/JWT/i);
      expect(Object.keys(document.paths['/admin/keys'].post.responses)).toEqual(['201']);
    } finally {
      await app.close();
    }
  });
});
