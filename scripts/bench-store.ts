/**
 * Store benchmark (not a test): the cost of saving one execution with few and with many stored,
 * for our lowdb adapter (one durable file per execution) and for a plain single-file lowdb
 * baseline (`new Low(new JSONFile(...))`), plus the time and memory to load many at start-up.
 *
 *   npx tsx scripts/bench-store.ts [--small 100] [--large 50000] [--samples 40] [--dir .bench/store]
 *
 * The records are real: a completed quick-summary execution produced by the engine with the fake
 * model, cloned with fresh ids. Our saves include fsync of the file and the directory; the
 * baseline's do not (lowdb's writer only renames), so the comparison favours the baseline.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import type { AnyExecutionEvent, Execution } from '../src/domain/types.js';
import { createEngine } from '../src/engine/engine.js';
import { WorkflowRegistry } from '../src/engine/registry.js';
import { appendEvents, draft } from '../src/events/log.js';
import { FakeLlm } from '../src/llm/fake.js';
import { LowdbExecutionStore } from '../src/store/lowdb.js';
import { MemoryExecutionStore } from '../src/store/memory.js';
import type { StoredRecord } from '../src/store/records.js';
import { serializeRecord } from '../src/store/record-file.js';

export interface StoreBenchOptions {
  /** Working directory (wiped first). Default `.bench/store`. */
  dir?: string;
  small?: number;
  large?: number;
  /** Timed saves per measurement (median reported). */
  samples?: number;
  /** Timed baseline writes per measurement (each rewrites the whole file). */
  baselineSamples?: number;
  /** Measure loading in a fresh child process (honest RSS). Default true. */
  loadInChild?: boolean;
  log?: (line: string) => void;
}

export interface SaveTiming {
  /** Median ms to save one execution with `small` stored. */
  atSmallMs: number;
  /** Median ms to save one execution with `large` stored. */
  atLargeMs: number;
  /** atLarge / atSmall: 1.0 means independent of how many are stored. */
  ratio: number;
}

export interface StoreBenchResult {
  small: number;
  large: number;
  recordBytes: number;
  ours: SaveTiming;
  baseline: SaveTiming;
  /** How many times slower the baseline is than ours with `large` stored. */
  baselineVsOursAtLarge: number;
  load: { executions: number; ms: number; rssMb: number };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One real completed execution and its events, produced by the engine. */
export async function sampleRecord(): Promise<StoredRecord> {
  const registry = await WorkflowRegistry.load(resolve(__dirname, '../seeds/workflows'));
  const store = new MemoryExecutionStore();
  const engine = createEngine({ registry, store, llm: new FakeLlm() });
  const started = await engine.start({
    workflowId: 'quick-summary',
    projectId: 'bench',
    initialContext: { text: 'A benchmark execution. '.repeat(20) },
    actor: { id: 'bench', admin: true },
  });
  for (;;) {
    await engine.idle();
    const e = await store.get(started.execution_id);
    if (e && e.status === 'completed') break;
    await new Promise((r) => setTimeout(r, 5));
  }
  await engine.shutdown();
  return {
    execution: (await store.get(started.execution_id))!,
    events: await store.events(started.execution_id, 0, 1000),
  };
}

export function cloneRecord(template: StoredRecord, index: number): StoredRecord {
  const id = randomUUID();
  const created = new Date(Date.UTC(2026, 0, 1) + index * 1000).toISOString();
  const execution: Execution = { ...template.execution, execution_id: id, created_at: created, updated_at: created };
  const events = template.events.map((e) => ({ ...e, execution_id: id })) as AnyExecutionEvent[];
  return { execution, events };
}

/**
 * Writes record files directly (no fsync): only to set the stage quickly. `vary` may change each
 * clone (status, project) so that filters have something to select.
 */
export async function seedFiles(
  dir: string,
  template: StoredRecord,
  from: number,
  to: number,
  vary: (record: StoredRecord, index: number) => StoredRecord = (r) => r,
): Promise<string[]> {
  await mkdir(join(dir, 'executions'), { recursive: true });
  const ids: string[] = [];
  const batch = 256;
  for (let start = from; start < to; start += batch) {
    const writes: Promise<void>[] = [];
    for (let i = start; i < Math.min(to, start + batch); i++) {
      const record = vary(cloneRecord(template, i), i);
      ids.push(record.execution.execution_id);
      writes.push(writeFile(join(dir, 'executions', `${record.execution.execution_id}.json`), serializeRecord(record)));
    }
    await Promise.all(writes);
  }
  flushDisk();
  return ids;
}

/** Seeding writes without fsync; flush it so the timed saves do not pay for it. */
function flushDisk(): void {
  try {
    execFileSync('sync');
  } catch {
    // No `sync` binary (not Linux/macOS): the first timed saves may include some write-back.
  }
}

/** A state change like the engine makes: one step event appended, status unchanged. */
function nextVersion(record: Execution, n: number): { execution: Execution; events: AnyExecutionEvent[] } {
  return appendEvents(
    { ...record, updated_at: new Date().toISOString() },
    [draft('step_failed', 'summarize', { error: `bench ${n}`, attempt: 1, will_retry: true, retry_in_ms: 0 })],
    new Date().toISOString(),
  );
}

const WARM_UP_SAVES = 5;

/**
 * Times saves on two stores alternately (the order flips each round), so disk noise (fsync
 * latency varies with what else the disk is doing) falls on both measurements alike.
 */
async function timeOurSaves(
  stores: { store: LowdbExecutionStore; ids: string[] }[],
  samples: number,
): Promise<number[]> {
  const total = samples + WARM_UP_SAVES;
  const plans = await Promise.all(
    stores.map(async ({ store, ids }) => {
      const picked = Array.from({ length: total }, (_, i) => ids[Math.floor((i * ids.length) / total)]!);
      const current = new Map<string, Execution>();
      for (const id of picked) current.set(id, (await store.get(id))!);
      return { store, picked, current, timings: [] as number[] };
    }),
  );
  for (let n = 0; n < total; n++) {
    const order = n % 2 === 0 ? plans : [...plans].reverse();
    for (const plan of order) {
      const id = plan.picked[n]!;
      const next = nextVersion(plan.current.get(id)!, n);
      const t0 = performance.now();
      await plan.store.save(next.execution, next.events);
      if (n >= WARM_UP_SAVES) plan.timings.push(performance.now() - t0);
      plan.current.set(id, next.execution);
    }
  }
  return plans.map((p) => median(p.timings));
}

async function timeBaselineSaves(
  path: string,
  template: StoredRecord,
  count: number,
  samples: number,
): Promise<number> {
  await rm(path, { force: true });
  const db = new Low<{ executions: Record<string, StoredRecord> }>(new JSONFile(path), { executions: {} });
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const record = cloneRecord(template, i);
    db.data.executions[record.execution.execution_id] = record;
    ids.push(record.execution.execution_id);
  }
  await db.write();
  const timings: number[] = [];
  for (let n = 0; n < samples; n++) {
    const id = ids[Math.floor((n * ids.length) / samples)]!;
    const record = db.data.executions[id]!;
    const next = nextVersion(record.execution, n);
    const t0 = performance.now();
    db.data.executions[id] = { execution: next.execution, events: record.events.concat(next.events) };
    await db.write();
    timings.push(performance.now() - t0);
  }
  db.data = { executions: {} };
  return median(timings);
}

/** Loads a data dir and reports time and RSS (run in a fresh process by `runStoreBench`). */
export async function measureLoad(dataDir: string): Promise<{ executions: number; ms: number; rssMb: number }> {
  const t0 = performance.now();
  const store = new LowdbExecutionStore({ dataDir });
  await store.init();
  const ms = performance.now() - t0;
  const rssMb = process.memoryUsage().rss / 2 ** 20;
  const executions = store.loadStats.loaded;
  await store.close();
  return { executions, ms, rssMb };
}

function measureLoadInChild(dataDir: string): Promise<{ executions: number; ms: number; rssMb: number }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, __filename, '--measure-load', dataDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) reject(new Error(`load measurement exited with ${code}: ${out}`));
      else resolvePromise(JSON.parse(line) as { executions: number; ms: number; rssMb: number });
    });
  });
}

export async function runStoreBench(options: StoreBenchOptions = {}): Promise<StoreBenchResult> {
  const dir = resolve(options.dir ?? '.bench/store');
  const small = options.small ?? 100;
  const large = options.large ?? 50_000;
  const samples = options.samples ?? 40;
  const baselineSamples = options.baselineSamples ?? 5;
  const log = options.log ?? (() => undefined);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });

  const template = await sampleRecord();
  const recordBytes = Buffer.byteLength(serializeRecord(template));
  log(`record: a completed quick-summary execution with ${template.events.length} events, ${recordBytes} bytes`);

  const smallDir = join(dir, 'ours-small');
  const smallIds = await seedFiles(smallDir, template, 0, small);
  const largeDir = join(dir, 'ours-large');
  log(`seeding ${large} execution files...`);
  const largeIds = await seedFiles(largeDir, template, 0, large);
  const load = options.loadInChild === false ? await measureLoad(largeDir) : await measureLoadInChild(largeDir);
  log(`ours     load ${load.executions} stored: ${load.ms.toFixed(0)} ms, RSS ${load.rssMb.toFixed(0)} MB`);

  const smallStore = new LowdbExecutionStore({ dataDir: smallDir, cacheSize: (samples + WARM_UP_SAVES) * 2 });
  const largeStore = new LowdbExecutionStore({ dataDir: largeDir, cacheSize: (samples + WARM_UP_SAVES) * 2 });
  await smallStore.init();
  await largeStore.init();
  const [oursSmall, oursLarge] = (await timeOurSaves(
    [
      { store: smallStore, ids: smallIds },
      { store: largeStore, ids: largeIds },
    ],
    samples,
  )) as [number, number];
  await smallStore.close();
  await largeStore.close();
  log(`ours     save with ${small} stored: ${oursSmall.toFixed(3)} ms`);
  log(`ours     save with ${large} stored: ${oursLarge.toFixed(3)} ms`);

  const baselineSmall = await timeBaselineSaves(join(dir, 'baseline-small.json'), template, small, baselineSamples);
  log(`baseline save with ${small} stored: ${baselineSmall.toFixed(3)} ms`);
  const baselineLarge = await timeBaselineSaves(join(dir, 'baseline-large.json'), template, large, baselineSamples);
  log(`baseline save with ${large} stored: ${baselineLarge.toFixed(3)} ms`);

  await rm(dir, { recursive: true, force: true });
  return {
    small,
    large,
    recordBytes,
    ours: { atSmallMs: oursSmall, atLargeMs: oursLarge, ratio: oursLarge / oursSmall },
    baseline: { atSmallMs: baselineSmall, atLargeMs: baselineLarge, ratio: baselineLarge / baselineSmall },
    baselineVsOursAtLarge: baselineLarge / oursLarge,
    load,
  };
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const loadDir = argValue('--measure-load');
  if (loadDir) {
    process.stdout.write(`${JSON.stringify(await measureLoad(loadDir))}\n`);
    return;
  }
  const num = (name: string): number | undefined => (argValue(name) ? Number(argValue(name)) : undefined);
  const r = await runStoreBench({
    dir: argValue('--dir'),
    small: num('--small'),
    large: num('--large'),
    samples: num('--samples'),
    log: (line) => console.log(line),
  });
  const fmt = (n: number): string => n.toFixed(3);
  console.log('');
  console.log(`save one execution     | ${r.small} stored | ${r.large} stored | ratio`);
  console.log(
    `ours (file/execution)  | ${fmt(r.ours.atSmallMs)} ms | ${fmt(r.ours.atLargeMs)} ms | ${r.ours.ratio.toFixed(2)}x`,
  );
  console.log(
    `lowdb single file      | ${fmt(r.baseline.atSmallMs)} ms | ${fmt(r.baseline.atLargeMs)} ms | ${r.baseline.ratio.toFixed(2)}x`,
  );
  console.log(`baseline / ours at ${r.large}: ${r.baselineVsOursAtLarge.toFixed(1)}x`);
  console.log(`load ${r.load.executions} executions: ${r.load.ms.toFixed(0)} ms, RSS ${r.load.rssMb.toFixed(0)} MB`);
  const ok = r.ours.ratio <= 1.2 && r.load.ms < 3000 && r.load.rssMb < 300;
  console.log(`targets (ratio <= 1.2, load < 3000 ms, < 300 MB): ${ok ? 'met' : 'NOT met'}`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
