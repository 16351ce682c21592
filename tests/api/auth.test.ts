/** PRODUCT §6: AUTH_MODE=api-key, per-user visibility; AUTH_MODE=none is the admin `anonymous`. */
import pino from 'pino';
import { Writable } from 'node:stream';
import request from 'supertest';
import { buildApp } from '../../src/app';
import { createAuthenticator } from '../../src/http/auth';
import { createMetrics } from '../../src/http/metrics';
import { MemoryIdempotencyStore } from '../../src/store/memory';
import { startTestService, type ExecutionBody, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';

const ALICE = { Authorization: 'Bearer key-alice-123' };
const BOB = { 'X-API-Key': 'key-bob-4567' };
const ROOT = { Authorization: 'Bearer key-admin-89' };

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({
    env: { AUTH_MODE: 'api-key', API_KEYS: 'key-alice-123:alice,key-bob-4567:bob,key-admin-89:root:admin' },
  });
});
afterAll(async () => {
  await svc.stop();
  await removeTempDirs();
});

const start = (headers: Record<string, string>, project = 'p') =>
  svc
    .http()
    .post('/api/v1/workflows/quick-summary/start')
    .set(headers)
    .send({ project_id: project, initial_context: { text: 'hello' } });

describe('api-key auth', () => {
  it('when no key or a wrong key is sent, then 401 UNAUTHENTICATED with WWW-Authenticate', async () => {
    const none = await svc.http().get('/api/v1/workflows').expect(401);
    expect(none.body.error_code).toBe('UNAUTHENTICATED');
    expect(none.headers['www-authenticate']).toBe('Bearer');
    await svc.http().get('/api/v1/workflows').set('Authorization', 'Bearer nope-nope-nope').expect(401);
    await svc.http().get('/api/v1/workflows').set('X-API-Key', 'key-alice-12').expect(401);
    await svc.http().get('/api/v1/workflows').set('Authorization', 'Basic a2V5LWFsaWNlLTEyMw==').expect(401);
  });

  it('when a public endpoint is asked without a key, then it answers', async () => {
    for (const p of ['/healthz', '/readyz', '/metrics', '/openapi.yaml', '/asyncapi.yaml'])
      await svc.http().get(p).expect(200);
  });

  it("when a user asks for another user's execution, then 404 (never 403), for every operation", async () => {
    const id = (await start(ALICE).expect(202)).body.execution_id as string;
    expect((await svc.http().get(`/api/v1/executions/${id}`).set(ALICE).expect(200)).body.created_by).toBe('alice');
    for (const req of [
      svc.http().get(`/api/v1/executions/${id}`),
      svc.http().get(`/api/v1/executions/${id}/events`),
      svc.http().post(`/api/v1/executions/${id}/cancel`),
      svc.http().post(`/api/v1/executions/${id}/resume`),
      svc.http().post(`/api/v1/executions/${id}/acceptance`).send({ accepted: true }),
      svc.http().post(`/api/v1/executions/${id}/clarification`).send({ answers: {} }),
    ]) {
      const res = await req.set(BOB);
      expect([res.status, res.body.error_code]).toEqual([404, 'EXECUTION_NOT_FOUND']);
    }
    await svc.http().get(`/api/v1/executions/${id}`).set(ROOT).expect(200);
  });

  it('when users list executions, then each sees only their own and the admin sees all', async () => {
    await start(ALICE, 'a2').expect(202);
    await start(BOB, 'b1').expect(202);
    const list = async (h: Record<string, string>) =>
      ((await svc.http().get('/api/v1/executions?limit=100').set(h).expect(200)).body.items as ExecutionBody[]).map(
        (e) => e.created_by as string,
      );
    expect(new Set(await list(ALICE))).toEqual(new Set(['alice']));
    expect(new Set(await list(BOB))).toEqual(new Set(['bob']));
    expect(new Set(await list(ROOT))).toEqual(new Set(['alice', 'bob']));
  });
});

describe('AUTH_MODE=none', () => {
  it('when no credentials are sent, then the caller is the admin anonymous', async () => {
    const open = await startTestService();
    try {
      const res = await open
        .http()
        .post('/api/v1/workflows/quick-summary/start')
        .send({ project_id: 'p', initial_context: { text: 't' } })
        .expect(202);
      expect(res.body.created_by).toBe('anonymous');
    } finally {
      await open.stop();
    }
  });
});

describe('request logs', () => {
  it('when a request carries an API key, then its log line has the request id and not the key', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }),
    );
    const app = buildApp({
      engine: svc.service.engine,
      idempotencyStore: new MemoryIdempotencyStore(),
      authenticate: createAuthenticator('api-key', [{ key: 'key-secret-0001', user: 'carol', admin: false }]),
      metrics: createMetrics({
        countByStatus: async () => svc.service.engine.countByStatus(),
        breakerOpen: () => false,
      }),
      logger,
      bodyLimit: '1mb',
    });
    await request(app)
      .get('/api/v1/workflows')
      .set('Authorization', 'Bearer key-secret-0001')
      .set('X-Request-ID', 'log-1')
      .expect(200);
    await request(app)
      .get('/api/v1/workflows')
      .set('X-API-Key', 'key-secret-0001')
      .set('X-Request-ID', 'log-2')
      .expect(200);
    const text = lines.join('');
    expect(text).toContain('"id":"log-1"');
    expect(text).toContain('"id":"log-2"');
    expect(text).not.toContain('key-secret-0001');
  });
});
