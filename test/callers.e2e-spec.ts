import { GUARDS_METADATA } from '@nestjs/common/constants';
import request from 'supertest';
import { CALLER_SCOPES, type CallerScope } from '../src/callers/caller';
import { digestOf } from '../src/callers/caller-secrets';
import { CallerGuard } from '../src/callers/caller.guard';
import { SCOPE_METADATA } from '../src/callers/requires-scope.decorator';
import type { ClientsCommand } from '../src/cli/cli-args';
import { clientsCommand } from '../src/cli/clients.command';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { bearer, newApiToken } from './support/auth';
import { itIfPostgres, poll } from './support/fixtures';
import { routesOf, type Route } from './support/routes';
import { newKey } from './support/rotation-fixtures';

const ADMIN_TOKEN = newApiToken('admin');
const SERVICE_TOKEN = newApiToken('service');
const key = newKey();
const admin = bearer(ADMIN_TOKEN);
const builtIn = bearer(SERVICE_TOKEN);

/** The scope each service route is known to need; a route added later must declare one too. */
const KNOWN_SCOPES: Record<string, CallerScope> = {
  'post /users/:userId/accounts': 'accounts:write',
  'get /users/:userId/accounts': 'accounts:read',
  'get /users/:userId/accounts/:id': 'accounts:read',
  'get /users/:userId/accounts/:id/tokens': 'tokens:read',
  'post /users/:userId/accounts/:id/tokens/refresh': 'tokens:refresh',
  'put /users/:userId/accounts/:id/tokens': 'accounts:write',
  'delete /users/:userId/accounts/:id': 'accounts:write',
  'post /users/:userId/connect-sessions': 'connect',
  'get /users/:userId/connect-sessions/:id': 'connect',
};

type Headers = Record<string, string>;
type ServiceRoute = Route & { scope: CallerScope | undefined };

const tokens = (tag: string) => ({ access_token: `at-${tag}`, refresh_token: `rt-${tag}`, expires_in: 3600 });
const nameOf = (scope: CallerScope) => scope.replace(':', '-');

/** The routes of the controllers behind CallerGuard, each with the scope its decorators declare. */
function serviceRoutesOf(testApp: TestApp): ServiceRoute[] {
  return routesOf(testApp.app)
    .filter(({ type }) =>
      ((Reflect.getMetadata(GUARDS_METADATA, type) ?? []) as unknown[]).includes(CallerGuard),
    )
    .map((route) => {
      const handler = (route.type.prototype as Record<string, object>)[route.handler];
      const scope = (Reflect.getMetadata(SCOPE_METADATA, handler) ??
        Reflect.getMetadata(SCOPE_METADATA, route.type)) as CallerScope | undefined;
      return { ...route, scope };
    });
}

describe('registered callers', () => {
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());
  let serviceRoutes: ServiceRoute[];

  async function addCaller(name: string, scopes: readonly CallerScope[], providers?: string[]) {
    const added = await http()
      .post('/admin/clients')
      .set(admin)
      .send({ name, scopes, ...(providers ? { providers } : {}) })
      .expect(201);
    return added.body.secret as string;
  }

  async function createAccount(userId: number, provider: string): Promise<number> {
    const created = await http()
      .post(`/users/${userId}/accounts`)
      .set(builtIn)
      .send({ provider, tokens: tokens(`${provider}-${userId}`) })
      .expect(201);
    return created.body.id as number;
  }

  async function connectSession(userId: number, provider: string): Promise<string> {
    const created = await http()
      .post(`/users/${userId}/connect-sessions`)
      .set(builtIn)
      .send({ provider })
      .expect(201);
    return created.body.id as string;
  }

  /** A request to `route` for the account (or session) `id`, with a body its handler accepts. */
  function call(route: Route, userId: number, id: number | string, as: Headers, provider = 'alpha') {
    const path = route.path.replace(':userId', String(userId)).replace(':id', String(id));
    const sent = http()
      [route.method](`${path}${route.method === 'delete' ? '?revoke=false' : ''}`)
      .set(as);
    if (route.method !== 'post' && route.method !== 'put') return sent;
    if (path.endsWith('/tokens/refresh')) return sent.send({});
    if (path.endsWith('/tokens')) return sent.send(tokens('put'));
    if (path.endsWith('/connect-sessions')) return sent.send({ provider });
    return sent.send({ provider, tokens: tokens('new') });
  }

  async function cli(command: ClientsCommand) {
    let out = '';
    let err = '';
    const status = await clientsCommand(testApp.app, command, {
      out: { write: (text: string) => ((out += text), true) },
      err: { write: (text: string) => ((err += text), true) },
    });
    return { status, out, err };
  }

  beforeAll(async () => {
    testApp = await createTestApp({
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: key.key,
      ROTATION_WORKER_ENABLED: 'false',
      PUBLIC_BASE_URL: 'https://connectors.example',
    });
    await truncateAll(testApp.dataSource);
    for (const provider of ['alpha', 'beta']) {
      await http()
        .put(`/admin/providers/${provider}`)
        .set(admin)
        .send({
          // Nothing listens there: a refresh fails at once with PROVIDER_UNAVAILABLE.
          tokenUrl: 'http://127.0.0.1:9/token',
          authorizationUrl: 'https://oauth.example/authorize',
          clientId: 'client',
          clientSecret: `secret-of-${provider}`,
        })
        .expect(200);
    }
    serviceRoutes = serviceRoutesOf(testApp);
  });
  afterAll(() => testApp.close());

  it('finds every route under /users behind the caller guard, each declaring one scope', () => {
    const declared = Object.fromEntries(
      serviceRoutes.map(({ method, path, scope }) => [`${method} ${path}`, scope]),
    );
    expect(declared).toEqual(expect.objectContaining(KNOWN_SCOPES));
    expect(serviceRoutes.filter(({ scope }) => scope === undefined)).toEqual([]);
    const unguarded = routesOf(testApp.app).filter(
      (route) => route.path.startsWith('/users/') && !serviceRoutes.some((own) => own.path === route.path),
    );
    expect(unguarded).toEqual([]);
  });

  it('documents the caller routes, their answers and the scope errors in the OpenAPI document', async () => {
    const { body } = await http().get('/docs/openapi.json').expect(200);
    expect(Object.keys(body.paths)).toEqual(
      expect.arrayContaining([
        '/admin/clients',
        '/admin/clients/{name}/rotate',
        '/admin/clients/{name}/rotate/finish',
        '/admin/clients/{name}/disable',
        '/admin/audit/token-reads',
      ]),
    );
    expect(body.paths['/users/{userId}/accounts/{id}/tokens'].get.responses['403'].description).toContain(
      'tokens:read',
    );
    expect(body.components.schemas.CallerWithSecretView.required).toContain('secret');
  });

  it('enforces each scope on every service route, and records the refusals on token routes by caller', async () => {
    const callers = new Map<CallerScope, Headers>();
    for (const scope of CALLER_SCOPES) callers.set(scope, bearer(await addCaller(nameOf(scope), [scope])));
    const accountId = await createAccount(1, 'alpha');
    const sessionId = await connectSession(1, 'alpha');
    const answers: string[] = [];
    const expected: string[] = [];
    // Deletions last, so every other route still finds the account.
    const ordered = [...serviceRoutes].sort(
      (a, b) => Number(a.method === 'delete') - Number(b.method === 'delete'),
    );
    for (const route of ordered) {
      const id = route.path.includes('connect-sessions') ? sessionId : accountId;
      const label = `${route.method} ${route.path}`;
      for (const [scope, as] of callers) {
        const answer = await call(route, 1, id, as);
        const refused = answer.status === 403 && answer.body.error === 'CALLER_SCOPE_MISSING';
        answers.push(
          `${label} with ${scope}: ${refused ? 'refused' : [401, 403].includes(answer.status) ? answer.status : 'through'}`,
        );
        expected.push(`${label} with ${scope}: ${scope === route.scope ? 'through' : 'refused'}`);
      }
      const answer = await call(route, 1, id, builtIn);
      answers.push(
        `${label} with the built-in caller: ${[401, 403].includes(answer.status) ? answer.status : 'through'}`,
      );
      expected.push(`${label} with the built-in caller: through`);
    }
    expect(answers).toEqual(expected);

    const reads = await http()
      .get('/admin/audit/token-reads?outcome=refused&limit=1000')
      .set(admin)
      .expect(200);
    const refusals = (
      reads.body.reads as { caller: string; route: string; code: string; accountId: number }[]
    )
      .filter((read) => read.code === 'CALLER_SCOPE_MISSING')
      .map((read) => `${read.route} by ${read.caller} of ${read.accountId}`)
      .sort();
    const tokenRoutes = serviceRoutes.filter(
      ({ scope }) => scope === 'tokens:read' || scope === 'tokens:refresh',
    );
    expect(tokenRoutes).toHaveLength(2);
    expect(refusals).toEqual(
      tokenRoutes
        .flatMap((route) =>
          CALLER_SCOPES.filter((scope) => scope !== route.scope).map(
            (scope) => `${route.method.toUpperCase()} ${route.path} by ${nameOf(scope)} of ${accountId}`,
          ),
        )
        .sort(),
    );
  });

  it("keeps a caller limited to providers out of every other provider's account and session (404)", async () => {
    const limited = bearer(await addCaller('alpha-only', CALLER_SCOPES, ['alpha']));
    const own = await createAccount(2, 'alpha');
    const other = await createAccount(2, 'beta');
    const otherSession = await connectSession(2, 'beta');
    const before = await testApp.dataSource.query(
      `SELECT version, access_token FROM external_accounts WHERE id = $1`,
      [other],
    );

    const withId = serviceRoutes.filter(({ path }) => path.endsWith(':id') || path.includes(':id/'));
    expect(withId.length).toBeGreaterThanOrEqual(6);
    for (const route of withId) {
      const id = route.path.includes('connect-sessions') ? otherSession : other;
      const answer = await call(route, 2, id, limited);
      expect({
        route: `${route.method} ${route.path}`,
        status: answer.status,
        error: answer.body.error,
      }).toEqual({
        route: `${route.method} ${route.path}`,
        status: 404,
        error: route.path.includes('connect-sessions') ? 'CONNECT_SESSION_NOT_FOUND' : 'ACCOUNT_NOT_FOUND',
      });
    }
    expect(
      await testApp.dataSource.query(`SELECT version, access_token FROM external_accounts WHERE id = $1`, [
        other,
      ]),
    ).toEqual(before);

    const listed = await http().get('/users/2/accounts').set(limited).expect(200);
    expect(listed.body.map((account: { id: number }) => account.id)).toEqual([own]);
    await http().get(`/users/2/accounts/${own}/tokens`).set(limited).expect(200);
    const created = await call(
      { method: 'post', path: '/users/:userId/accounts' } as Route,
      2,
      0,
      limited,
      'beta',
    );
    expect([created.status, created.body.error]).toEqual([403, 'CALLER_PROVIDER_NOT_ALLOWED']);
    const session = await call(
      { method: 'post', path: '/users/:userId/connect-sessions' } as Route,
      2,
      0,
      limited,
      'beta',
    );
    expect([session.status, session.body.error]).toEqual([403, 'CALLER_PROVIDER_NOT_ALLOWED']);
    // A reconnect of the other provider's account is not found either, whatever provider it names.
    const reconnect = await http()
      .post('/users/2/connect-sessions')
      .set(limited)
      .send({ provider: 'alpha', accountId: other });
    expect([reconnect.status, reconnect.body.error]).toEqual([404, 'ACCOUNT_NOT_FOUND']);

    const reads = await http()
      .get(`/admin/audit/token-reads?caller=alpha-only&accountId=${other}`)
      .set(admin)
      .expect(200);
    expect(
      reads.body.reads
        .map((read: { route: string; outcome: string; code: string; provider: string }) => [
          read.route,
          read.outcome,
          read.code,
          read.provider,
        ])
        .sort(),
    ).toEqual([
      ['GET /users/:userId/accounts/:id/tokens', 'refused', 'CALLER_PROVIDER_NOT_ALLOWED', 'beta'],
      ['POST /users/:userId/accounts/:id/tokens/refresh', 'refused', 'CALLER_PROVIDER_NOT_ALLOWED', 'beta'],
    ]);
  });

  it('rotates a secret without a flag day: the old secret works throughout, until the rotation is finished', async () => {
    const accountId = await createAccount(3, 'alpha');
    const added = await cli({ name: 'clients:add', json: true, client: 'rotor', scopes: ['tokens:read'] });
    expect(added.status).toBe(0);
    const oldSecret = JSON.parse(added.out).secret as string;
    const read = (secret: string) => http().get(`/users/3/accounts/${accountId}/tokens`).set(bearer(secret));

    // A client keeps reading with the old secret the whole time.
    let finishing = false;
    let stop = false;
    const beforeFinish: number[] = [];
    const afterFinish: number[] = [];
    let finishedAt = Number.POSITIVE_INFINITY;
    const client = (async () => {
      while (!stop) {
        const sentAt = Date.now();
        const { status } = await read(oldSecret);
        if (!finishing) beforeFinish.push(status);
        else if (sentAt > finishedAt) afterFinish.push(status);
      }
    })();

    const rotated = await cli({ name: 'clients:rotate', json: false, client: 'rotor', finish: false });
    expect(rotated.status).toBe(0);
    const newSecret = /secret \(shown this once; store it now\): (\S+)/.exec(rotated.out)?.[1] as string;
    expect(newSecret).toMatch(/^ccs_/);
    await read(newSecret).expect(200);
    const again = await cli({ name: 'clients:rotate', json: false, client: 'rotor', finish: false });
    expect([again.status, again.err]).toEqual([
      4,
      expect.stringContaining('refused: CALLER_ROTATION_IN_PROGRESS'),
    ]);
    const listed = await http().get('/admin/clients/rotor').set(admin).expect(200);
    expect(listed.body.secrets).toEqual([
      expect.objectContaining({ prefix: oldSecret.slice(4, 12), expiresAt: expect.any(String) }),
      expect.objectContaining({ prefix: newSecret.slice(4, 12), expiresAt: null }),
    ]);
    await poll(async () => (beforeFinish.length >= 5 ? true : undefined));

    finishing = true;
    const finished = await cli({ name: 'clients:rotate', json: false, client: 'rotor', finish: true });
    finishedAt = Date.now();
    expect(finished.out).toContain(`only secret ${newSecret.slice(4, 12)} works`);
    await poll(async () => (afterFinish.length >= 3 ? true : undefined));
    stop = true;
    await client;

    expect(new Set(beforeFinish)).toEqual(new Set([200]));
    expect(new Set(afterFinish)).toEqual(new Set([401]));
    await read(newSecret).expect(200);
    const actions: { action: string; outcome: string }[] = await testApp.dataSource.query(
      `SELECT action, outcome FROM admin_audit_events WHERE action LIKE 'CLI clients:%' ORDER BY id`,
    );
    expect(actions).toEqual([
      { action: 'CLI clients:add rotor', outcome: 'allowed' },
      { action: 'CLI clients:rotate rotor', outcome: 'allowed' },
      { action: 'CLI clients:rotate rotor', outcome: 'rejected' },
      { action: 'CLI clients:rotate --finish rotor', outcome: 'allowed' },
    ]);
  });

  it('ends a replaced secret when its overlap ends, and refuses every secret of a disabled caller at once', async () => {
    const accountId = await createAccount(4, 'alpha');
    const first = await addCaller('overlap', ['tokens:read', 'accounts:read']);
    const rotated = await http().post('/admin/clients/overlap/rotate').set(admin).send({}).expect(200);
    const second = rotated.body.secret as string;
    const read = (secret: string) => http().get(`/users/4/accounts/${accountId}`).set(bearer(secret));
    await read(first).expect(200);
    // The overlap (CLIENT_SECRET_OVERLAP_HOURS) has passed for the first secret.
    await testApp.dataSource.query(
      `UPDATE service_client_secrets SET expires_at = now() - interval '1 second' WHERE prefix = $1`,
      [first.slice(4, 12)],
    );
    // Rotating again retires the ended secret, and this instance stops trusting what it verified.
    await http().post('/admin/clients/overlap/rotate').set(admin).send({}).expect(200);
    await read(first).expect(401);

    await read(second).expect(200);
    const disabled = await http().post('/admin/clients/overlap/disable').set(admin).send({}).expect(200);
    expect(disabled.body).toMatchObject({ name: 'overlap', disabledAt: expect.any(String), secrets: [] });
    const refused = await read(second).expect(401);
    expect(refused.body.error).toBe('UNAUTHORIZED');
    const again = await http().post('/admin/clients/overlap/rotate').set(admin).send({}).expect(409);
    expect(again.body.error).toBe('CALLER_DISABLED');
    await http().post('/admin/clients/overlap/disable').set(admin).send({}).expect(200);
    expect(
      (
        await testApp.dataSource.query(
          `SELECT count(*)::int AS n FROM service_client_secrets s JOIN service_clients c ON c.id = s.client_id WHERE c.name = 'overlap' AND s.digest IS NOT NULL`,
        )
      )[0].n,
    ).toBe(0);
  });

  itIfPostgres('applies a disable made on another instance within CLIENT_CACHE_SECONDS', async () => {
    const other = await createTestApp({ ADMIN_API_TOKEN: ADMIN_TOKEN, CLIENT_CACHE_SECONDS: '1' });
    try {
      const secret = await addCaller('cached', ['accounts:read']);
      const read = () => request(other.app.getHttpServer()).get('/users/6/accounts').set(bearer(secret));
      await read().expect(200);
      const disabledAt = Date.now();
      await http().post('/admin/clients/cached/disable').set(admin).send({}).expect(200);
      await poll(async () => ((await read()).status === 401 ? true : undefined), 5_000, 50);
      expect(Date.now() - disabledAt).toBeLessThan(1_000 + 1_000);
    } finally {
      await other.close();
    }
  });

  it('lists callers with their secrets by prefix and last use, never a secret or its digest', async () => {
    const secret = await addCaller('lister', ['accounts:read'], ['alpha', 'beta']);
    await http().get('/users/5/accounts').set(bearer(secret)).expect(200);
    const listed = await poll(async () => {
      const answer = await http().get('/admin/clients').set(admin).expect(200);
      const own = answer.body.find((caller: { name: string }) => caller.name === 'lister');
      return own?.lastUsedAt ? answer : undefined;
    });
    expect(listed.body.find((caller: { name: string }) => caller.name === 'lister')).toEqual({
      name: 'lister',
      scopes: ['accounts:read'],
      providers: ['alpha', 'beta'],
      createdAt: expect.any(String),
      createdBy: expect.stringMatching(/^admin:[0-9a-f]{16}$/),
      lastUsedAt: expect.any(String),
      disabledAt: null,
      disabledBy: null,
      secrets: [
        {
          prefix: secret.slice(4, 12),
          createdAt: expect.any(String),
          expiresAt: null,
          lastUsedAt: expect.any(String),
        },
      ],
    });
    const printed = await cli({ name: 'clients:list', json: false });
    expect(printed.out).toContain('lister: accounts:read; providers alpha, beta; secrets ');
    for (const text of [
      JSON.stringify(listed.body),
      printed.out,
      JSON.stringify(await testApp.dataSource.query(`SELECT * FROM service_clients`)),
    ]) {
      expect(text).not.toContain(secret.slice(13));
      expect(text).not.toContain(digestOf(secret));
    }
    const [{ action }] = await testApp.dataSource.query(
      `SELECT action FROM admin_audit_events WHERE action LIKE 'POST /admin/clients %' ORDER BY id DESC LIMIT 1`,
    );
    expect(action).toBe('POST /admin/clients lister');
  });

  it('refuses bad caller requests with 400 or 409 naming the field or the conflict', async () => {
    for (const body of [
      { name: 'Bad Name', scopes: ['accounts:read'] },
      { name: 'ok-name', scopes: [] },
      { name: 'ok-name', scopes: ['tokens:write'] },
      { name: 'ok-name', scopes: ['connect'], providers: [] },
      { name: 'ok-name', scopes: ['connect'], extra: true },
    ]) {
      await http().post('/admin/clients').set(admin).send(body).expect(400);
    }
    const reserved = await http()
      .post('/admin/clients')
      .set(admin)
      .send({ name: 'connectors-api-token', scopes: ['connect'] })
      .expect(400);
    expect(reserved.body.error).toBe('CALLER_NAME_REFUSED');
    await addCaller('twice', ['connect']);
    const twice = await http()
      .post('/admin/clients')
      .set(admin)
      .send({ name: 'twice', scopes: ['connect'] })
      .expect(409);
    expect(twice.body.error).toBe('CALLER_EXISTS');
    const missing = await http().post('/admin/clients/nobody/rotate').set(admin).send({}).expect(404);
    expect(missing.body.error).toBe('CALLER_NOT_FOUND');
  });
});
