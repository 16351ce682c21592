/**
 * Composition root: config -> store, registry, model, engine -> HTTP app + WebSocket gateway on
 * one http.Server. `startService` is what `npm start` runs (via src/server.ts), and what tests
 * and benchmarks start when they want the real thing in-process.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino, { type Logger as PinoLogger } from 'pino';
import { buildRequestListener } from './app.js';
import type { Config } from './config.js';
import { createEngine, type Engine, type EngineDeps } from './engine/engine.js';
import { WorkflowRegistry } from './engine/registry.js';
import { createAuthenticator } from './http/auth.js';
import { createMetrics } from './http/metrics.js';
import { createLlmProvider } from './llm/index.js';
import { isGuarded, type GuardedLlmProvider, type LlmProvider } from './llm/port.js';
import { FileIdempotencyStore, LowdbExecutionStore } from './store/lowdb.js';
import { attachWebSocketGateway, type Gateway, type GatewayOptions } from './ws/gateway.js';

export interface ServiceOverrides {
  logger?: PinoLogger;
  /** Replace the configured model (tests pass a scripted FakeLlm). */
  llm?: LlmProvider | GuardedLlmProvider;
  engineOptions?: EngineDeps['options'];
  gatewayOptions?: GatewayOptions;
}

export interface Service {
  server: http.Server;
  engine: Engine;
  gateway: Gateway;
  url: string;
  /** Graceful: stop accepting, close WebSockets with 1001, let writes finish, close stores. */
  stop(): Promise<void>;
}

export function createLogger(config: Pick<Config, 'logLevel'>): PinoLogger {
  return pino({
    level: config.logLevel,
    redact: {
      paths: ['*.authorization', '*["x-api-key"]', '*.apiKey', '*.api_key', 'config.llm.apiKey'],
      censor: '[redacted]',
    },
  });
}

export async function startService(config: Config, overrides: ServiceOverrides = {}): Promise<Service> {
  const logger = overrides.logger ?? createLogger(config);
  const registry = await WorkflowRegistry.load(config.workflowsDir);
  const store = new LowdbExecutionStore({ dataDir: config.dataDir, logger });
  const idempotencyStore = new FileIdempotencyStore({ dataDir: config.dataDir, logger });
  await store.init();
  await idempotencyStore.init();

  // The closures read `engine` and `llm` at scrape time, after both exist.
  const metrics = createMetrics({
    countByStatus: () => engine.countByStatus(),
    breakerOpen: () => isGuarded(llm) && llm.availability().open,
  });
  const llm =
    overrides.llm ??
    createLlmProvider(config.llm, {
      onCall: (record) => metrics.onLlmCall(record),
      onStateChange: (to, from) => logger.warn({ from, to }, `LLM circuit breaker ${to}`),
    });
  if (config.llm.provider === 'fake' && !overrides.llm) {
    logger.warn(
      '*** LLM_PROVIDER=fake: a deterministic offline model fabricates every output. Set LLM_PROVIDER, LLM_MODEL and LLM_API_KEY (or LLM_BASE_URL) for a real model. ***',
    );
  }

  const engine = createEngine({
    registry,
    store,
    llm,
    logger,
    options: {
      maxConcurrentExecutions: config.maxConcurrentExecutions,
      llmConcurrency: config.llm.concurrency,
      llmTimeoutMs: config.llm.timeoutMs,
      ...overrides.engineOptions,
    },
  });

  const authenticate = createAuthenticator(config.auth.mode, config.auth.apiKeys);
  const listener = buildRequestListener({
    engine,
    idempotencyStore,
    authenticate,
    metrics,
    logger,
    bodyLimit: config.bodyLimit,
    corsOrigins: config.corsOrigins,
    validateResponses: config.validateResponses,
  });
  const server = http.createServer(listener);
  server.keepAliveTimeout = 65_000;
  const gateway = attachWebSocketGateway(server, { engine, authenticate, logger, options: overrides.gatewayOptions });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  await engine.recover();
  logger.info(
    { url, workflows: registry.size, data_dir: config.dataDir, llm: config.llm.provider, auth: config.auth.mode },
    `listening on ${url}`,
  );

  let stopping: Promise<void> | undefined;
  return {
    server,
    engine,
    gateway,
    url,
    stop: () =>
      (stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await gateway.close();
        server.closeIdleConnections();
        await engine.shutdown();
        await closed;
        await store.close();
        await idempotencyStore.close();
        logger.info('stopped');
      })()),
  };
}
