/**
 * The whole service in-process, as `npm start` builds it (real lowdb store in a temp DATA_DIR,
 * HTTP + WebSocket on a free port), with the fake model scripted by the test and every HTTP
 * response validated against openapi.yaml (a handler that drifts from the spec answers 500).
 */
import pino from 'pino';
import request from 'supertest';
import { loadConfig, type Config } from '../../src/config.js';
import type { Actor } from '../../src/engine/api.js';
import type { ExecutionStatus } from '../../src/domain/types.js';
import { FakeLlm } from '../../src/llm/fake.js';
import type { GuardedLlmProvider, LlmProvider } from '../../src/llm/port.js';
import { startService, type Service, type ServiceOverrides } from '../../src/service.js';
import { SEED_WORKFLOWS_DIR } from './engine-harness.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait.js';

export interface TestService {
  service: Service;
  url: string;
  fake: FakeLlm;
  config: Config;
  dataDir: string;
  /** supertest against the running server. */
  http: () => request.Agent;
  /** Polls GET /executions/{id} until its status is one of `status`. */
  waitForStatus: (
    id: string,
    status: ExecutionStatus | ExecutionStatus[],
    headers?: Record<string, string>,
  ) => Promise<ExecutionBody>;
  stop: () => Promise<void>;
}

export interface ExecutionBody {
  execution_id: string;
  status: ExecutionStatus;
  [key: string]: unknown;
}

export interface TestServiceOptions {
  env?: Record<string, string>;
  dataDir?: string;
  fake?: FakeLlm;
  llm?: LlmProvider | GuardedLlmProvider;
  engineOptions?: ServiceOverrides['engineOptions'];
  gatewayOptions?: ServiceOverrides['gatewayOptions'];
}

export const ADMIN_ACTOR: Actor = { id: 'anonymous', admin: true };

export async function startTestService(opts: TestServiceOptions = {}): Promise<TestService> {
  const dataDir = opts.dataDir ?? (await tempDir('hitl-service-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    WORKFLOWS_DIR: SEED_WORKFLOWS_DIR,
    LOG_LEVEL: 'silent',
    VALIDATE_RESPONSES: 'true',
    ...opts.env,
  });
  const fake = opts.fake ?? new FakeLlm();
  const service = await startService(config, {
    logger: pino({ level: 'silent' }),
    llm: opts.llm ?? fake,
    engineOptions: { retry: { baseDelayMs: 5, maxDelayMs: 20 }, progressIntervalMs: 10, ...opts.engineOptions },
    gatewayOptions: opts.gatewayOptions,
  });
  const http = (): request.Agent => request.agent(service.url);
  return {
    service,
    url: service.url,
    fake,
    config,
    dataDir,
    http,
    waitForStatus: async (id, status, headers = {}) => {
      const wanted = Array.isArray(status) ? status : [status];
      let last = '';
      try {
        return await waitFor(
          async () => {
            const res = await http().get(`/api/v1/executions/${id}`).set(headers);
            last = String((res.body as ExecutionBody).status);
            return wanted.includes((res.body as ExecutionBody).status) ? (res.body as ExecutionBody) : null;
          },
          `${id} to be ${wanted.join('|')}`,
          10_000,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message} (last: ${last})`);
      }
    },
    stop: () => service.stop(),
  };
}
