import { SchemaCache } from '../../src/engine/schemas.js';
import { FakeLlm, fabricate } from '../../src/llm/fake.js';
import { LlmError, type LlmRequest } from '../../src/llm/port.js';
import type { LlmStepDefinition } from '../../src/domain/types.js';
import { seedWorkflows } from '../support/engine-harness.js';

const schemas = new SchemaCache();

function request(overrides: Partial<LlmRequest> = {}): LlmRequest {
  return {
    executionId: 'e1',
    stepId: 'step',
    attempt: 1,
    messages: [{ role: 'user', content: 'Summarize: the quick brown fox' }],
    outputSchema: { type: 'object', required: ['a'], properties: { a: { type: 'string' } } },
    schemaName: 'step',
    mayRequestClarification: false,
    timeoutMs: 1000,
    signal: new AbortController().signal,
    ...overrides,
  };
}

describe('the fake model', () => {
  it('fabricates output that satisfies every seed step schema, deterministically and differently per prompt', async () => {
    const registry = await seedWorkflows();
    const fake = new FakeLlm();
    for (const wf of registry.list()) {
      for (const step of wf.steps.filter((s): s is LlmStepDefinition => s.type === 'llm')) {
        const a = await fake.complete(request({ stepId: step.id, outputSchema: step.output_schema }));
        const again = await fake.complete(request({ stepId: step.id, outputSchema: step.output_schema }));
        const b = await fake.complete(
          request({
            stepId: step.id,
            outputSchema: step.output_schema,
            messages: [{ role: 'user', content: 'something else entirely' }],
          }),
        );
        expect(schemas.validate(step.output_schema, JSON.parse(a.text))).toEqual([]);
        expect(again.text).toBe(a.text);
        expect(b.text).not.toBe(a.text);
      }
    }
  });

  it.each([
    [
      {
        type: 'object',
        required: ['n', 'i', 'b', 'e', 'arr', 'when', 'mail', 'nested'],
        additionalProperties: false,
        properties: {
          n: { type: 'number', minimum: 2.5, maximum: 3 },
          i: { type: 'integer', exclusiveMinimum: 10, exclusiveMaximum: 13 },
          b: { type: 'boolean' },
          e: { enum: ['x', 'y'] },
          arr: { type: 'array', minItems: 3, maxItems: 3, items: { type: 'string', minLength: 50, maxLength: 60 } },
          when: { type: 'string', format: 'date-time' },
          mail: { type: 'string', format: 'email' },
          nested: { type: 'object', properties: { deep: { type: ['string', 'null'], maxLength: 5 }, c: { const: 7 } } },
        },
      },
    ],
    [{ type: 'array', items: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string' }] } }],
  ])('fabricates values for %j', (schema) => {
    const value = fabricate(schema, { echo: 'echo text', hash: 'f'.repeat(64) });
    expect(schemas.validate(schema, value)).toEqual([]);
  });

  it('streams the text in chunks through onDelta and reports usage', async () => {
    const deltas: string[] = [];
    const res = await new FakeLlm({ chunks: 3 }).complete(request({ onDelta: (d) => deltas.push(d) }));
    expect(deltas.length).toBe(3);
    expect(deltas.join('')).toBe(res.text);
    expect(res.usage!.total_tokens).toBe(res.usage!.prompt_tokens + res.usage!.completion_tokens);
    expect(res.model).toBe('fake-1');
  });

  it('plays a script per step, one item per call, then falls back to fabricated output', async () => {
    const fake = new FakeLlm().script('step', [
      { kind: 'fail', retryable: true, retryAfterMs: 100 },
      { kind: 'fail', retryable: false },
      { kind: 'invalid_json' },
      { kind: 'questions', questions: [{ id: 'q', text: 'Why?' }] },
      { kind: 'output', value: { a: 'scripted' } },
      { kind: 'delay', ms: 5, then: { kind: 'text', text: 'later' } },
    ]);
    await expect(fake.complete(request())).rejects.toMatchObject({
      retryable: true,
      kind: 'server',
      retryAfterMs: 100,
    });
    await expect(fake.complete(request())).rejects.toMatchObject({ retryable: false, kind: 'client' });
    await expect(fake.complete(request()).then((r) => JSON.parse(r.text))).rejects.toThrow(SyntaxError);
    expect(JSON.parse((await fake.complete(request())).text)).toEqual({
      questions: [{ id: 'q', text: 'Why?', required: true }],
    });
    expect(JSON.parse((await fake.complete(request())).text)).toEqual({ a: 'scripted' });
    expect((await fake.complete(request())).text).toBe('later');
    expect(fake.remaining('step')).toBe(0);
    expect(JSON.parse((await fake.complete(request())).text)).toHaveProperty('a');
    expect(fake.calls).toHaveLength(7);
    expect(fake.calls.map((c) => c.outcome)).toEqual(['failed', 'failed', 'ok', 'ok', 'ok', 'ok', 'ok']);
  });

  it('hangs until the signal aborts, then rejects with an aborted LlmError and records the abort', async () => {
    const fake = new FakeLlm().script('step', [{ kind: 'hang' }]);
    const controller = new AbortController();
    const pending = fake.complete(request({ signal: controller.signal }));
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.inFlight).toBe(1);
    controller.abort();
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlmError);
    expect(err).toMatchObject({ kind: 'aborted', retryable: false });
    expect(fake.calls[0]).toMatchObject({ aborted: true, outcome: 'aborted' });
    expect(fake.inFlight).toBe(0);
  });
});
