/** A data factory for provider calls: a valid `LlmRequest` with the parts a test cares about. */
import type { LlmError, LlmRequest } from '../../src/llm/port.js';

export const SUMMARY_SCHEMA = {
  type: 'object',
  properties: { summary: { type: 'string' }, bullets: { type: 'array', items: { type: 'string' } } },
  required: ['summary', 'bullets'],
  additionalProperties: false,
};

export function llmRequest(overrides: Partial<LlmRequest> = {}): LlmRequest {
  return {
    executionId: '6f1c2a9e-0000-4000-8000-000000000001',
    stepId: 'summarize',
    attempt: 1,
    messages: [
      { role: 'system', content: 'You summarise text.' },
      { role: 'user', content: 'Summarise: the quick brown fox.' },
    ],
    outputSchema: SUMMARY_SCHEMA,
    schemaName: 'summarize',
    mayRequestClarification: false,
    timeoutMs: 5000,
    signal: new AbortController().signal,
    ...overrides,
  };
}

/** The rejection of `promise`, which must reject (the test fails if it resolves). */
export async function failureOf(promise: Promise<unknown>): Promise<LlmError> {
  try {
    await promise;
  } catch (err) {
    return err as LlmError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
