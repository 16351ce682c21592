/**
 * The `fake` provider: a deterministic, offline model. By default it fabricates text that
 * satisfies the request's output schema (echoing a little of the prompt, so outputs differ per
 * input) and streams it in a few chunks. Tests script it per step to fail, delay, hang, return
 * invalid JSON, ask questions or return a given value, and read `calls` to see what it was asked.
 */
import { createHash } from 'node:crypto';
import type { JsonSchema, TokenUsage } from '../domain/types.js';
import { LlmError, type ChatMessage, type LlmProvider, type LlmRequest, type LlmResponse } from './port.js';

export type FakeScriptItem =
  /** Answers with `JSON.stringify(value)`. */
  | { kind: 'output'; value: unknown }
  /** Answers with this exact text (fenced JSON, prose, ...). */
  | { kind: 'text'; text: string }
  /** Answers with text that is not JSON. */
  | { kind: 'invalid_json' }
  /** Answers `{"questions": [...]}`. */
  | { kind: 'questions'; questions: { id: string; text: string; required?: boolean }[] }
  /** Rejects with an LlmError (retryable: 'server' by default; not retryable: 'client'). */
  | {
      kind: 'fail';
      retryable: boolean;
      errorKind?: LlmError['kind'];
      retryAfterMs?: number;
      status?: number;
      message?: string;
    }
  /** Never answers; rejects with an `aborted` LlmError when the request's signal aborts. */
  | { kind: 'hang' }
  /** Waits `ms` (abortable), then answers with `then` or fabricated output. */
  | { kind: 'delay'; ms: number; then?: Exclude<FakeScriptItem, { kind: 'delay' }> };

export interface FakeCall {
  executionId: string;
  stepId: string;
  attempt: number;
  messages: ChatMessage[];
  outputSchema: JsonSchema;
  mayRequestClarification: boolean;
  /** What the call did, filled in when it settles: 'ok' or the failure. */
  outcome: 'in_flight' | 'ok' | 'failed' | 'aborted';
  /** True when the request's AbortSignal fired while the call was in flight. */
  aborted: boolean;
}

export interface FakeLlmOptions {
  /** Delay before every unscripted answer (default 0). */
  delayMs?: number;
  /** Number of onDelta chunks the answer is streamed in (default 4). */
  chunks?: number;
  model?: string;
}

export class FakeLlm implements LlmProvider {
  readonly name = 'fake';
  readonly model: string;
  /** Every request, in order. */
  readonly calls: FakeCall[] = [];
  private readonly scripts = new Map<string, FakeScriptItem[]>();
  private inFlightNow = 0;
  /** Highest number of calls in flight at once (for concurrency-limit tests). */
  maxInFlight = 0;

  constructor(private readonly options: FakeLlmOptions = {}) {
    this.model = options.model ?? 'fake-1';
  }

  /** Queues behaviours for the next calls of `stepId` (any execution), consumed one per call. */
  script(stepId: string, items: FakeScriptItem[]): this {
    this.scripts.set(stepId, [...(this.scripts.get(stepId) ?? []), ...items]);
    return this;
  }

  /** Script items not consumed yet for `stepId`. */
  remaining(stepId: string): number {
    return this.scripts.get(stepId)?.length ?? 0;
  }

  get inFlight(): number {
    return this.inFlightNow;
  }

  callsFor(stepId: string): FakeCall[] {
    return this.calls.filter((c) => c.stepId === stepId);
  }

  async complete(req: LlmRequest): Promise<LlmResponse> {
    const call: FakeCall = {
      executionId: req.executionId,
      stepId: req.stepId,
      attempt: req.attempt,
      messages: req.messages.map((m) => ({ ...m })),
      outputSchema: req.outputSchema,
      mayRequestClarification: req.mayRequestClarification,
      outcome: 'in_flight',
      aborted: false,
    };
    this.calls.push(call);
    const onAbort = (): void => {
      call.aborted = true;
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    this.inFlightNow++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlightNow);
    try {
      const item = this.scripts.get(req.stepId)?.shift();
      const response = await this.perform(req, item);
      call.outcome = 'ok';
      return response;
    } catch (err) {
      call.outcome = err instanceof LlmError && err.kind === 'aborted' ? 'aborted' : 'failed';
      throw err;
    } finally {
      this.inFlightNow--;
      req.signal.removeEventListener('abort', onAbort);
    }
  }

  private async perform(req: LlmRequest, item: FakeScriptItem | undefined): Promise<LlmResponse> {
    throwIfAborted(req.signal);
    if (!item) {
      if (this.options.delayMs) await sleep(this.options.delayMs, req.signal);
      return this.answer(req, JSON.stringify(fabricate(req.outputSchema, promptSeed(req.messages))));
    }
    switch (item.kind) {
      case 'output':
        return this.answer(req, JSON.stringify(item.value));
      case 'text':
        return this.answer(req, item.text);
      case 'invalid_json':
        return this.answer(req, 'Sure! Here is what you asked for: {not json');
      case 'questions':
        return this.answer(
          req,
          JSON.stringify({ questions: item.questions.map((q) => ({ ...q, required: q.required ?? true })) }),
        );
      case 'fail':
        throw new LlmError(
          item.message ?? (item.retryable ? 'fake provider is unavailable' : 'fake provider rejected the request'),
          item.retryable,
          item.errorKind ?? (item.retryable ? 'server' : 'client'),
          item.retryAfterMs,
          item.status ?? (item.retryable ? 503 : 400),
        );
      case 'hang':
        await sleep(Number.POSITIVE_INFINITY, req.signal);
        throw new LlmError('unreachable', false, 'aborted');
      case 'delay':
        await sleep(item.ms, req.signal);
        return this.perform(req, item.then);
    }
  }

  private async answer(req: LlmRequest, text: string): Promise<LlmResponse> {
    const chunks = Math.max(1, this.options.chunks ?? 4);
    const size = Math.ceil(text.length / chunks) || 1;
    for (let i = 0; i < text.length; i += size) {
      throwIfAborted(req.signal);
      req.onDelta?.(text.slice(i, i + size));
      // Yield so a consumer sees a stream, not one burst.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    throwIfAborted(req.signal);
    const promptChars = req.messages.reduce((n, m) => n + m.content.length, 0);
    const usage: TokenUsage = {
      prompt_tokens: Math.ceil(promptChars / 4),
      completion_tokens: Math.ceil(text.length / 4),
      total_tokens: Math.ceil(promptChars / 4) + Math.ceil(text.length / 4),
    };
    return { text, usage, model: this.model };
  }
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new LlmError('request aborted', false, 'aborted');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new LlmError('request aborted', false, 'aborted'));
      return;
    }
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : null;
    function done(): void {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort(): void {
      if (timer) clearTimeout(timer);
      reject(new LlmError('request aborted', false, 'aborted'));
    }
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A short, human-readable echo of the request plus a hash of all of it. */
function promptSeed(messages: ChatMessage[]): { echo: string; hash: string } {
  const all = messages.map((m) => m.content).join('\n');
  const hash = createHash('sha256').update(all).digest('hex');
  const user = [...messages].reverse().find((m) => m.role === 'user')?.content ?? all;
  const words = user.replace(/\s+/g, ' ').trim().split(' ');
  // The tail of a prompt is where the input usually is; the head is the template's fixed text.
  const echo = words.slice(-6).join(' ').replace(/["{}]/g, '').slice(0, 60);
  return { echo, hash };
}

const FORMAT_SAMPLES: Record<string, string> = {
  'date-time': '2024-01-01T00:00:00.000Z',
  date: '2024-01-01',
  time: '12:00:00Z',
  email: 'someone@example.com',
  uri: 'https://example.com/',
  url: 'https://example.com/',
  uuid: '00000000-0000-4000-8000-000000000000',
  hostname: 'example.com',
  ipv4: '192.0.2.1',
};

/**
 * Fabricates a value that satisfies `schema` for the common JSON Schema keywords (object,
 * array, string with length/enum/format, number/integer with bounds, boolean, null, const,
 * enum, anyOf/oneOf/allOf taking the first branch). Deterministic for a given seed.
 */
export function fabricate(schema: unknown, seed: { echo: string; hash: string }, path = 'value'): unknown {
  if (typeof schema !== 'object' || schema === null) return `${path} ${seed.hash.slice(0, 8)}`;
  const s = schema as Record<string, unknown>;
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) {
    return s.enum[parseInt(seed.hash.slice(0, 4), 16) % s.enum.length];
  }
  for (const key of ['oneOf', 'anyOf', 'allOf'] as const) {
    const branches = s[key];
    if (Array.isArray(branches) && branches.length > 0) {
      const merged =
        key === 'allOf'
          ? Object.assign({}, ...branches.map((b) => b as object), s)
          : { ...s, ...(branches[0] as object) };
      delete (merged as Record<string, unknown>)[key];
      return fabricate(merged, seed, path);
    }
  }
  let type = s.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? type[0];
  if (type === undefined) type = s.properties ? 'object' : s.items ? 'array' : 'string';
  switch (type) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(props)) out[key] = fabricate(sub, seed, key);
      const required = Array.isArray(s.required) ? (s.required as string[]) : [];
      for (const key of required) if (!(key in out)) out[key] = `${key} ${seed.hash.slice(0, 8)}`;
      return out;
    }
    case 'array': {
      const min = typeof s.minItems === 'number' ? s.minItems : 0;
      const max = typeof s.maxItems === 'number' ? s.maxItems : Number.POSITIVE_INFINITY;
      const count = Math.min(Math.max(min, 2), max);
      const items = Array.isArray(s.items) ? s.items[0] : s.items;
      return Array.from({ length: count }, (_, i) =>
        fabricate(
          items ?? { type: 'string' },
          { echo: seed.echo, hash: rotate(seed.hash, i) },
          `${singular(path)} ${i + 1}`,
        ),
      );
    }
    case 'string': {
      if (typeof s.format === 'string' && FORMAT_SAMPLES[s.format]) return FORMAT_SAMPLES[s.format];
      let text = seed.echo
        ? `${humanize(path)}: ${seed.echo} (${seed.hash.slice(0, 6)})`
        : `${humanize(path)} ${seed.hash.slice(0, 6)}`;
      const minLength = typeof s.minLength === 'number' ? s.minLength : 0;
      const maxLength = typeof s.maxLength === 'number' ? s.maxLength : Number.POSITIVE_INFINITY;
      while (text.length < minLength) text += ` ${seed.hash}`;
      return [...text].slice(0, Math.max(minLength, Math.min(maxLength, text.length))).join('');
    }
    case 'integer':
    case 'number': {
      const lo =
        typeof s.minimum === 'number'
          ? s.minimum
          : typeof s.exclusiveMinimum === 'number'
            ? s.exclusiveMinimum + (type === 'integer' ? 1 : 0.5)
            : 1;
      const hi =
        typeof s.maximum === 'number'
          ? s.maximum
          : typeof s.exclusiveMaximum === 'number'
            ? s.exclusiveMaximum - (type === 'integer' ? 1 : 0.5)
            : Math.max(lo, 1) * 10;
      const span = Math.max(0, hi - lo);
      const pick = lo + ((parseInt(seed.hash.slice(0, 6), 16) % 1000) / 1000) * span;
      return type === 'integer' ? Math.min(Math.ceil(pick), Math.floor(hi)) : Math.round(pick * 100) / 100;
    }
    case 'boolean':
      return parseInt(seed.hash.slice(0, 2), 16) % 2 === 0;
    case 'null':
      return null;
    default:
      return null;
  }
}

function rotate(hash: string, n: number): string {
  const k = (n * 7) % hash.length;
  return hash.slice(k) + hash.slice(0, k);
}

function humanize(key: string): string {
  const words = key.replace(/[_-]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function singular(key: string): string {
  return key.endsWith('s') && key.length > 3 ? key.slice(0, -1) : key;
}
