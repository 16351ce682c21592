import { LlmError, type GuardedLlmProvider, type LlmRequest } from '../../src/llm/port.js';
import { FakeLlm } from '../../src/llm/fake.js';
import type { LlmCallInfo } from '../../src/engine/engine.js';
import { startHarness, type Harness } from '../support/engine-harness.js';
import { removeTempDirs } from '../support/temp-dir.js';
import { ADMIN, waitForStatus } from '../support/wait.js';

const start = (h: Harness, text = 'some text') =>
  h.engine.start({ workflowId: 'quick-summary', projectId: 'p', initialContext: { text }, actor: ADMIN });

describe('when the model fails', () => {
  let h: Harness;
  const calls: LlmCallInfo[] = [];
  beforeEach(async () => {
    calls.length = 0;
    h = await startHarness({ observer: { onLlmCall: (c) => calls.push(c) } });
  });
  afterEach(async () => {
    await h.close();
  });
  afterAll(removeTempDirs);

  it('when every attempt fails in a retryable way, then the execution pauses with the error, and resume completes it once the provider is back', async () => {
    h.fake.script('summarize', [
      { kind: 'fail', retryable: true },
      { kind: 'fail', retryable: true, errorKind: 'rate_limited', status: 429 },
      { kind: 'fail', retryable: true, errorKind: 'timeout' },
    ]);
    const e = await start(h);
    const paused = await waitForStatus(h.engine, e.execution_id, 'paused');
    expect(paused.error).toMatch(/^LLM_UNAVAILABLE: step summarize/);
    expect(paused.steps[0]).toMatchObject({ status: 'failed', attempts: 3 });
    expect(h.fake.calls).toHaveLength(3);

    const events = await h.engine.events(e.execution_id, ADMIN, 0, 100);
    const failures = events.filter((x) => x.event_type === 'step_failed').map((x) => x.data);
    expect(failures).toEqual([
      expect.objectContaining({ attempt: 1, will_retry: true, retry_in_ms: expect.any(Number) }),
      expect.objectContaining({ attempt: 2, will_retry: true, retry_in_ms: expect.any(Number) }),
      expect.objectContaining({ attempt: 3, will_retry: false, retry_in_ms: null }),
    ]);
    expect(events.at(-1)).toMatchObject({ event_type: 'execution_paused', data: { error: paused.error } });

    const resumed = await h.engine.resume(e.execution_id, { id: 'ops', admin: true });
    expect(resumed.status).toBe('running');
    expect(resumed.error).toBeNull();
    expect(resumed.steps[0]).toMatchObject({ attempts: 0, error: null });
    const done = await waitForStatus(h.engine, e.execution_id, 'completed');
    expect(done.steps[0]).toMatchObject({ status: 'completed', attempts: 1 });
    expect(done.decisions).toEqual([expect.objectContaining({ type: 'resume', actor: 'ops', step_id: 'summarize' })]);
    const all = await h.engine.events(e.execution_id, ADMIN, 0, 100);
    expect(all.map((x) => x.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.map((x) => x.event_type)).toContain('execution_resumed');
    expect(calls.map((c) => c.outcome)).toEqual(['error', 'error', 'error', 'ok']);
  });

  it('when one attempt fails in a retryable way, then the next attempt succeeds without pausing', async () => {
    h.fake.script('summarize', [{ kind: 'fail', retryable: true, retryAfterMs: 30 }]);
    const e = await start(h);
    const done = await waitForStatus(h.engine, e.execution_id, 'completed');
    expect(done.steps[0]!.attempts).toBe(2);
    const failed = (await h.engine.events(e.execution_id, ADMIN, 0, 100)).find((x) => x.event_type === 'step_failed');
    // Retry-After is honoured when it is longer than the jittered backoff.
    expect(failed?.data).toMatchObject({ will_retry: true, retry_in_ms: 30 });
  });

  it('when the provider rejects the request (not retryable), then the execution fails at once', async () => {
    h.fake.script('summarize', [{ kind: 'fail', retryable: false, message: 'invalid api key' }]);
    const e = await start(h);
    const failed = await waitForStatus(h.engine, e.execution_id, 'failed');
    expect(failed.error).toBe('LLM_ERROR: step summarize: invalid api key');
    expect(h.fake.calls).toHaveLength(1);
  });

  it('when the output is invalid once, then the error is fed back and the fixed output is accepted', async () => {
    h.fake.script('summarize', [
      { kind: 'invalid_json' },
      { kind: 'output', value: { title: 'T', summary: 'S' } },
      { kind: 'output', value: { title: 'T', summary: 'S', key_points: ['one'] } },
    ]);
    const e = await start(h);
    const done = await waitForStatus(h.engine, e.execution_id, 'completed');
    expect(done.steps[0]).toMatchObject({ attempts: 3, output: { key_points: ['one'] } });
    const [, second, third] = h.fake.callsFor('summarize');
    expect(second!.messages.at(-2)).toMatchObject({ role: 'assistant', content: expect.stringContaining('{not json') });
    expect(second!.messages.at(-1)!.content).toMatch(/not valid JSON/);
    expect(third!.messages.at(-1)!.content).toContain('/key_points is required');
  });

  it('when the output stays invalid for max_attempts, then the execution fails naming the schema errors', async () => {
    h.fake.script('summarize', [
      { kind: 'output', value: { title: 'T' } },
      { kind: 'output', value: { title: 'T' } },
      { kind: 'output', value: { title: 'T', summary: 'S', key_points: [], extra: 1 } },
    ]);
    const e = await start(h);
    const failed = await waitForStatus(h.engine, e.execution_id, 'failed');
    expect(failed.error).toMatch(/^INVALID_OUTPUT: step summarize: /);
    expect(failed.error).toContain('/key_points must NOT have fewer than 1 items');
    expect(failed.error).toContain('/extra is not allowed');
    expect(failed.steps[0]).toMatchObject({ status: 'failed', attempts: 3 });
    expect(h.fake.calls).toHaveLength(3);
    const events = await h.engine.events(e.execution_id, ADMIN, 0, 100);
    expect(
      events.filter((x) => x.event_type === 'step_failed').map((x) => (x.data as { will_retry: boolean }).will_retry),
    ).toEqual([true, true, false]);
  });

  it('when a call exceeds the timeout, then it is aborted and retried as a retryable timeout', async () => {
    await h.close();
    h = await startHarness({ options: { llmTimeoutMs: 30 } });
    h.fake.script('summarize', [{ kind: 'hang' }]);
    const e = await start(h);
    const done = await waitForStatus(h.engine, e.execution_id, 'completed');
    expect(done.steps[0]!.attempts).toBe(2);
    expect(h.fake.calls[0]).toMatchObject({ aborted: true, outcome: 'aborted' });
    const failed = (await h.engine.events(e.execution_id, ADMIN, 0, 100)).find((x) => x.event_type === 'step_failed');
    expect((failed?.data as { error: string }).error).toMatch(/timed out after 30 ms/);
  });

  it('when a prompt cannot be rendered at run time, then the step fails and the execution fails', async () => {
    // The optional constraint is referenced unguarded: only known to be missing at run time.
    const { WorkflowRegistry } = await import('../../src/engine/registry.js');
    const registry = WorkflowRegistry.fromSources({
      'strict.yaml': `
id: strict
name: Strict
description: d
version: 1
steps:
  - id: ask
    name: Ask
    type: clarification
    questions: [{ id: optional_thing, text: Anything?, required: false }]
  - id: use
    name: Use
    type: llm
    prompt: "Use {{ steps.ask.answers.optional_thing }}"
    output_schema: { type: object }
`,
    });
    await h.close();
    h = await startHarness({ registry });
    const e = await h.engine.start({ workflowId: 'strict', projectId: 'p', initialContext: {}, actor: ADMIN });
    await waitForStatus(h.engine, e.execution_id, 'waiting_clarification');
    await h.engine.submitClarification(e.execution_id, ADMIN, {});
    const failed = await waitForStatus(h.engine, e.execution_id, 'failed');
    expect(failed.error).toMatch(/^TEMPLATE_ERROR: step use: .*undefined.*optional_thing/);
    expect(h.fake.calls).toHaveLength(0);
  });
});

describe('when the circuit breaker is open', () => {
  afterAll(removeTempDirs);

  it('then start and resume are refused with LLM_UNAVAILABLE and Retry-After, and health reports it', async () => {
    const fake = new FakeLlm();
    let open = false;
    const guarded: GuardedLlmProvider = {
      name: 'guarded-fake',
      complete: (req: LlmRequest) => fake.complete(req),
      availability: () => ({ open, retryAfterSeconds: open ? 17 : null }),
    };
    const h = await startHarness({ llm: guarded, fake });
    try {
      fake.script('summarize', [
        { kind: 'fail', retryable: true },
        { kind: 'fail', retryable: true },
        { kind: 'fail', retryable: true },
      ]);
      const e = await start(h);
      await waitForStatus(h.engine, e.execution_id, 'paused');
      open = true;
      await expect(start(h)).rejects.toMatchObject({ code: 'LLM_UNAVAILABLE', status: 503, retryAfterSeconds: 17 });
      await expect(h.engine.resume(e.execution_id, ADMIN)).rejects.toMatchObject({ code: 'LLM_UNAVAILABLE' });
      expect(await h.engine.health()).toEqual({
        storeWritable: true,
        definitionsLoaded: 3,
        llmBreakerOpen: true,
        llmRetryAfterSeconds: 17,
      });
      expect((await h.engine.get(e.execution_id, ADMIN)).status).toBe('paused');
      open = false;
      await h.engine.resume(e.execution_id, ADMIN);
      await waitForStatus(h.engine, e.execution_id, 'completed');
    } finally {
      await h.close();
    }
  });

  it('an LlmError thrown by the breaker itself is retryable and ends in pause', async () => {
    const h = await startHarness({
      llm: {
        name: 'down',
        complete: () => Promise.reject(new LlmError('circuit open', true, 'unavailable', 5)),
      },
    });
    try {
      const e = await start(h);
      const paused = await waitForStatus(h.engine, e.execution_id, 'paused');
      expect(paused.error).toContain('circuit open');
    } finally {
      await h.close();
    }
  });
});
