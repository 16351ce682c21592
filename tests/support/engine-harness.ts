/**
 * Builds a real engine for tests: the seed workflows, a real store (lowdb in a temp dir by
 * default), the fake model, and small retry delays.
 */
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createEngine, type Engine, type EngineDeps } from '../../src/engine/engine.js';
import { WorkflowRegistry } from '../../src/engine/registry.js';
import { FakeLlm } from '../../src/llm/fake.js';
import type { LlmProvider } from '../../src/llm/port.js';
import { LowdbExecutionStore } from '../../src/store/lowdb.js';
import { MemoryExecutionStore } from '../../src/store/memory.js';
import type { ExecutionStore } from '../../src/store/port.js';
import type { AnyExecutionEvent } from '../../src/domain/types.js';
import { RecordingLogger } from './recording-logger.js';
import { tempDir } from './temp-dir.js';

export const SEED_WORKFLOWS_DIR = resolve(__dirname, '../../seeds/workflows');

let seedRegistry: Promise<WorkflowRegistry> | null = null;
export function seedWorkflows(): Promise<WorkflowRegistry> {
  seedRegistry ??= WorkflowRegistry.load(SEED_WORKFLOWS_DIR);
  return seedRegistry;
}

export interface Harness {
  engine: Engine;
  fake: FakeLlm;
  store: ExecutionStore;
  registry: WorkflowRegistry;
  logger: RecordingLogger;
  dataDir: string;
  /** Every event the bus published (persisted and progress), in order. */
  published: AnyExecutionEvent[];
  /** Shuts the engine down and closes the store. */
  close(): Promise<void>;
}

export interface HarnessOptions {
  dataDir?: string;
  store?: 'lowdb' | 'memory';
  llm?: LlmProvider;
  fake?: FakeLlm;
  options?: EngineDeps['options'];
  observer?: EngineDeps['observer'];
  registry?: WorkflowRegistry;
  recover?: boolean;
  clock?: () => Date;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const logger = new RecordingLogger();
  const dataDir = opts.dataDir ?? (await tempDir('hitl-engine-'));
  const store: ExecutionStore =
    opts.store === 'memory' ? new MemoryExecutionStore() : new LowdbExecutionStore({ dataDir, logger });
  await store.init();
  const fake = opts.fake ?? new FakeLlm();
  const registry = opts.registry ?? (await seedWorkflows());
  const engine = createEngine({
    registry,
    store,
    llm: opts.llm ?? fake,
    logger,
    newId: randomUUID,
    clock: opts.clock,
    random: () => 0.5,
    options: {
      retry: { baseDelayMs: 5, maxDelayMs: 20 },
      progressIntervalMs: 10,
      ...opts.options,
    },
    observer: opts.observer,
  });
  const published: AnyExecutionEvent[] = [];
  engine.bus.subscribeAll((e) => published.push(e));
  if (opts.recover) await engine.recover();
  return {
    engine,
    fake,
    store,
    registry,
    logger,
    dataDir,
    published,
    close: async () => {
      await engine.shutdown();
      await store.close();
    },
  };
}

export function executionFile(dataDir: string, executionId: string): string {
  return join(dataDir, 'executions', `${executionId}.json`);
}
