/**
 * The service with the real OpenAI-compatible provider against a loopback chat-completions
 * server: what the model is asked, how its answer becomes the step's output, how streamed deltas
 * reach subscribers, and how tokens are counted.
 */
import type { AnyExecutionEvent } from '../../src/domain/types.js';
import { SUMMARY, metricValue, startLlmService, type LlmService, type SentBody } from './harness.js';

let svc: LlmService;
beforeAll(async () => {
  svc = await startLlmService();
});
afterEach(() => svc.reset());
afterAll(async () => {
  await svc.stop();
});

const sent = (i: number): SentBody => svc.model.requests[i]!.body as SentBody;

async function outputSchemaOf(workflowId: string, stepId: string): Promise<Record<string, unknown>> {
  const res = await svc.http().get(`/api/v1/workflows/${workflowId}`).expect(200);
  const steps = (res.body as { steps: Array<{ id: string; output_schema?: Record<string, unknown> }> }).steps;
  return steps.find((s) => s.id === stepId)!.output_schema!;
}

describe('quick-summary with an OpenAI-compatible model', () => {
  it("when the model answers valid JSON, then it is the step's output and the tokens are on the step, the execution and /metrics", async () => {
    svc.model.enqueue({
      type: 'reply',
      text: JSON.stringify(SUMMARY),
      usage: { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150 },
    });
    const before = await svc.metrics();

    const started = await svc.start('quick-summary', { text: 'The quick brown fox jumps over the lazy dog.' });
    const done = await svc.waitForStatus(started.execution_id, 'completed');

    expect(done.steps[0]).toMatchObject({ step_id: 'summarize', status: 'completed', attempts: 1, output: SUMMARY });
    const usage = { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150 };
    expect(done.steps[0]!.usage).toEqual(usage);
    expect(done.usage).toEqual(usage);
    const completed = (await svc.events(started.execution_id)).find((e) => e.event_type === 'step_completed');
    expect(completed?.data).toMatchObject({ output: SUMMARY, attempts: 1, usage });

    const after = await svc.metrics();
    const grew = (name: string, labels: Record<string, string>): number =>
      metricValue(after, name, labels) - metricValue(before, name, labels);
    expect(grew('hitl_llm_tokens_total', { provider: 'openai', kind: 'prompt' })).toBe(120);
    expect(grew('hitl_llm_tokens_total', { provider: 'openai', kind: 'completion' })).toBe(30);
    expect(grew('hitl_llm_calls_total', { provider: 'openai', model: 'm', outcome: 'success' })).toBe(1);
    expect(metricValue(after, 'hitl_llm_breaker_open')).toBe(0);
  });

  it("when a step runs, then the request carries the rendered prompt and the step's output schema as response_format json_schema", async () => {
    svc.model.enqueue({ type: 'reply', text: JSON.stringify(SUMMARY) });

    const started = await svc.start('quick-summary', { text: 'Otters hold hands while sleeping.' });
    await svc.waitForStatus(started.execution_id, 'completed');

    expect(svc.model.requests).toHaveLength(1);
    expect(svc.model.requests[0]!.headers.authorization).toBe('Bearer test');
    const body = sent(0);
    expect(body.model).toBe('m');
    expect(body.stream).toBe(true);
    expect(body.messages[0]!.role).toBe('system');
    expect(body.messages[1]).toMatchObject({ role: 'user' });
    expect(body.messages[1]!.content).toContain('Otters hold hands while sleeping.');
    expect(body.messages[1]!.content).toContain('project "proj-llm"');
    expect(body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'summarize', schema: await outputSchemaOf('quick-summary', 'summarize'), strict: false },
    });
  });

  it('when LLM_RESPONSE_FORMAT=json_object, then the request asks for json_object and puts the schema in the system prompt', async () => {
    const jsonObject = await startLlmService({ env: { LLM_RESPONSE_FORMAT: 'json_object' } });
    try {
      jsonObject.model.enqueue({ type: 'reply', text: JSON.stringify(SUMMARY) });

      const started = await jsonObject.start('quick-summary', { text: 'Otters.' });
      const done = await jsonObject.waitForStatus(started.execution_id, 'completed');

      expect(done.steps[0]!.output).toEqual(SUMMARY);
      const body = jsonObject.model.requests[0]!.body as SentBody;
      expect(body.response_format).toEqual({ type: 'json_object' });
      expect(body.messages[0]!.role).toBe('system');
      expect(body.messages[0]!.content).toContain(JSON.stringify(await outputSchemaOf('quick-summary', 'summarize')));
    } finally {
      await jsonObject.stop();
    }
  });
});

describe('streaming', () => {
  it('when the model streams many chunks quickly, then subscribers get fewer, batched step_progress events that add up to the text, and the output is validated', async () => {
    expect(svc.service.engine.options.progressIntervalMs).toBe(50);
    const text = JSON.stringify(SUMMARY);
    const chunks = text.match(/.{1,3}/g)!;
    svc.model.enqueue({ type: 'reply', chunks, chunkDelayMs: 4 });

    const started = await svc.start('quick-summary', { text: 'Stream me.' });
    const done = await svc.waitForStatus(started.execution_id, 'completed');

    const mine = svc.published.filter((e) => e.execution_id === started.execution_id);
    const progress = mine.filter((e) => e.event_type === 'step_progress');
    expect(chunks.length).toBeGreaterThan(15);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.length).toBeLessThan(chunks.length / 2);
    expect(progress.map((e) => (e.data as { delta: string }).delta).join('')).toBe(text);
    for (const e of progress) expect(e).toMatchObject({ step_id: 'summarize', data: { attempt: 1 } });
    // Progress comes between the step's start and its completion, and never reaches the event log.
    const types = mine.map((e) => e.event_type);
    expect(types.indexOf('step_started')).toBeLessThan(types.indexOf('step_progress'));
    expect(types.lastIndexOf('step_progress')).toBeLessThan(types.indexOf('step_completed'));
    const stored = await svc.events(started.execution_id);
    expect(stored.some((e: AnyExecutionEvent) => e.event_type === 'step_progress')).toBe(false);
    expect(done.steps[0]!.output).toEqual(SUMMARY);
  });

  it('when the streamed text is not schema-valid, then the deltas were still streamed but the step is retried, not completed', async () => {
    svc.model.enqueue({ type: 'reply', chunks: ['{"title":', '"only a title"}'] });
    svc.model.enqueue({ type: 'reply', text: JSON.stringify(SUMMARY) });

    const started = await svc.start('quick-summary', { text: 'Stream me.' });
    const done = await svc.waitForStatus(started.execution_id, 'completed');

    expect(done.steps[0]).toMatchObject({ attempts: 2, output: SUMMARY });
    const progress = svc.published.filter(
      (e) => e.execution_id === started.execution_id && e.event_type === 'step_progress',
    );
    expect(
      progress
        .filter((e) => (e.data as { attempt: number }).attempt === 1)
        .map((e) => (e.data as { delta: string }).delta)
        .join(''),
    ).toBe('{"title":"only a title"}');
  });
});
