/** Operations endpoints, and the contract check that every operation of openapi.yaml is mounted. */
import { loadSpecs, operationsOf } from '../../src/http/spec';
import { startTestService, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.stop();
  await removeTempDirs();
});

describe('operations', () => {
  it('when every operation of openapi.yaml is called, then none answers ROUTE_NOT_FOUND or 405', async () => {
    const ops = operationsOf(loadSpecs().openapi);
    expect(ops).toHaveLength(16);
    for (const op of ops) {
      const path = op.path
        .replace('{workflow_id}', 'quick-summary')
        .replace('{execution_id}', '9b2e1d40-0c8a-4f51-b3a2-5d6e7f809a1b');
      const res = await svc
        .http()
        [op.method](path)
        .send(op.method === 'post' ? {} : undefined);
      expect([op.operationId, res.body?.error_code]).not.toEqual([op.operationId, 'ROUTE_NOT_FOUND']);
      expect([op.operationId, res.status]).not.toEqual([op.operationId, 405]);
    }
  });

  it('when /healthz is asked, then ok', async () => {
    expect((await svc.http().get('/healthz').expect(200)).body).toEqual({ status: 'ok' });
  });

  it('when /readyz is asked with the store writable and definitions loaded, then ready', async () => {
    const res = await svc.http().get('/readyz').expect(200);
    expect(res.body).toEqual({
      status: 'ready',
      checks: { store_writable: true, definitions_loaded: 3, llm_breaker: 'closed' },
    });
  });

  it('when /metrics is scraped after some traffic, then HTTP latency by route and executions by status are there', async () => {
    await svc.http().get('/api/v1/workflows').expect(200);
    const id = (
      await svc
        .http()
        .post('/api/v1/workflows/quick-summary/start')
        .send({ project_id: 'm', initial_context: { text: 'x' } })
        .expect(202)
    ).body.execution_id as string;
    await svc.waitForStatus(id, 'completed');
    const res = await svc.http().get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(
      /hitl_http_request_duration_seconds_count\{route="listWorkflows",method="GET",status="200"\} [1-9]/,
    );
    expect(res.text).toMatch(/hitl_executions\{status="completed"\} 1/);
    expect(res.text).toContain('hitl_llm_breaker_open 0');
  });

  it('when the specs are asked for, then the served YAML is the file', async () => {
    const { openapiYaml, asyncapiYaml } = loadSpecs();
    const o = await svc.http().get('/openapi.yaml').expect(200);
    expect(o.headers['content-type']).toMatch(/^application\/yaml/);
    expect(o.text).toBe(openapiYaml);
    expect((await svc.http().get('/asyncapi.yaml').expect(200)).text).toBe(asyncapiYaml);
  });

  it('when /docs is asked, then an HTML reference that loads nothing from the network', async () => {
    const res = await svc.http().get('/docs').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('<div id="redoc">');
    expect(res.text).toContain('"operationId":"startWorkflow"');
    // No external script, stylesheet or module import.
    expect(res.text).not.toMatch(/<script[^>]+src=["']https?:/i);
    expect(res.text).not.toMatch(/<link[^>]+href=["']https?:/i);
    expect(res.text).not.toMatch(/import[^;]*from\s*["']https?:/);
  });
});
