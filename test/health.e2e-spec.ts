import request from 'supertest';
import { createTestApp, type TestApp } from './create-app';

describe('health and platform', () => {
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await createTestApp();
  });

  afterAll(async () => {
    await testApp.close();
  });

  it('answers liveness without authentication', async () => {
    const response = await request(testApp.app.getHttpServer()).get('/health').expect(200);
    expect(response.body).toEqual({ status: 'ok' });
  });

  it('reports ready when the database answers', async () => {
    const response = await request(testApp.app.getHttpServer()).get('/health/ready').expect(200);
    expect(response.body.status).toBe('ok');
    expect(response.body.info.database.status).toBe('up');
  });

  it('echoes a plain caller request id and replaces an unsafe one', async () => {
    const server = testApp.app.getHttpServer();
    const kept = await request(server).get('/health').set('X-Request-Id', 'trace-123').expect(200);
    expect(kept.headers['x-request-id']).toBe('trace-123');
    const replaced = await request(server)
      .get('/health')
      .set('X-Request-Id', 'bad id\u00e9<script>')
      .expect(200);
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sets security headers', async () => {
    const response = await request(testApp.app.getHttpServer()).get('/health').expect(200);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-powered-by']).toBeUndefined();
  });

  it('serves the OpenAPI document generated from the controllers', async () => {
    const response = await request(testApp.app.getHttpServer()).get('/docs/openapi.json').expect(200);
    expect(Object.keys(response.body.paths)).toEqual(
      expect.arrayContaining([
        '/users/{userId}/accounts',
        '/users/{userId}/accounts/{id}/tokens',
        '/admin/keys',
        '/admin/rotations/{id}/cancel',
        '/health/ready',
      ]),
    );
    await request(testApp.app.getHttpServer()).get('/docs').expect(200);
  });

  it('answers an unknown route with a 404 in the common error shape', async () => {
    const response = await request(testApp.app.getHttpServer()).get('/nope').expect(404);
    expect(response.body).toMatchObject({ statusCode: 404, error: 'NOT_FOUND' });
    expect(typeof response.body.requestId).toBe('string');
  });
});
