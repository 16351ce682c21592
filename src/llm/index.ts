/**
 * The one place that turns LLM configuration into a provider: the chosen model behind the
 * circuit breaker, so every execution shares one view of the provider's availability.
 */
import { AnthropicLlm } from './anthropic.js';
import { CircuitBreakerLlm, type CircuitBreakerOptions } from './breaker.js';
import { FakeLlm } from './fake.js';
import { OpenAiCompatibleLlm } from './openai.js';
import type { LlmProvider } from './port.js';

export type LlmProviderName = 'fake' | 'openai' | 'anthropic';

/** Structurally the `llm` section of the app config, so `createLlmProvider(config.llm)` just works. */
export interface LlmConfig {
  provider: LlmProviderName;
  /** `openai`: the server's `/v1` root (Ollama: `http://127.0.0.1:11434/v1`); `anthropic`: without `/v1`. */
  baseUrl?: string | null;
  apiKey?: string | null;
  /** Defaults to `DEFAULT_MODELS[provider]`. */
  model?: string | null;
  /** Per-call deadline when a step sets none (LLM_TIMEOUT_MS). */
  timeoutMs: number;
  /** `openai` only: `json_object` for servers that do not take `json_schema`. */
  responseFormat: 'json_schema' | 'json_object';
  /** Output token cap; `anthropic` needs one (default 4096), `openai` sends it only when set. */
  maxTokens?: number | null;
  /** Consecutive retryable failures that open the circuit (default 5). */
  breakerFailureThreshold?: number;
  /** Cool-down of an open circuit before a trial call (default 30000 ms). */
  breakerCooldownMs?: number;
  /** `fake` only: latency of every answer (LLM_FAKE_DELAY_MS), for demos and crash tests. */
  fakeDelayMs?: number;
}

export const DEFAULT_MODELS: Record<Exclude<LlmProviderName, 'fake'>, string> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-sonnet-4-5',
};

/** Observers for metrics and logs, and a clock for tests. */
export type LlmObservers = Pick<CircuitBreakerOptions, 'onCall' | 'onStateChange' | 'now'>;

export function createLlmProvider(config: LlmConfig, observers: LlmObservers = {}): CircuitBreakerLlm {
  return new CircuitBreakerLlm(createModel(config), {
    failureThreshold: config.breakerFailureThreshold,
    cooldownMs: config.breakerCooldownMs,
    ...observers,
  });
}

function createModel(config: LlmConfig): LlmProvider {
  switch (config.provider) {
    case 'fake':
      return new FakeLlm({ delayMs: config.fakeDelayMs ?? 0 });
    case 'openai':
      return new OpenAiCompatibleLlm({
        baseUrl: config.baseUrl ?? undefined,
        apiKey: config.apiKey ?? undefined,
        model: config.model ?? DEFAULT_MODELS.openai,
        timeoutMs: config.timeoutMs,
        responseFormat: config.responseFormat,
        maxTokens: config.maxTokens ?? undefined,
      });
    case 'anthropic':
      if (!config.apiKey) throw new Error('LLM_API_KEY is required when LLM_PROVIDER=anthropic');
      return new AnthropicLlm({
        baseUrl: config.baseUrl ?? undefined,
        apiKey: config.apiKey,
        model: config.model ?? DEFAULT_MODELS.anthropic,
        timeoutMs: config.timeoutMs,
        maxTokens: config.maxTokens ?? undefined,
      });
  }
}

export { AnthropicLlm } from './anthropic.js';
export { CircuitBreakerLlm } from './breaker.js';
export type { BreakerState, CircuitBreakerOptions, LlmCallOutcome, LlmCallRecord, LlmCallStats } from './breaker.js';
export { OpenAiCompatibleLlm } from './openai.js';
