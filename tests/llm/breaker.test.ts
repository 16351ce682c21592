/**
 * The circuit breaker: opening after repeated retryable failures, refusing during the cool-down,
 * one half-open trial, and the call records it hands to metrics. Most cases drive a scripted
 * in-memory provider with a hand-moved clock; the last one wraps the real OpenAI provider over
 * loopback HTTP.
 */
import { CircuitBreakerLlm, type BreakerState, type LlmCallRecord } from '../../src/llm/breaker.js';
import { OpenAiCompatibleLlm } from '../../src/llm/openai.js';
import { LlmError, type LlmProvider, type LlmRequest, type LlmResponse } from '../../src/llm/port.js';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fake-openai-server.js';
import { failureOf, llmRequest } from './llm-request.js';

type Outcome = LlmResponse | LlmError | { wait: Promise<LlmResponse | LlmError> };

/** A provider that answers from a script and counts the calls that reached it. */
class ScriptedProvider implements LlmProvider {
  readonly name = 'scripted';
  calls = 0;
  private readonly script: Outcome[] = [];

  answers(...outcomes: Outcome[]): this {
    this.script.push(...outcomes);
    return this;
  }

  async complete(_req: LlmRequest): Promise<LlmResponse> {
    this.calls += 1;
    const next = this.script.shift() ?? ok();
    const outcome = 'wait' in next ? await next.wait : next;
    if (outcome instanceof LlmError) throw outcome;
    return outcome;
  }
}

const ok = (total = 3): LlmResponse => ({
  text: '{}',
  usage: { prompt_tokens: total - 1, completion_tokens: 1, total_tokens: total },
  model: 'm',
});
const serverError = () => new LlmError('boom', true, 'server', undefined, 503);
const badRequest = () => new LlmError('bad', false, 'client', undefined, 400);
const aborted = () => new LlmError('cancelled', false, 'aborted');

class Clock {
  t = 1_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

function breaker(
  inner: LlmProvider,
  clock: Clock,
  extra: Partial<ConstructorParameters<typeof CircuitBreakerLlm>[1]> = {},
) {
  return new CircuitBreakerLlm(inner, { failureThreshold: 3, cooldownMs: 10_000, now: clock.now, ...extra });
}

async function failTimes(b: CircuitBreakerLlm, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1) await failureOf(b.complete(llmRequest()));
}

describe('when retryable failures repeat', () => {
  it('then the circuit opens at the threshold and refuses at once with unavailable and the time left', async () => {
    const clock = new Clock();
    const inner = new ScriptedProvider().answers(serverError(), serverError(), serverError());
    const b = breaker(inner, clock);

    await failTimes(b, 2);
    expect(b.availability()).toEqual({ open: false, retryAfterSeconds: null });
    await failTimes(b, 1);
    clock.advance(2_500);
    const refused = await failureOf(b.complete(llmRequest()));

    expect(inner.calls).toBe(3);
    expect(refused).toBeInstanceOf(LlmError);
    expect(refused).toMatchObject({ kind: 'unavailable', retryable: true, retryAfterMs: 7_500 });
    expect(b.availability()).toEqual({ open: true, retryAfterSeconds: 8 });
    expect(b.state()).toBe('open');
  });

  it('then a success in between resets the count', async () => {
    const clock = new Clock();
    const inner = new ScriptedProvider().answers(serverError(), serverError(), ok(), serverError(), serverError());
    const b = breaker(inner, clock);

    await failTimes(b, 2);
    await b.complete(llmRequest());
    await failTimes(b, 2);

    expect(b.state()).toBe('closed');
    expect(b.availability().open).toBe(false);
  });

  it('then non-retryable errors and aborts neither count nor reset', async () => {
    const clock = new Clock();
    const inner = new ScriptedProvider().answers(
      serverError(),
      badRequest(),
      aborted(),
      serverError(),
      badRequest(),
      aborted(),
      badRequest(),
      serverError(),
    );
    const b = breaker(inner, clock);

    await failTimes(b, 7);
    expect(b.state()).toBe('closed');
    await failTimes(b, 1);

    expect(b.state()).toBe('open');
  });
});

describe('when the cool-down is over', () => {
  it('then one trial goes through while concurrent calls are refused, and its success closes the circuit', async () => {
    const clock = new Clock();
    let finishTrial: (r: LlmResponse) => void = () => undefined;
    const trial = new Promise<LlmResponse>((resolve) => (finishTrial = resolve));
    const inner = new ScriptedProvider().answers(serverError(), serverError(), serverError(), { wait: trial });
    const b = breaker(inner, clock);
    await failTimes(b, 3);

    clock.advance(10_000);
    expect(b.state()).toBe('half_open');
    expect(b.availability()).toEqual({ open: false, retryAfterSeconds: null });
    const trialCall = b.complete(llmRequest());
    const concurrent = await failureOf(b.complete(llmRequest()));
    expect(concurrent).toMatchObject({ kind: 'unavailable', retryable: true });
    expect(b.availability().open).toBe(true);
    finishTrial(ok());
    await trialCall;

    expect(b.state()).toBe('closed');
    expect(b.availability()).toEqual({ open: false, retryAfterSeconds: null });
    await b.complete(llmRequest());
    expect(inner.calls).toBe(5);
  });

  it('then a failed trial opens the circuit again for a full cool-down', async () => {
    const clock = new Clock();
    const inner = new ScriptedProvider().answers(serverError(), serverError(), serverError(), serverError());
    const b = breaker(inner, clock);
    await failTimes(b, 3);

    clock.advance(10_001);
    await failureOf(b.complete(llmRequest()));

    expect(inner.calls).toBe(4);
    expect(b.state()).toBe('open');
    expect(b.availability()).toEqual({ open: true, retryAfterSeconds: 10 });
    const refused = await failureOf(b.complete(llmRequest()));
    expect(refused).toMatchObject({ kind: 'unavailable', retryAfterMs: 10_000 });
    expect(inner.calls).toBe(4);
  });

  it('then an aborted trial leaves it half-open for the next trial', async () => {
    const clock = new Clock();
    const inner = new ScriptedProvider().answers(serverError(), serverError(), serverError(), aborted(), ok());
    const b = breaker(inner, clock);
    await failTimes(b, 3);
    clock.advance(10_000);

    await failureOf(b.complete(llmRequest()));
    expect(b.state()).toBe('half_open');
    await b.complete(llmRequest());

    expect(b.state()).toBe('closed');
  });
});

describe('when calls are observed', () => {
  it('then every call is reported with its outcome and usage, and stats add them up', async () => {
    const clock = new Clock();
    const records: LlmCallRecord[] = [];
    const transitions: Array<[BreakerState, BreakerState]> = [];
    const inner = new ScriptedProvider().answers(ok(10), badRequest(), serverError(), aborted(), ok(5));
    const b = breaker(inner, clock, {
      failureThreshold: 1,
      onCall: (r) => records.push(r),
      onStateChange: (to, from) => transitions.push([to, from]),
    });

    await b.complete(llmRequest({ stepId: 'draft', attempt: 2 }));
    await failTimes(b, 2);
    await failureOf(b.complete(llmRequest()));
    clock.advance(10_000);
    await failureOf(b.complete(llmRequest()));
    await b.complete(llmRequest());

    expect(records.map((r) => r.outcome)).toEqual([
      'success',
      'fatal_error',
      'retryable_error',
      'refused',
      'aborted',
      'success',
    ]);
    expect(records[0]).toMatchObject({
      provider: 'scripted',
      stepId: 'draft',
      attempt: 2,
      errorKind: null,
      usage: { total_tokens: 10 },
      model: 'm',
    });
    expect(records[1]).toMatchObject({ errorKind: 'client', status: 400, usage: null });
    expect(records[3]).toMatchObject({ errorKind: 'unavailable' });
    expect(b.stats()).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
      calls: { success: 2, retryable_error: 1, fatal_error: 1, aborted: 1, refused: 1 },
      usage: { prompt_tokens: 13, completion_tokens: 2, total_tokens: 15 },
    });
    expect(transitions).toEqual([
      ['open', 'closed'],
      ['half_open', 'open'],
      ['closed', 'half_open'],
    ]);
  });

  it('then an observer that throws does not break the call', async () => {
    const b = breaker(new ScriptedProvider(), new Clock(), {
      onCall: () => {
        throw new Error('metrics down');
      },
    });

    await expect(b.complete(llmRequest())).resolves.toMatchObject({ text: '{}' });
  });
});

describe('when it wraps the real OpenAI provider', () => {
  let server: FakeOpenAiServer;
  beforeAll(async () => {
    server = await startFakeOpenAiServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('then repeated 503s open it and further calls never reach the server until a trial succeeds', async () => {
    const clock = new Clock();
    const b = breaker(
      new OpenAiCompatibleLlm({ baseUrl: server.url, apiKey: 'k', model: 'gpt-test', timeoutMs: 5000 }),
      clock,
    );
    server.enqueue(...[1, 2, 3].map(() => ({ type: 'status' as const, status: 503 })));

    await failTimes(b, 3);
    const refused = await failureOf(b.complete(llmRequest()));
    expect(refused).toMatchObject({ kind: 'unavailable' });
    expect(server.requests).toHaveLength(3);

    clock.advance(10_000);
    server.enqueue({ type: 'reply', text: '{"summary":"ok","bullets":[]}' });
    const response = await b.complete(llmRequest());

    expect(response.text).toBe('{"summary":"ok","bullets":[]}');
    expect(server.requests).toHaveLength(4);
    expect(b.availability().open).toBe(false);
  });
});
