/**
 * How the service reacts when the OpenAI-compatible model server misbehaves: cancel reaching the
 * wire, deadlines, rate limits, server errors, client errors and output that is not what the
 * step asked for. Checked from outside: HTTP answers, stored events, requests the server saw.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AnyExecutionEvent } from '../../src/domain/types.js';
import { SEED_WORKFLOWS, SUMMARY, startLlmService, type LlmService, type SentBody } from './harness.js';

// One service for the tests that need no special settings; the timeouts have their own below.
let svc: LlmService;
beforeAll(async () => {
  svc = await startLlmService();
});
afterEach(() => svc.reset());
afterAll(async () => {
  await svc.stop();
});

const TEXT = { text: 'The quick brown fox jumps over the lazy dog.' };

function stepFailures(
  events: AnyExecutionEvent[],
): Array<{ error: string; will_retry: boolean; retry_in_ms: number | null }> {
  return events
    .filter((e) => e.event_type === 'step_failed')
    .map((e) => e.data as { error: string; will_retry: boolean; retry_in_ms: number | null });
}

describe('cancel', () => {
  it('when an execution is cancelled while the model is streaming, then the HTTP request to the model is aborted on the wire', async () => {
    svc.model.enqueue({ type: 'reply', chunks: ['{"title":', '"half'], then: 'hang' });

    const started = await svc.start('quick-summary', TEXT);
    const call = await svc.model.request(0);
    await waitUntil(() =>
      svc.published.some((e) => e.execution_id === started.execution_id && e.event_type === 'step_progress'),
    );

    const res = await svc.http().post(`/api/v1/executions/${started.execution_id}/cancel`).expect(200);
    expect((res.body as { status: string }).status).toBe('cancelled');

    await call.closed;
    expect(call.clientClosed).toBe(true);
    expect(call.completed).toBe(false);
    const after = await svc.get(started.execution_id);
    expect(after).toMatchObject({ status: 'cancelled' });
    expect(after.steps[0]!.status).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 100));
    expect(svc.model.requests).toHaveLength(1);
    const types = (await svc.events(started.execution_id)).map((e) => e.event_type);
    expect(types).toContain('execution_cancelled');
    expect(types).not.toContain('step_failed');
  });
});

describe('timeouts', () => {
  // LLM_TIMEOUT_MS is short; the `tight` workflow's step sets a longer timeout_ms of its own.
  let slow: LlmService;
  let workflowsDir: string;
  beforeAll(async () => {
    workflowsDir = await mkdtemp(path.join(tmpdir(), 'hitl-llm-workflows-'));
    await cp(SEED_WORKFLOWS, workflowsDir, { recursive: true });
    await writeFile(
      path.join(workflowsDir, 'tight.yaml'),
      [
        'id: tight',
        'name: Own deadline',
        'description: One step with a deadline of its own.',
        'version: 1',
        'steps:',
        '  - id: summarize',
        '    name: Summarize',
        '    type: llm',
        '    timeout_ms: 400',
        '    prompt: "Summarize {{ context.text }}"',
        '    output_schema:',
        '      type: object',
        '      required: [title]',
        '      properties: { title: { type: string } }',
      ].join('\n'),
    );
    slow = await startLlmService({ env: { WORKFLOWS_DIR: workflowsDir, LLM_TIMEOUT_MS: '150' } });
  });
  afterEach(() => slow.reset());
  afterAll(async () => {
    await slow.stop();
    await rm(workflowsDir, { recursive: true, force: true });
  });

  it('when the model never answers within LLM_TIMEOUT_MS, then each attempt is cut off, retried, and the execution pauses', async () => {
    slow.model.setDefault({ type: 'hang' });

    const started = await slow.start('quick-summary', TEXT);
    const paused = await slow.waitForStatus(started.execution_id, 'paused');

    expect(paused.error).toMatch(
      /^LLM_UNAVAILABLE: step summarize: .*timed out after 150 ms.*\(after 3 attempt\(s\)\)$/,
    );
    expect(paused.steps[0]).toMatchObject({ status: 'failed', attempts: 3 });
    expect(slow.model.requests).toHaveLength(3);
    await Promise.all(slow.model.requests.map((r) => r.closed));
    expect(slow.model.requests.every((r) => r.clientClosed)).toBe(true);
    const events = await slow.events(started.execution_id);
    expect(stepFailures(events).map((f) => f.will_retry)).toEqual([true, true, false]);
    expect(events.at(-1)!.event_type).toBe('execution_paused');
  });

  it('when a step sets timeout_ms, then it overrides LLM_TIMEOUT_MS, and a stream that stalls half-way times out too', async () => {
    const arrivals: number[] = [];
    slow.model.enqueue(
      () => {
        arrivals.push(Date.now());
        return { type: 'reply', chunks: ['{"title":'], then: 'hang' };
      },
      () => {
        arrivals.push(Date.now());
        // Slower than LLM_TIMEOUT_MS, within the step's own deadline.
        return { type: 'reply', chunks: ['{"title":', '"ok"}'], chunkDelayMs: 100 };
      },
    );

    const started = await slow.start('tight', { text: 'x' });
    const done = await slow.waitForStatus(started.execution_id, 'completed');

    expect(done.steps[0]).toMatchObject({ attempts: 2, output: { title: 'ok' } });
    expect(slow.model.requests[0]!.clientClosed).toBe(true);
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(390);
    const [failure] = stepFailures(await slow.events(started.execution_id));
    expect(failure).toMatchObject({ will_retry: true });
    expect(failure!.error).toMatch(/timed out after 400 ms/);
  });
});

describe('retryable server answers', () => {
  it('when the model answers 429 with Retry-After, then the retry waits at least that long', async () => {
    const arrivals: number[] = [];
    svc.model.enqueue(
      () => {
        arrivals.push(Date.now());
        return { type: 'status', status: 429, headers: { 'retry-after': '1' } };
      },
      () => {
        arrivals.push(Date.now());
        return { type: 'reply', text: JSON.stringify(SUMMARY) };
      },
    );

    const started = await svc.start('quick-summary', TEXT);
    const done = await svc.waitForStatus(started.execution_id, 'completed');

    expect(done.steps[0]).toMatchObject({ attempts: 2, output: SUMMARY });
    // The engine's own backoff is capped at 20 ms here: only Retry-After explains the wait.
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(990);
    const [failure] = stepFailures(await svc.events(started.execution_id));
    expect(failure).toMatchObject({ will_retry: true, retry_in_ms: 1000 });
    expect(failure!.error).toMatch(/429/);
  });

  it('when the model keeps answering 500, then the step is retried, the execution pauses, and POST resume completes it once the server is healthy', async () => {
    svc.model.setDefault({ type: 'status', status: 500 });

    const started = await svc.start('quick-summary', TEXT);
    const paused = await svc.waitForStatus(started.execution_id, 'paused');

    expect(paused.error).toMatch(/^LLM_UNAVAILABLE: step summarize: .*500/);
    expect(svc.model.requests).toHaveLength(3);
    expect(stepFailures(await svc.events(started.execution_id)).map((f) => f.will_retry)).toEqual([true, true, false]);

    svc.model.setDefault({ type: 'reply', text: JSON.stringify(SUMMARY) });
    const resumed = await svc.http().post(`/api/v1/executions/${started.execution_id}/resume`).expect(200);
    expect((resumed.body as { status: string; error: string | null }).status).toBe('running');
    expect((resumed.body as { error: string | null }).error).toBeNull();
    const done = await svc.waitForStatus(started.execution_id, 'completed');

    expect(done.steps[0]).toMatchObject({ status: 'completed', attempts: 1, output: SUMMARY, error: null });
    expect(svc.model.requests).toHaveLength(4);
    const types = (await svc.events(started.execution_id)).map((e) => e.event_type);
    expect(types.slice(types.indexOf('execution_paused'))).toEqual([
      'execution_paused',
      'execution_resumed',
      'step_started',
      'step_completed',
      'execution_completed',
    ]);
  });

  it('when the server garbles its answer (a body that is not JSON), then it is retried as a transport failure', async () => {
    svc.model.enqueue(
      { type: 'malformed_json' },
      { type: 'broken_sse' },
      { type: 'reply', text: JSON.stringify(SUMMARY) },
    );

    const started = await svc.start('quick-summary', TEXT);
    const done = await svc.waitForStatus(started.execution_id, 'completed');

    expect(done.steps[0]).toMatchObject({ attempts: 3, output: SUMMARY });
    expect(stepFailures(await svc.events(started.execution_id)).every((f) => /stream broken/.test(f.error))).toBe(true);
  });
});

describe('client errors', () => {
  it.each([400, 401, 403])(
    'when the model answers %i, then the step is not retried and the execution fails',
    async (status) => {
      svc.model.setDefault({ type: 'status', status, body: { error: { message: `scripted ${status}`, type: 'x' } } });

      const started = await svc.start('quick-summary', TEXT);
      const failed = await svc.waitForStatus(started.execution_id, 'failed');

      expect(failed.error).toMatch(new RegExp(`^LLM_ERROR: step summarize: .*${status}`));
      expect(failed.steps[0]).toMatchObject({ status: 'failed', attempts: 1 });
      expect(svc.model.requests).toHaveLength(1);
      expect(stepFailures(await svc.events(started.execution_id))).toEqual([
        expect.objectContaining({ will_retry: false }),
      ]);
    },
  );
});

describe('invalid output', () => {
  it('when the model keeps answering output that is not valid, then each retry feeds the error back and the execution fails after max_attempts', async () => {
    svc.model.enqueue(
      { type: 'reply', text: 'Sure! Here is your summary: a fox.' },
      { type: 'reply', text: '{"title":"Fox"}' },
      { type: 'reply', text: '{"title":"Fox","summary":"s","key_points":[]}' },
    );

    const started = await svc.start('quick-summary', TEXT);
    const failed = await svc.waitForStatus(started.execution_id, 'failed');

    expect(failed.error).toMatch(/^INVALID_OUTPUT: step summarize: .*key_points.*\(after 3 attempt\(s\)\)$/);
    expect(failed.steps[0]).toMatchObject({ status: 'failed', attempts: 3 });
    expect(svc.model.requests).toHaveLength(3);

    const second = (svc.model.requests[1]!.body as SentBody).messages;
    expect(second.at(-2)).toEqual({ role: 'assistant', content: 'Sure! Here is your summary: a fox.' });
    expect(second.at(-1)!.role).toBe('user');
    expect(second.at(-1)!.content).toMatch(/not valid JSON/);

    const third = (svc.model.requests[2]!.body as SentBody).messages;
    expect(third.at(-2)).toEqual({ role: 'assistant', content: '{"title":"Fox"}' });
    expect(third.at(-1)!.content).toContain('/summary is required');
    // The whole conversation so far is kept: the first critique is still there.
    expect(third.some((m) => /not valid JSON/.test(m.content))).toBe(true);

    const failures = stepFailures(await svc.events(started.execution_id));
    expect(failures.map((f) => f.will_retry)).toEqual([true, true, false]);
  });
});

async function waitUntil(probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
