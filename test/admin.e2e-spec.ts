import { randomBytes } from 'node:crypto';
import { GUARDS_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import request from 'supertest';
import { AdminGuard } from '../src/admin/admin.guard';
import { AdminAuditService } from '../src/audit/admin-audit.service';
import { fingerprintOf } from '../src/common/bearer-token';
import { KeyRing } from '../src/crypto/key-ring';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { poll } from './support/fixtures';
import { routesOf, type Route } from './support/routes';
import { bearer, newApiToken } from './support/auth';

const ADMIN_TOKEN = newApiToken('admin');
const SERVICE_TOKEN = newApiToken('service');
const KEY = randomBytes(32).toString('base64');
const OLD_KEY = randomBytes(32).toString('base64');

type Call = [method: 'get' | 'post', path: string, body?: object];
/** Each route with the one status the admin token gets on an empty database, and its template. */
const ROUTES: [...Call, adminStatus: number, template: string][] = [
  ['get', '/admin/keys', undefined, 200, '/admin/keys'],
  ['get', '/admin/rotations', undefined, 200, '/admin/rotations'],
  ['post', '/admin/rotations', { dryRun: true }, 202, '/admin/rotations'],
  ['get', '/admin/rotations/999999', undefined, 404, '/admin/rotations/:id'],
  ['post', '/admin/rotations/999999/cancel', undefined, 404, '/admin/rotations/:id/cancel'],
  ['get', '/admin/audit', undefined, 200, '/admin/audit'],
];
const CREDENTIALS: [name: string, header: string | undefined, status: number][] = [
  ['no token', undefined, 401],
  ['a wrong token', `Bearer ${randomBytes(24).toString('base64url')}`, 403],
  ['the connectors token', `Bearer ${SERVICE_TOKEN}`, 403],
];

describe('admin API', () => {
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());
  const admin = bearer(ADMIN_TOKEN);

  function send([method, path, body]: Call, header?: string) {
    const call =
      method === 'get'
        ? http().get(path)
        : http()
            .post(path)
            .send(body ?? {});
    return header ? call.set('Authorization', header) : call;
  }

  beforeAll(async () => {
    testApp = await createTestApp({
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: KEY,
      WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: OLD_KEY,
      ROTATION_WORKER_ENABLED: 'false',
    });
  });
  afterAll(() => testApp.close());
  beforeEach(() => truncateAll(testApp.dataSource));

  describe.each(ROUTES)('%s %s', (method, path, body, adminStatus, template) => {
    it.each(CREDENTIALS)('refuses %s and audits the attempt', async (_name, header, status) => {
      const response = await send([method, path, body], header).expect(status);
      const sentToken = header?.slice('Bearer '.length);
      if (sentToken) {
        expect(`${JSON.stringify(response.headers)}${response.text}`).not.toContain(sentToken);
      }
      const audit = await http().get('/admin/audit').set(admin).expect(200);
      const event = audit.body.events.find(
        (entry: { action: string }) => entry.action === `${method.toUpperCase()} ${template}`,
      );
      expect(event).toMatchObject({
        statusCode: status,
        outcome: status === 401 ? 'unauthorized' : 'forbidden',
        count: 1,
        clientAddress: expect.stringMatching(/127\.0\.0\.1|::1/),
      });
      expect(event.requestId).toBe(response.headers['x-request-id']);
      if (sentToken) expect(JSON.stringify(audit.body)).not.toContain(sentToken);
    });

    it(`lets the admin token through with ${adminStatus} and records who asked`, async () => {
      const response = await send([method, path, body], `Bearer ${ADMIN_TOKEN}`).expect(adminStatus);
      expect(`${JSON.stringify(response.headers)}${response.text}`).not.toContain(ADMIN_TOKEN);
      const audit = await http().get('/admin/audit').set(admin).expect(200);
      const event = audit.body.events.find(
        (entry: { action: string }) => entry.action === `${method.toUpperCase()} ${template}`,
      );
      expect(event.actor).toBe(fingerprintOf(ADMIN_TOKEN));
      expect(event.statusCode).toBe(response.status);
    });
  });

  it('shows the inventory by key id without decrypting', async () => {
    const kid = KeyRing.fromSettings({ primary: KEY }).primaryKeyId;
    const oldKid = KeyRing.fromSettings({ primary: OLD_KEY }).primaryKeyId;
    await testApp.dataSource.query(
      `INSERT INTO external_accounts (user_id, provider, access_token)
       SELECT 1, 'notion', '{"_enc":"aesgcm:v3","kid":"' || kid || '","nonce":"x"}' FROM unnest(ARRAY[$1, $2, $2]) AS kid
       UNION ALL SELECT 1, 'notion', 'plain'`,
      [kid, oldKid],
    );
    const response = await http().get('/admin/keys').set(admin).expect(200);
    expect(JSON.stringify(response.body)).toContain(oldKid);
    const old = response.body.keys.find((key: { keyId: string }) => key.keyId === oldKid);
    expect(old).toMatchObject({ role: 'previous', accounts: 2 });
    expect(response.body.warnings).toEqual([
      '1 accounts are stored in plaintext although a key is configured: run a rotation to seal them, then set CONNECTORS_REQUIRE_TOKEN_ENCRYPTION=true',
    ]);
  });

  it('starts one rotation at a time, shows it and cancels it', async () => {
    const started = await http().post('/admin/rotations').set(admin).send({ batchSize: 50 }).expect(202);
    expect(started.body).toMatchObject({ status: 'pending', batchSize: 50, dryRun: false });
    expect(started.body.requestedBy).toBe(`admin:${fingerprintOf(ADMIN_TOKEN)}`);
    const conflict = await http().post('/admin/rotations').set(admin).send({}).expect(409);
    expect(conflict.body.error).toBe('ROTATION_ALREADY_ACTIVE');
    const one = await http().get(`/admin/rotations/${started.body.id}`).set(admin).expect(200);
    expect(one.body.id).toBe(started.body.id);
    const listed = await http().get('/admin/rotations').set(admin).expect(200);
    expect(listed.body.map((job: { id: number }) => job.id)).toContain(started.body.id);
    const cancelled = await http().post(`/admin/rotations/${started.body.id}/cancel`).set(admin).expect(200);
    expect(cancelled.body.status).toBe('cancelled');
    const again = await http().post(`/admin/rotations/${started.body.id}/cancel`).set(admin).expect(409);
    expect(again.body.error).toBe('ROTATION_NOT_CANCELLABLE');
  });

  it('lists the audit trail newest first by time, a window of refusals where it began, across pages', async () => {
    const refused = await http().get('/admin/keys').expect(401);
    const refusedAt = Date.now();
    await poll(async () => (Date.now() > refusedAt + 5 ? true : undefined), 1000, 1);
    const allowed = await http().get('/admin/keys').set(admin).expect(200);
    await testApp.app.get(AdminAuditService).flush();
    const events: { occurredAt: string; requestId: string }[] = [];
    let cursor = '';
    do {
      const page = await http().get(`/admin/audit?limit=1${cursor}`).set(admin).expect(200);
      events.push(...page.body.events);
      cursor = page.body.nextCursor ? `&cursor=${page.body.nextCursor}` : '';
    } while (cursor);
    const ids = events.map((event) => event.requestId);
    // The window row is written after the allowed request's row, but its refusal came first.
    expect(ids.indexOf(allowed.headers['x-request-id'])).toBeLessThan(
      ids.indexOf(refused.headers['x-request-id']),
    );
    const times = events.map((event) => event.occurredAt);
    expect(times).toEqual([...times].sort().reverse());
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each([
    ['action=%00', 'action'],
    ['action=GET%20%2Fadmin%2Fkeys%0A', 'action'],
    ['since=2009-W01-1', 'since'],
    ['since=2009-123', 'since'],
    ['since=20200101T000000Z', 'since'],
    ['since=2021-02-30', 'since'],
  ])('answers the audit query %s with 400 naming %s, not 500', async (query, field) => {
    const response = await http().get(`/admin/audit?${query}`).set(admin).expect(400);
    expect(JSON.stringify(response.body)).toContain(field);
  });

  it.each(['2009-01-05', '2009-01-05T00:00:00Z', '2009-01-05T01:00+01:00', '2009-01-05T00:00:00.123456Z'])(
    'accepts the audit query since=%s',
    async (since) => {
      await http()
        .get(`/admin/audit?since=${encodeURIComponent(since)}`)
        .set(admin)
        .expect(200);
    },
  );

  it.each([{ batchSize: 0 }, { batchSize: 10001 }, { batchSize: 'many' }, { dryRun: 'yes' }, { extra: 1 }])(
    'rejects the start body %j with 400',
    async (body) => {
      await http().post('/admin/rotations').set(admin).send(body).expect(400);
    },
  );
});

/** A value for each route parameter: ids and names that do not exist. */
const PARAMETERS: Record<string, string> = {
  id: '999999',
  kid: 'ffffffffffffffff',
  provider: 'google_drive',
};

describe('every admin route, listed from the controllers', () => {
  let testApp: TestApp;
  const admin = bearer(ADMIN_TOKEN);
  let routes: Route[];

  beforeAll(async () => {
    testApp = await createTestApp({
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: KEY,
      ROTATION_WORKER_ENABLED: 'false',
      // Three refusals of every route from one address: more than the default budget allows.
      ADMIN_FAILED_AUTH_LIMIT_PER_MINUTE: '1000',
    });
    await truncateAll(testApp.dataSource);
    routes = routesOf(testApp.app).filter(({ path }) => /^\/(?:admin|metrics)(?:\/|$)/.test(path));
  });
  afterAll(() => testApp.close());

  it('finds every route of a controller behind the admin guard under /admin or /metrics', () => {
    const guarded = new Set(
      routesOf(testApp.app)
        .filter(({ controller }) => adminGuarded(testApp, controller))
        .map(({ method, path }) => `${method} ${path}`),
    );
    expect(routes.map(({ method, path }) => `${method} ${path}`).sort()).toEqual([...guarded].sort());
    expect(routes.length).toBeGreaterThanOrEqual(15);
  });

  it.each(CREDENTIALS)(
    'refuses %s on every one of them, echoing nothing, and audits each',
    async (_name, header, status) => {
      const answers: { route: string; status: number; echoed: boolean }[] = [];
      for (const { method, path } of routes) {
        const url = path.replace(/:([a-zA-Z]+)/g, (_match, name: string) => PARAMETERS[name] ?? 'x');
        let call = request(testApp.app.getHttpServer())[method](url);
        if (header) call = call.set('Authorization', header);
        if (method !== 'get' && method !== 'delete') call = call.send({});
        const response = await call;
        const sentToken = header?.slice('Bearer '.length);
        const echoed = sentToken
          ? `${JSON.stringify(response.headers)}${response.text}`.includes(sentToken)
          : false;
        answers.push({ route: `${method} ${path}`, status: response.status, echoed });
      }
      expect(answers).toEqual(
        routes.map(({ method, path }) => ({ route: `${method} ${path}`, status, echoed: false })),
      );

      await testApp.app.get(AdminAuditService).flush();
      const audit = await request(testApp.app.getHttpServer())
        .get('/admin/audit?limit=500')
        .set(admin)
        .expect(200);
      const refused = new Set(
        (audit.body.events as { action: string; statusCode: number }[])
          .filter((event) => event.statusCode === status)
          .map((event) => event.action),
      );
      // Scrapes are not audited (one every few seconds would drown the trail).
      const audited = routes.filter(({ path }) => path !== '/metrics');
      expect(audited.filter(({ method, path }) => !refused.has(`${method.toUpperCase()} ${path}`))).toEqual(
        [],
      );
    },
  );
});

/** True when the controller named `name` carries the admin guard. */
function adminGuarded(testApp: TestApp, name: string): boolean {
  for (const module of testApp.app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      if (wrapper.metatype?.name !== name) continue;
      const guards = (Reflect.getMetadata(GUARDS_METADATA, wrapper.metatype) ?? []) as unknown[];
      return guards.includes(AdminGuard);
    }
  }
  return false;
}

describe('admin API limits', () => {
  it('is closed when no admin token is configured', async () => {
    const testApp = await createTestApp({
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      ROTATION_WORKER_ENABLED: 'false',
    });
    try {
      await request(testApp.app.getHttpServer())
        .get('/admin/keys')
        .set('Authorization', `Bearer ${SERVICE_TOKEN}`)
        .expect(403);
      await request(testApp.app.getHttpServer()).get('/admin/keys').expect(401);
      const refused = await request(testApp.app.getHttpServer())
        .get('/admin/keys')
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .expect(403);
      // The caller learns nothing about the configuration: the answer of any wrong token.
      expect(refused.body.message).toBe('This token does not grant admin access');
    } finally {
      await testApp.close();
    }
  });

  it('rate limits admin requests and audits the refusals', async () => {
    const testApp = await createTestApp({
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      ADMIN_RATE_LIMIT_PER_MINUTE: '3',
      ROTATION_WORKER_ENABLED: 'false',
    });
    try {
      await truncateAll(testApp.dataSource);
      const statuses: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        statuses.push(
          (
            await request(testApp.app.getHttpServer())
              .get('/admin/keys')
              .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
          ).status,
        );
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      await testApp.app.get(AdminAuditService).flush();
      const rows = await testApp.dataSource.query(
        `SELECT count FROM admin_audit_events WHERE outcome = 'rate_limited'`,
      );
      // Refusals of one kind from one address in one window: one row with their count.
      expect(rows).toEqual([{ count: 2 }]);
    } finally {
      await testApp.close();
    }
  });
});
