/**
 * The read fast lane (src/http/fast-lane.ts) answers exactly as the Express path would: same
 * status, headers, body and log line, for any GET thrown at it; and it hands everything it does
 * not serve to Express.
 */
import fc from 'fast-check';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { buildApp, buildRequestListener, type AppDeps } from '../../src/app';
import type { WorkflowEngine } from '../../src/engine/api';
import { createAuthenticator } from '../../src/http/auth';
import { fastLaneOperations } from '../../src/http/fast-lane';
import { createMetrics, type Metrics } from '../../src/http/metrics';
import { loadSpecs } from '../../src/http/spec';
import { MemoryIdempotencyStore } from '../../src/store/memory';
import { buildExecution } from '../support/factories';
import { startExecution } from '../support/flows';
import { startTestService, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';

const KEYS = 'key-alice-123:alice,key-bob-4567:bob,key-admin-89:root:admin';
const ALICE = 'key-alice-123';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET with exactly this path and these headers (no client normalisation). */
function get(base: string, path: string, headers: Record<string, string>): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path.startsWith('/') ? '' : '/'}${path}`, { method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function listen(listener: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

function counter(metricsText: string, outcome: string): number {
  const m = new RegExp(`^hitl_http_fast_lane_requests_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(metricsText);
  return m ? Number(m[1]) : 0;
}

/** What a response says, minus what differs between any two answers (Date, a fresh UUID). */
function comparable(r: Raw): unknown {
  const { date: _date, 'keep-alive': _ka, connection: _c, ...headers } = r.headers;
  const generated = typeof headers['x-request-id'] === 'string' && !headers['x-request-id'].startsWith('fl-');
  let body: unknown = r.body;
  try {
    body = JSON.parse(r.body);
  } catch {
    // not JSON: compared as text
  }
  if (generated) {
    headers['x-request-id'] = '<generated>';
    if (body && typeof body === 'object' && 'request_id' in body) body = { ...body, request_id: '<generated>' };
    // The ETag and length of an error body depend on the generated id.
    delete headers.etag;
    delete headers['content-length'];
  }
  return { status: r.status, headers, body };
}

describe('fast lane', () => {
  it('serves exactly the GET operations that qualify (no query or cookie parameters, JSON 200)', () => {
    expect(fastLaneOperations(loadSpecs().openapi).sort()).toEqual([
      'getExecution',
      'getHealth',
      'getReadiness',
      'getWorkflow',
      'listWorkflows',
    ]);
  });

  describe('against the Express path on the same engine', () => {
    let svc: TestService;
    let plain: { url: string; close: () => Promise<void> };
    let mine: string;
    let theirs: string;

    beforeAll(async () => {
      svc = await startTestService({
        env: { AUTH_MODE: 'api-key', API_KEYS: KEYS, CORS_ORIGINS: 'https://app.example' },
      });
      mine = await startExecution(svc, 'quick-summary', { text: 'Plants need water.' }, { 'X-API-Key': ALICE });
      theirs = await startExecution(svc, 'quick-summary', { text: 'Cats sleep.' }, { 'X-API-Key': 'key-bob-4567' });
      await svc.waitForStatus(mine, 'completed', { 'X-API-Key': ALICE });
      await svc.waitForStatus(theirs, 'completed', { 'X-API-Key': 'key-bob-4567' });
      plain = await listen(
        buildApp({
          engine: svc.service.engine,
          idempotencyStore: new MemoryIdempotencyStore(),
          authenticate: createAuthenticator('api-key', svc.config.auth.apiKeys),
          metrics: createMetrics({ countByStatus: () => svc.service.engine.countByStatus(), breakerOpen: () => false }),
          logger: pino({ level: 'silent' }),
          bodyLimit: svc.config.bodyLimit,
          corsOrigins: svc.config.corsOrigins,
          validateResponses: true,
        }),
      );
    });
    afterAll(async () => {
      await plain?.close();
      await svc?.stop();
      await removeTempDirs();
    });

    it('when any GET is sent to both, then both answer the same status, headers and body', async () => {
      const before = await (await fetch(`${svc.url}/metrics`)).text();
      const segment = fc.oneof(
        fc.constantFrom(mine, theirs, mine.toUpperCase(), 'quick-summary', 'project-brief', 'nope', '', '..', 'A'),
        fc.uuid(),
        fc.string({ maxLength: 12 }).map(encodeURIComponent),
        fc.constantFrom('%41', `${mine}%20`, 'a%2Fb'),
      );
      const path = fc.oneof(
        segment.map((s) => `/api/v1/executions/${s}`),
        segment.map((s) => `/api/v1/workflows/${s}`),
        fc.constantFrom(
          '/api/v1/workflows',
          '/api/v1/workflows/',
          '/API/v1/workflows',
          '/healthz',
          '/readyz',
          '/healthz?x=1',
          '/api/v1/workflows?',
          `/api/v1/executions/${mine}?x=1`,
          `/api/v1/executions/${mine}/`,
          `//api/v1/executions/${mine}`,
          '/api/v1/executions',
        ),
      );
      const credentials = fc.constantFrom<Record<string, string>>(
        {},
        { 'x-api-key': ALICE },
        { 'x-api-key': 'key-bob-4567' },
        { authorization: 'Bearer key-admin-89' },
        { authorization: 'bearer  key-bob-4567 ' },
        { authorization: 'Bearer wrong' },
        { authorization: 'Basic eA==' },
        { 'x-api-key': '' },
        { 'x-api-key': 'nope', authorization: `Bearer ${ALICE}` },
      );
      const requestId = fc.constantFrom<Record<string, string>>(
        {},
        { 'x-request-id': 'fl-1' },
        { 'x-request-id': 'fl-a.b:c' },
        { 'x-request-id': 'bad id' },
        { 'x-request-id': 'x'.repeat(200) },
      );
      const extra = fc.constantFrom<Record<string, string>>(
        {},
        {},
        {},
        { accept: 'text/html' },
        { 'content-type': 'text/plain' },
        { 'content-type': 'application/json' },
        { 'if-none-match': 'W/"nope"' },
        { 'if-none-match': '*' },
        { origin: 'https://app.example' },
      );
      const headers = fc.tuple(credentials, requestId, extra).map(([a, b, c]) => ({ ...a, ...b, ...c }));
      await fc.assert(
        fc.asyncProperty(path, headers, async (p, h) => {
          const [viaLane, viaExpress] = await Promise.all([get(svc.url, p, h), get(plain.url, p, h)]);
          expect(comparable(viaLane)).toEqual(comparable(viaExpress));
          expect(viaLane.status).toBeLessThan(500);
        }),
        { numRuns: 400 },
      );
      const after = await (await fetch(`${svc.url}/metrics`)).text();
      // Not a vacuous property: the lane served some of those requests and deferred others.
      expect(counter(after, 'served') - counter(before, 'served')).toBeGreaterThan(20);
      expect(counter(after, 'deferred') - counter(before, 'deferred')).toBeGreaterThan(20);
    });

    it('when the lane serves a read, then it is a 200 with the ETag Express would give, and a conditional GET still gets its 304', async () => {
      const h = { 'x-api-key': ALICE, 'x-request-id': 'fl-etag' };
      const viaLane = await get(svc.url, `/api/v1/executions/${mine}`, h);
      const viaExpress = await get(plain.url, `/api/v1/executions/${mine}`, h);
      expect(viaLane.status).toBe(200);
      expect(viaLane.headers.etag).toBe(viaExpress.headers.etag);
      expect(JSON.parse(viaLane.body)).toMatchObject({ execution_id: mine, status: 'completed', created_by: 'alice' });
      const conditional = await get(svc.url, `/api/v1/executions/${mine}`, {
        ...h,
        'if-none-match': viaLane.headers.etag as string,
      });
      expect(conditional.status).toBe(304);
    });

    it('when the lane serves a read, then the request is timed under its operationId', async () => {
      const metric = (text: string): number =>
        Number(
          /^hitl_http_request_duration_seconds_count\{route="getExecution",method="GET",status="200"\} (\d+)$/m.exec(
            text,
          )?.[1] ?? 0,
        );
      const before = metric(await (await fetch(`${svc.url}/metrics`)).text());
      for (let i = 0; i < 3; i++)
        expect((await get(svc.url, `/api/v1/executions/${mine}`, { 'x-api-key': ALICE })).status).toBe(200);
      expect(metric(await (await fetch(`${svc.url}/metrics`)).text())).toBe(before + 3);
    });
  });

  describe('on its own', () => {
    function deps(engine: Partial<WorkflowEngine>, lines: string[], metrics: Metrics): AppDeps {
      return {
        engine: engine as WorkflowEngine,
        idempotencyStore: new MemoryIdempotencyStore(),
        authenticate: createAuthenticator('api-key', [{ key: ALICE, user: 'alice', admin: false }]),
        metrics,
        logger: pino(
          { level: 'info' },
          new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }),
        ),
        bodyLimit: '1mb',
        validateResponses: true,
      };
    }
    const someMetrics = (): Metrics =>
      createMetrics({ countByStatus: async () => ({}) as never, breakerOpen: () => false });

    it('when it serves a read, then its log line is the one Express writes, credentials redacted', async () => {
      const execution = Object.freeze(buildExecution({ created_by: 'alice' }));
      const engine = { get: async () => execution };
      const laneLines: string[] = [];
      const expressLines: string[] = [];
      const lane = await listen(buildRequestListener(deps(engine, laneLines, someMetrics())));
      const express = await listen(buildApp(deps(engine, expressLines, someMetrics())));
      try {
        const h = { authorization: `Bearer ${ALICE}`, 'x-request-id': 'fl-log' };
        const path = `/api/v1/executions/${execution.execution_id}`;
        expect((await get(lane.url, path, h)).status).toBe(200);
        expect((await get(express.url, path, h)).status).toBe(200);
        const shape = (line: string | undefined): unknown => {
          const { time: _t, responseTime: _r, req, res, ...rest } = JSON.parse(line ?? '{}');
          const {
            remotePort: _p,
            headers: { host: _h, ...reqHeaders },
            ...reqRest
          } = req;
          return { ...rest, req: { ...reqRest, headers: reqHeaders }, res };
        };
        expect(laneLines).toHaveLength(1);
        expect(shape(laneLines[0])).toEqual(shape(expressLines[0]));
        expect(laneLines[0]).toContain('"operation":"getExecution"');
        expect(laneLines[0]).toContain('"id":"fl-log"');
        expect(laneLines[0]).toContain('"authorization":"[redacted]"');
        expect(laneLines[0]).not.toContain(ALICE);
      } finally {
        await lane.close();
        await express.close();
      }
    });

    it('when responses are validated and the handler drifts from the spec, then the lane defers and Express answers 500', async () => {
      const drifted = { ...buildExecution({ created_by: 'alice' }), status: 'sleeping' };
      const metrics = someMetrics();
      const lines: string[] = [];
      const lane = await listen(buildRequestListener(deps({ get: async () => drifted as never }, lines, metrics)));
      try {
        const res = await get(lane.url, `/api/v1/executions/${drifted.execution_id}`, { 'x-api-key': ALICE });
        expect(res.status).toBe(500);
        expect(JSON.parse(res.body)).toMatchObject({ error_code: 'INTERNAL_ERROR' });
        const text = await metrics.text();
        expect(counter(text.body, 'deferred')).toBe(1);
        expect(counter(text.body, 'served')).toBe(0);
      } finally {
        await lane.close();
      }
    });
  });
});
