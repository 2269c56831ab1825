import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { createTestApp, truncateAll, type TestApp } from './create-app';
import { findLeaks, OutputCapture } from './support/output-capture';
import { TcpProxy, throughProxy } from './support/tcp-proxy';
import { describeIfPostgres } from './support/fixtures';

const SERVICE_TOKEN = randomBytes(24).toString('base64url');
const KEY = randomBytes(32).toString('base64');

describeIfPostgres('database outage', () => {
  const target = new URL(process.env.E2E_DATABASE_URL ?? 'postgres://127.0.0.1:5432/x');
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  const capture = new OutputCapture();
  const auth = { Authorization: `Bearer ${SERVICE_TOKEN}` };
  const secrets = [KEY, SERVICE_TOKEN];
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    capture.start();
    const port = await proxy.start();
    testApp = await createTestApp({
      DATABASE_URL: throughProxy(process.env.E2E_DATABASE_URL as string, port),
      CONNECTORS_API_TOKEN: SERVICE_TOKEN,
      WORKFLOWS_ARTIFACT_ENC_KEY: KEY,
      ROTATION_WORKER_ENABLED: 'false',
      LOG_LEVEL: 'trace',
    });
    await truncateAll(testApp.dataSource);
  });

  afterAll(async () => {
    const output = capture.stop();
    await proxy.restore();
    await testApp.close();
    await proxy.cut();
    expect(findLeaks(output, secrets)).toEqual([]);
  });

  it('answers 503 during the outage, writes nothing half-way, and recovers', async () => {
    const tokens = {
      access_token: `ya29.${randomBytes(16).toString('hex')}`,
      refresh_token: `1//${randomBytes(16).toString('hex')}`,
    };
    secrets.push(tokens.access_token, tokens.refresh_token);
    const created = await http()
      .post('/users/5/accounts')
      .set(auth)
      .send({ provider: 'notion', tokens })
      .expect(201);
    const id = created.body.id;

    await proxy.cut();
    const newer = { access_token: `ya29.${randomBytes(16).toString('hex')}` };
    secrets.push(newer.access_token);
    for (const call of [
      http().get(`/users/5/accounts/${id}/tokens`).set(auth),
      http().put(`/users/5/accounts/${id}/tokens`).set(auth).send(newer),
      http().post('/users/5/accounts').set(auth).send({ provider: 'notion', tokens: newer }),
    ]) {
      const response = await call;
      expect(response.status).toBe(503);
      expect(response.body.error).toBe('DATABASE_UNAVAILABLE');
    }
    const ready = await http().get('/health/ready');
    expect(ready.status).toBe(503);

    await proxy.restore();
    let read = await http().get(`/users/5/accounts/${id}/tokens`).set(auth);
    for (let attempt = 0; attempt < 20 && read.status !== 200; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      read = await http().get(`/users/5/accounts/${id}/tokens`).set(auth);
    }
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject(tokens);
    const [{ count, version }] = await testApp.dataSource.query(
      `SELECT count(*)::int AS count, max(version) AS version FROM external_accounts`,
    );
    expect({ count, version }).toEqual({ count: 1, version: 1 });
  });
});
