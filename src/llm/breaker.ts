/**
 * A circuit breaker around any provider, shared by all executions. After `failureThreshold`
 * consecutive retryable failures (network, timeout, 429, 5xx) it opens for `cooldownMs`: calls
 * are refused at once with a retryable `unavailable` error, and `availability()` tells the HTTP
 * layer to answer 503 with `Retry-After`. After the cool-down one trial call goes through
 * (half-open; concurrent calls are still refused): success closes the circuit, a retryable
 * failure opens it again. Non-retryable errors (400, 401, ...) and aborts say nothing about
 * availability, so they neither count nor reset the count.
 */
import type { TokenUsage } from '../domain/types.js';
import {
  LlmError,
  type GuardedLlmProvider,
  type LlmAvailability,
  type LlmProvider,
  type LlmRequest,
  type LlmResponse,
} from './port.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

export type LlmCallOutcome = 'success' | 'retryable_error' | 'fatal_error' | 'aborted' | 'refused';

/** One finished (or refused) call, for metrics and logs. */
export interface LlmCallRecord {
  provider: string;
  executionId: string;
  stepId: string;
  attempt: number;
  outcome: LlmCallOutcome;
  /** The `LlmError` kind on failure, null on success. */
  errorKind: LlmError['kind'] | null;
  status: number | null;
  durationMs: number;
  usage: TokenUsage | null;
  model: string | null;
}

export interface LlmCallStats {
  state: BreakerState;
  consecutiveFailures: number;
  calls: Record<LlmCallOutcome, number>;
  usage: TokenUsage;
}

export interface CircuitBreakerOptions {
  /** Consecutive retryable failures that open the circuit (default 5). */
  failureThreshold?: number;
  /** How long the circuit stays open before a trial call (default 30000 ms). */
  cooldownMs?: number;
  /** Milliseconds clock; injectable for tests (default `Date.now`). */
  now?: () => number;
  /** Told about every call, including refused ones. Exceptions it throws are ignored. */
  onCall?: (record: LlmCallRecord) => void;
  /** Told when the circuit changes state. Exceptions it throws are ignored. */
  onStateChange?: (to: BreakerState, from: BreakerState) => void;
}

/** Retry-After for calls refused while the half-open trial is running. */
const TRIAL_RETRY_AFTER_MS = 1000;

export class CircuitBreakerLlm implements GuardedLlmProvider {
  readonly name: string;
  private readonly failureThreshold: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;
  private current: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private readonly calls: Record<LlmCallOutcome, number> = {
    success: 0,
    retryable_error: 0,
    fatal_error: 0,
    aborted: 0,
    refused: 0,
  };
  private readonly usage: TokenUsage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

  constructor(
    readonly inner: LlmProvider,
    private readonly options: CircuitBreakerOptions = {},
  ) {
    this.name = inner.name;
    this.failureThreshold = Math.max(1, options.failureThreshold ?? 5);
    this.cooldownMs = Math.max(0, options.cooldownMs ?? 30_000);
    this.now = options.now ?? Date.now;
  }

  /** The state as of now: an open circuit whose cool-down is over reads as half-open. */
  state(): BreakerState {
    if (this.current === 'open' && this.remainingCooldownMs() === 0) return 'half_open';
    return this.current;
  }

  /** Open means a call made now would be refused. */
  availability(): LlmAvailability {
    const waitMs = this.refusalWaitMs();
    return waitMs === null
      ? { open: false, retryAfterSeconds: null }
      : { open: true, retryAfterSeconds: seconds(waitMs) };
  }

  stats(): LlmCallStats {
    return {
      state: this.state(),
      consecutiveFailures: this.consecutiveFailures,
      calls: { ...this.calls },
      usage: { ...this.usage },
    };
  }

  async complete(req: LlmRequest): Promise<LlmResponse> {
    const startedAt = this.now();
    const waitMs = this.refusalWaitMs();
    if (waitMs !== null) {
      const error = new LlmError(
        `LLM provider unavailable: circuit open, retry in ${seconds(waitMs)} s`,
        true,
        'unavailable',
        waitMs,
      );
      this.record(req, 'refused', startedAt, null, error);
      throw error;
    }
    const isTrial = this.state() === 'half_open';
    if (isTrial) {
      this.trialInFlight = true;
      this.moveTo('half_open');
    }
    try {
      const response = await this.inner.complete(req);
      this.onSuccess();
      this.record(req, 'success', startedAt, response, null);
      return response;
    } catch (err) {
      const outcome = outcomeOf(err);
      if (outcome === 'retryable_error') this.onRetryableFailure();
      this.record(req, outcome, startedAt, null, err);
      throw err;
    } finally {
      if (isTrial) this.trialInFlight = false;
    }
  }

  /** Milliseconds until a call would be let through, or null when it would be now. */
  private refusalWaitMs(): number | null {
    const state = this.state();
    if (state === 'open') return this.remainingCooldownMs();
    if (state === 'half_open' && this.trialInFlight) return TRIAL_RETRY_AFTER_MS;
    return null;
  }

  private remainingCooldownMs(): number {
    return Math.max(0, this.openedAt + this.cooldownMs - this.now());
  }

  private onSuccess(): void {
    this.consecutiveFailures = 0;
    this.moveTo('closed');
  }

  private onRetryableFailure(): void {
    this.consecutiveFailures += 1;
    const state = this.state();
    if (state === 'half_open' || (state === 'closed' && this.consecutiveFailures >= this.failureThreshold)) {
      this.openedAt = this.now();
      this.moveTo('open');
    }
  }

  private moveTo(to: BreakerState): void {
    const from = this.current;
    this.current = to;
    if (from === to) return;
    try {
      this.options.onStateChange?.(to, from);
    } catch {
      // an observer must not break a call
    }
  }

  private record(
    req: LlmRequest,
    outcome: LlmCallOutcome,
    startedAt: number,
    response: LlmResponse | null,
    error: unknown,
  ): void {
    this.calls[outcome] += 1;
    if (response?.usage) {
      this.usage.prompt_tokens += response.usage.prompt_tokens;
      this.usage.completion_tokens += response.usage.completion_tokens;
      this.usage.total_tokens += response.usage.total_tokens;
    }
    if (!this.options.onCall) return;
    const llmError = error instanceof LlmError ? error : null;
    try {
      this.options.onCall({
        provider: this.name,
        executionId: req.executionId,
        stepId: req.stepId,
        attempt: req.attempt,
        outcome,
        errorKind: error === null ? null : (llmError?.kind ?? null),
        status: llmError?.status ?? null,
        durationMs: Math.max(0, this.now() - startedAt),
        usage: response?.usage ?? null,
        model: response?.model ?? null,
      });
    } catch {
      // an observer must not break a call
    }
  }
}

function outcomeOf(err: unknown): LlmCallOutcome {
  if (!(err instanceof LlmError)) return 'fatal_error';
  if (err.kind === 'aborted') return 'aborted';
  return err.retryable ? 'retryable_error' : 'fatal_error';
}

function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
