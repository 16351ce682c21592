/**
 * The whole service as `npm start` builds it with `LLM_PROVIDER=openai`, pointed at a loopback
 * OpenAI-compatible chat-completions server the test scripts. Nothing is overridden but the
 * logger and the engine's backoff: the model is what `createLlmProvider(config.llm)` makes
 * (OpenAI SDK behind the circuit breaker, wired to the metrics), so a test sees what an operator
 * would: HTTP answers, stored events, the requests that reached the model server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import request from 'supertest';
import { loadConfig, type Config } from '../../src/config.js';
import type { AnyExecutionEvent, ExecutionStatus } from '../../src/domain/types.js';
import { startService, type Service, type ServiceOverrides } from '../../src/service.js';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fake-openai-server.js';

export const SEED_WORKFLOWS = path.resolve(__dirname, '..', '..', 'seeds', 'workflows');

export interface ExecutionBody {
  execution_id: string;
  status: ExecutionStatus;
  error: string | null;
  usage?: TokenUsageBody | null;
  steps: Array<{
    step_id: string;
    status: string;
    attempts: number;
    revision: number;
    output: unknown;
    error: string | null;
    usage?: TokenUsageBody | null;
  }>;
  pending_acceptance: { step_id: string; output: unknown; revision: number } | null;
  pending_clarification: { step_id: string; questions: Array<{ id: string }> } | null;
  [key: string]: unknown;
}

export interface TokenUsageBody {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface LlmService {
  service: Service;
  config: Config;
  /** The model server. */
  model: FakeOpenAiServer;
  http: () => request.Agent;
  /** Every event published on the engine's bus (persisted ones and `step_progress`), in order. */
  published: AnyExecutionEvent[];
  start: (workflowId: string, initialContext: Record<string, unknown>) => Promise<ExecutionBody>;
  get: (id: string) => Promise<ExecutionBody>;
  waitForStatus: (
    id: string,
    status: ExecutionStatus | ExecutionStatus[],
    timeoutMs?: number,
  ) => Promise<ExecutionBody>;
  /** Persisted events, from GET /executions/{id}/events. */
  events: (id: string) => Promise<AnyExecutionEvent[]>;
  metrics: () => Promise<string>;
  /** Between tests sharing one service: forgets scripts, recorded requests and published events. */
  reset: () => void;
  stop: () => Promise<void>;
}

export interface LlmServiceOptions {
  /** Environment on top of the defaults below (LLM_TIMEOUT_MS, LLM_BREAKER_*, LLM_RESPONSE_FORMAT, ...). */
  env?: Record<string, string>;
  engineOptions?: ServiceOverrides['engineOptions'];
}

export async function startLlmService(opts: LlmServiceOptions = {}): Promise<LlmService> {
  const model = await startFakeOpenAiServer();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'hitl-llm-engine-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    WORKFLOWS_DIR: SEED_WORKFLOWS,
    LOG_LEVEL: 'silent',
    VALIDATE_RESPONSES: 'true',
    LLM_PROVIDER: 'openai',
    LLM_BASE_URL: model.url,
    LLM_API_KEY: 'test',
    LLM_MODEL: 'm',
    LLM_TIMEOUT_MS: '5000',
    LLM_BREAKER_THRESHOLD: '100',
    ...opts.env,
  });
  const service = await startService(config, {
    logger: pino({ level: 'silent' }),
    engineOptions: { retry: { baseDelayMs: 5, maxDelayMs: 20 }, ...opts.engineOptions },
  });
  const published: AnyExecutionEvent[] = [];
  const unsubscribe = service.engine.bus.subscribeAll((e) => published.push(e));
  const http = (): request.Agent => request.agent(service.url);
  const get = async (id: string): Promise<ExecutionBody> => {
    const res = await http().get(`/api/v1/executions/${id}`).expect(200);
    return res.body as ExecutionBody;
  };
  return {
    service,
    config,
    model,
    http,
    published,
    start: async (workflowId, initialContext) => {
      const res = await http()
        .post(`/api/v1/workflows/${workflowId}/start`)
        .send({ project_id: 'proj-llm', initial_context: initialContext });
      if (res.status !== 202) throw new Error(`start ${workflowId}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as ExecutionBody;
    },
    get,
    waitForStatus: async (id, status, timeoutMs = 8000) => {
      const wanted = Array.isArray(status) ? status : [status];
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const body = await get(id);
        if (wanted.includes(body.status)) return body;
        if (Date.now() > deadline) {
          throw new Error(
            `${id} is ${body.status} (error: ${body.error}), not ${wanted.join('|')}, after ${timeoutMs} ms`,
          );
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    events: async (id) => {
      const res = await http().get(`/api/v1/executions/${id}/events?limit=1000`).expect(200);
      return (res.body as { items: AnyExecutionEvent[] }).items;
    },
    metrics: async () => (await http().get('/metrics').expect(200)).text,
    reset: () => {
      model.reset();
      model.setDefault({ type: 'reply', text: '{}' });
      published.length = 0;
    },
    stop: async () => {
      unsubscribe();
      await service.stop();
      await model.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Sum of a Prometheus counter's samples whose labels include all of `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) total += Number(m[3]);
  }
  return total;
}

/** A valid `summarize` output of quick-summary. */
export const SUMMARY = { title: 'Fox', summary: 'A quick fox jumps.', key_points: ['fox', 'jumps'] };

/** A valid `draft_brief` output of project-brief. */
export function brief(title: string): Record<string, unknown> {
  return {
    title,
    problem: 'Teams lose track of decisions.',
    audience: 'engineering managers',
    goals: ['one place for decisions'],
    non_goals: [],
    success_metrics: ['weekly active teams'],
  };
}

/** A valid `task_breakdown` output of project-brief. */
export const TASKS = {
  tasks: [{ id: 't1', title: 'Data model', description: 'Design the decision record.', estimate_days: 2 }],
};

export interface SentBody {
  model: string;
  stream: boolean;
  messages: Array<{ role: string; content: string }>;
  response_format: { type: string; json_schema?: { name: string; schema: Record<string, unknown>; strict: boolean } };
}
