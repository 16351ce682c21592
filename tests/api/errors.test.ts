/**
 * Day 5 error handling (test_validation_error_response, test_not_found_response,
 * test_internal_error_response) and every error the validator or body parser raises: all are
 * ErrorResponse bodies with the request id.
 */
import pino from 'pino';
import { Writable } from 'node:stream';
import request from 'supertest';
import { buildApp } from '../../src/app';
import type { WorkflowEngine } from '../../src/engine/api';
import { ERROR_CATALOG } from '../../src/domain/errors';
import { createAuthenticator } from '../../src/http/auth';
import { createMetrics } from '../../src/http/metrics';
import { MemoryIdempotencyStore } from '../../src/store/memory';
import { componentValidator, createSpecAjv, loadOpenApi } from '../support/openapi';
import { startTestService, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';

const ajv = createSpecAjv();
const isErrorResponse = componentValidator(ajv, 'ErrorResponse');
function expectErrorResponse(body: unknown, code: string, requestId?: string): void {
  expect(isErrorResponse(body) ? 'valid' : ajv.errorsText(isErrorResponse.errors)).toBe('valid');
  expect((body as { error_code: string }).error_code).toBe(code);
  if (requestId) expect((body as { request_id: string }).request_id).toBe(requestId);
}

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { BODY_LIMIT: '2kb' } });
});
afterAll(async () => {
  await svc.stop();
  await removeTempDirs();
});

describe('error responses', () => {
  it('test_validation_error_response: when a body fails the schema, then 400 VALIDATION_ERROR with the path of each problem', async () => {
    const res = await svc
      .http()
      .post('/api/v1/workflows/quick-summary/start')
      .set('X-Request-ID', 'abc-1')
      .send({ project_id: 42 })
      .expect(400);
    expectErrorResponse(res.body, 'VALIDATION_ERROR', 'abc-1');
    expect(res.body.details.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: '/body/project_id' })]),
    );
  });

  it('test_not_found_response: when the route does not exist, then 404 ROUTE_NOT_FOUND', async () => {
    const res = await svc.http().get('/api/v1/nowhere').expect(404);
    expectErrorResponse(res.body, 'ROUTE_NOT_FOUND');
    expect(res.headers['x-request-id']).toBe(res.body.request_id);
  });

  it('test_internal_error_response: when a handler fails unexpectedly, then 500 INTERNAL_ERROR without the internal message, and the stack is logged', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'error' },
      new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }),
    );
    const broken = new Proxy({} as WorkflowEngine, {
      get: () => () => {
        throw new Error('disk /var/secret/db exploded');
      },
    });
    const app = buildApp({
      engine: broken,
      idempotencyStore: new MemoryIdempotencyStore(),
      authenticate: createAuthenticator('none', []),
      metrics: createMetrics({ countByStatus: async () => ({}) as never, breakerOpen: () => false }),
      logger,
      bodyLimit: '1mb',
      validateResponses: true,
    });
    const res = await request(app).get('/api/v1/workflows').set('X-Request-ID', 'r-500').expect(500);
    expect(res.body).toEqual({ error_code: 'INTERNAL_ERROR', message: 'Internal server error', request_id: 'r-500' });
    expect(JSON.stringify(res.body)).not.toContain('secret');
    const logged = lines.join('');
    expect(logged).toContain('disk /var/secret/db exploded');
    expect(logged).toContain('"id":"r-500"');
    expect(logged).toMatch(/at .*\(/); // the stack
  });

  it('when the JSON is malformed, then 400 VALIDATION_ERROR', async () => {
    const res = await svc
      .http()
      .post('/api/v1/workflows/quick-summary/start')
      .set('Content-Type', 'application/json')
      .send('{"project_id": ')
      .expect(400);
    expectErrorResponse(res.body, 'VALIDATION_ERROR');
    expect(res.body.message).toMatch(/Malformed JSON/);
  });

  it('when the body is larger than BODY_LIMIT, then 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await svc
      .http()
      .post('/api/v1/workflows/quick-summary/start')
      .send({ project_id: 'p', initial_context: { text: 'x'.repeat(5000) } })
      .expect(413);
    expectErrorResponse(res.body, 'PAYLOAD_TOO_LARGE');
  });

  it('when the body is not JSON, then 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const res = await svc
      .http()
      .post('/api/v1/workflows/quick-summary/start')
      .set('Content-Type', 'text/plain')
      .send('project_id=p')
      .expect(415);
    expectErrorResponse(res.body, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('when a known path is asked with a wrong method, then 405 METHOD_NOT_ALLOWED with Allow', async () => {
    const res = await svc.http().delete('/api/v1/workflows').expect(405);
    expectErrorResponse(res.body, 'METHOD_NOT_ALLOWED');
    expect(res.headers.allow).toMatch(/GET/);
  });

  it('when an unknown query parameter is sent, then 400 naming it', async () => {
    const res = await svc.http().get('/api/v1/executions?stauts=running').expect(400);
    expectErrorResponse(res.body, 'VALIDATION_ERROR');
    expect(JSON.stringify(res.body.details)).toContain('stauts');
  });

  it('when X-Request-ID is sane it is echoed, otherwise a fresh UUID is used', async () => {
    const sane = await svc.http().get('/healthz').set('X-Request-ID', 'trace.42:a-b_c').expect(200);
    expect(sane.headers['x-request-id']).toBe('trace.42:a-b_c');
    const insane = await svc.http().get('/healthz').set('X-Request-ID', 'bad id <script>').expect(200);
    expect(insane.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('the error catalog and the spec agree on every error code', () => {
    const spec = loadOpenApi() as {
      components: { schemas: { ErrorResponse: { properties: { error_code: { enum: string[] } } } } };
    };
    expect(Object.keys(ERROR_CATALOG).sort()).toEqual(
      [...spec.components.schemas.ErrorResponse.properties.error_code.enum].sort(),
    );
  });
});
