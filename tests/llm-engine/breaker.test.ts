/**
 * The circuit breaker as an operator sees it: after repeated retryable failures across
 * executions, start and resume answer 503 LLM_UNAVAILABLE with Retry-After, /readyz and /metrics
 * report it, the model server gets no more calls, and after the cool-down one trial call closes it.
 */
import { SUMMARY, metricValue, startLlmService, type LlmService } from './harness.js';

let svc: LlmService;
afterEach(async () => {
  await svc.stop();
});

const TEXT = { text: 'The quick brown fox jumps over the lazy dog.' };

interface ErrorBody {
  error_code: string;
  message: string;
  details?: { retry_after_seconds?: number };
}

interface ReadyBody {
  status: string;
  checks: { llm_breaker: string };
}

describe('circuit breaker', () => {
  it('when retryable failures pile up across executions, then start and resume answer 503 LLM_UNAVAILABLE until a trial call after the cool-down succeeds', async () => {
    svc = await startLlmService({ env: { LLM_BREAKER_THRESHOLD: '5', LLM_BREAKER_COOLDOWN_MS: '1000' } });
    svc.model.setDefault({ type: 'status', status: 503 });

    // Three failures: not enough to open; the first execution pauses with the circuit closed.
    const a = await svc.start('quick-summary', TEXT);
    await svc.waitForStatus(a.execution_id, 'paused');
    await svc.http().get('/readyz').expect(200);

    // Two more from another execution open it; its last attempt is refused without a request.
    const b = await svc.start('quick-summary', TEXT);
    const pausedB = await svc.waitForStatus(b.execution_id, 'paused');
    expect(pausedB.error).toMatch(/circuit open/);
    const openedAt = Date.now();
    expect(svc.model.requests).toHaveLength(5);

    const start = await svc
      .http()
      .post('/api/v1/workflows/quick-summary/start')
      .send({ project_id: 'p', initial_context: TEXT })
      .expect(503);
    expect((start.body as ErrorBody).error_code).toBe('LLM_UNAVAILABLE');
    expect(start.headers['retry-after']).toBe('1');

    const resume = await svc.http().post(`/api/v1/executions/${a.execution_id}/resume`).expect(503);
    expect((resume.body as ErrorBody).error_code).toBe('LLM_UNAVAILABLE');
    expect(resume.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect((await svc.get(a.execution_id)).status).toBe('paused');

    const ready = await svc.http().get('/readyz').expect(503);
    expect((ready.body as ReadyBody).checks.llm_breaker).toBe('open');
    expect(ready.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    const metrics = await svc.metrics();
    expect(metricValue(metrics, 'hitl_llm_breaker_open')).toBe(1);
    expect(metricValue(metrics, 'hitl_llm_calls_total', { outcome: 'retryable_error' })).toBe(5);
    expect(metricValue(metrics, 'hitl_llm_calls_total', { outcome: 'refused' })).toBe(1);
    expect(svc.model.requests).toHaveLength(5);

    // After the cool-down the model is healthy again: the trial call (a resume) closes the circuit.
    svc.model.setDefault({ type: 'reply', text: JSON.stringify(SUMMARY) });
    await new Promise((r) => setTimeout(r, Math.max(0, openedAt + 1050 - Date.now())));
    await svc.http().post(`/api/v1/executions/${a.execution_id}/resume`).expect(200);
    await svc.waitForStatus(a.execution_id, 'completed');

    const readyAgain = await svc.http().get('/readyz').expect(200);
    expect((readyAgain.body as ReadyBody).checks.llm_breaker).toBe('closed');
    expect(metricValue(await svc.metrics(), 'hitl_llm_breaker_open')).toBe(0);
    await svc.http().post(`/api/v1/executions/${b.execution_id}/resume`).expect(200);
    await svc.waitForStatus(b.execution_id, 'completed');
    const c = await svc.start('quick-summary', TEXT);
    await svc.waitForStatus(c.execution_id, 'completed');
    expect(svc.model.requests).toHaveLength(8);
  });

  it('when model calls keep timing out, then the timeouts count as failures and open the circuit', async () => {
    svc = await startLlmService({
      env: { LLM_TIMEOUT_MS: '150', LLM_BREAKER_THRESHOLD: '3', LLM_BREAKER_COOLDOWN_MS: '60000' },
    });
    svc.model.setDefault({ type: 'hang' });

    const a = await svc.start('quick-summary', TEXT);
    await svc.waitForStatus(a.execution_id, 'paused');

    const ready = await svc.http().get('/readyz').expect(503);
    expect((ready.body as ReadyBody).checks.llm_breaker).toBe('open');
    const start = await svc
      .http()
      .post('/api/v1/workflows/quick-summary/start')
      .send({ project_id: 'p', initial_context: TEXT })
      .expect(503);
    expect((start.body as ErrorBody).error_code).toBe('LLM_UNAVAILABLE');
    expect(Number(start.headers['retry-after'])).toBeGreaterThan(50);
  });

  it('when the model rejects requests as a client error, then the circuit stays closed', async () => {
    svc = await startLlmService({ env: { LLM_BREAKER_THRESHOLD: '1' } });
    svc.model.setDefault({ type: 'status', status: 401 });

    const a = await svc.start('quick-summary', TEXT);
    await svc.waitForStatus(a.execution_id, 'failed');

    await svc.http().get('/readyz').expect(200);
    await svc.start('quick-summary', TEXT);
  });
});
