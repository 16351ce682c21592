/**
 * `npm run mock` is what frontend teams build against before the backend exists: Prism on
 * openapi.yaml must serve the spec's examples and reject malformed requests.
 */
import path from 'node:path';
import { loadOpenApi, ROOT } from '../support/openapi';
import { freePort, spawnProcess, waitFor, type Spawned } from '../support/process';

type Examples = Record<string, { value: unknown }>;
const examples = (loadOpenApi().components as { examples: Examples }).examples;
const AUTH = { Authorization: 'Bearer mock-key' };

let prism: Spawned;
let base: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  prism = spawnProcess(
    path.join(ROOT, 'node_modules/.bin/prism'),
    ['mock', 'openapi.yaml', '--host', '127.0.0.1', '--port', String(port)],
    { cwd: ROOT },
  );
  await waitFor(async () => (await fetch(`${base}/healthz`)).ok, 30_000, `Prism on ${base}\n${prism.output()}`);
}, 40_000);

afterAll(async () => {
  await prism?.kill();
});

describe('Prism mock of openapi.yaml', () => {
  it('when GET /api/v1/workflows is asked, then it answers the WorkflowList example', async () => {
    const res = await fetch(`${base}/api/v1/workflows`, { headers: AUTH });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(examples.WorkflowList!.value);
  });

  it('when GET /api/v1/executions/{id} is asked, then it answers the first ExecutionResponse example', async () => {
    const res = await fetch(`${base}/api/v1/executions/3f1c2a4e-8b5d-4e7f-9a10-2b3c4d5e6f70`, { headers: AUTH });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(examples.ExecutionWaitingAcceptance!.value);
  });

  it('when a named example is asked for, then Prism serves it (Prefer: example=...)', async () => {
    const res = await fetch(`${base}/api/v1/executions/3f1c2a4e-8b5d-4e7f-9a10-2b3c4d5e6f70`, {
      headers: { ...AUTH, Prefer: 'example=completed' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(examples.ExecutionCompleted!.value);
  });

  it('when every GET without path parameters is asked, then each answers 200', async () => {
    for (const p of [
      '/api/v1/executions',
      '/healthz',
      '/readyz',
      '/metrics',
      '/openapi.yaml',
      '/asyncapi.yaml',
      '/docs',
    ]) {
      const res = await fetch(`${base}${p}`, { headers: AUTH });
      expect([p, res.status]).toEqual([p, 200]);
    }
  });

  it('when a malformed start request is sent, then it gets a 400 ErrorResponse', async () => {
    const res = await fetch(`${base}/api/v1/workflows/quick-summary/start`, {
      method: 'POST',
      headers: { ...AUTH, 'Content-Type': 'application/json' },
      body: JSON.stringify({ projectid: 'typo' }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error_code: string };
    expect(body.error_code).toBe('VALIDATION_ERROR');
  });

  it('when a request has no credentials, then the mock answers 401 as the api-key mode does', async () => {
    const res = await fetch(`${base}/api/v1/workflows`);
    expect(res.status).toBe(401);
  });
});
