/**
 * Prometheus metrics (prom-client), one registry per app so tests can build several apps:
 * HTTP latency by route, executions by status (read from the store at scrape time), LLM calls
 * and token usage (fed by the engine's observer).
 */
import client from 'prom-client';
import type { RequestHandler } from 'express';
import type { ExecutionStatus, TokenUsage } from '../domain/types.js';
import { operationIdOf } from './request-log.js';

export interface LlmCallInfo {
  provider: string;
  model: string | null;
  outcome: string;
  durationMs: number;
  usage: TokenUsage | null;
}

export interface Metrics {
  registry: client.Registry;
  httpMiddleware: RequestHandler;
  /** One finished request: `route` is its operationId (or `not_found` / `other`). */
  observeHttp: (route: string, method: string, status: number, seconds: number) => void;
  /** A GET that matched a fast-lane operation was `served` by the lane or `deferred` to Express. */
  countFastLane: (outcome: 'served' | 'deferred') => void;
  onLlmCall: (info: LlmCallInfo) => void;
  text: () => Promise<{ contentType: string; body: string }>;
}

export function createMetrics(source: {
  countByStatus: () => Promise<Record<ExecutionStatus, number>>;
  breakerOpen: () => boolean;
}): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'hitl_process_' });

  const httpDuration = new client.Histogram({
    name: 'hitl_http_request_duration_seconds',
    help: 'HTTP request latency by route (operationId), method and status.',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  new client.Gauge({
    name: 'hitl_executions',
    help: 'Stored executions by status.',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const counts = await source.countByStatus();
      for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
    },
  });
  new client.Gauge({
    name: 'hitl_llm_breaker_open',
    help: '1 while the LLM circuit breaker refuses calls.',
    registers: [registry],
    collect() {
      this.set(source.breakerOpen() ? 1 : 0);
    },
  });
  const llmCalls = new client.Counter({
    name: 'hitl_llm_calls_total',
    help: 'LLM calls by provider, model and outcome.',
    labelNames: ['provider', 'model', 'outcome'],
    registers: [registry],
  });
  const llmDuration = new client.Histogram({
    name: 'hitl_llm_call_duration_seconds',
    help: 'LLM call latency.',
    labelNames: ['provider', 'outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const llmTokens = new client.Counter({
    name: 'hitl_llm_tokens_total',
    help: 'Tokens used, by provider and kind (prompt, completion).',
    labelNames: ['provider', 'kind'],
    registers: [registry],
  });

  const fastLane = new client.Counter({
    name: 'hitl_http_fast_lane_requests_total',
    help: 'GET requests that matched a fast-lane operation, by outcome: served by the lane, or deferred to the Express path.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const observeHttp: Metrics['observeHttp'] = (route, method, status, seconds) =>
    httpDuration.observe({ route, method, status: String(status) }, seconds);
  const httpMiddleware: RequestHandler = (req, res, next) => {
    const started = performance.now();
    res.once('finish', () => {
      const route = operationIdOf(res) ?? (res.statusCode === 404 ? 'not_found' : 'other');
      observeHttp(route, req.method, res.statusCode, (performance.now() - started) / 1000);
    });
    next();
  };

  return {
    registry,
    httpMiddleware,
    observeHttp,
    countFastLane: (outcome) => fastLane.inc({ outcome }),
    onLlmCall(info) {
      llmCalls.inc({ provider: info.provider, model: info.model ?? 'unknown', outcome: info.outcome });
      llmDuration.observe({ provider: info.provider, outcome: info.outcome }, info.durationMs / 1000);
      if (info.usage) {
        llmTokens.inc({ provider: info.provider, kind: 'prompt' }, info.usage.prompt_tokens);
        llmTokens.inc({ provider: info.provider, kind: 'completion' }, info.usage.completion_tokens);
      }
    },
    async text() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
