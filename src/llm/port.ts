/**
 * The LLM port. The engine talks to models only through this interface; providers (`fake`,
 * `openai`, `anthropic`) implement it, and the circuit breaker wraps one.
 */
import type { JsonSchema, TokenUsage } from '../domain/types.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface LlmRequest {
  /** Execution and step the call belongs to: for logs, metrics and the fake model's scripts. */
  executionId: string;
  stepId: string;
  attempt: number;
  messages: ChatMessage[];
  /** The step's output schema; providers send it as structured-output constraints. */
  outputSchema: JsonSchema;
  /** Name for the schema (providers that need one): the step id. */
  schemaName: string;
  /** When true the model may answer `{"questions": [...]}` instead of output (see engine). */
  mayRequestClarification: boolean;
  timeoutMs: number;
  /** Aborted on cancel; the provider must abort the in-flight request. */
  signal: AbortSignal;
  /** Called with each streamed text delta, when the provider streams. */
  onDelta?: (delta: string) => void;
}

export interface LlmResponse {
  /** The raw text the model produced (expected to be JSON; the engine parses and validates). */
  text: string;
  usage: TokenUsage | null;
  model: string;
}

/**
 * Failures a provider raises. `retryable` errors (network, timeout, 429, 5xx) are retried with
 * backoff and pause the execution when attempts run out; others fail the step at once.
 */
export class LlmError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly kind: 'network' | 'timeout' | 'rate_limited' | 'server' | 'client' | 'aborted' | 'unavailable',
    /** From a `Retry-After` header, when the provider sent one. */
    readonly retryAfterMs?: number,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'LlmError';
  }
}

export interface LlmProvider {
  readonly name: string;
  complete(req: LlmRequest): Promise<LlmResponse>;
}

/** What the circuit breaker (or any provider wrapper) says about the provider's availability. */
export interface LlmAvailability {
  open: boolean;
  /** Seconds until a trial call is allowed again, when open. */
  retryAfterSeconds: number | null;
}

/** A provider that can tell whether calls are currently refused (the circuit breaker). */
export interface GuardedLlmProvider extends LlmProvider {
  availability(): LlmAvailability;
}

export function isGuarded(llm: LlmProvider): llm is GuardedLlmProvider {
  return typeof (llm as Partial<GuardedLlmProvider>).availability === 'function';
}
