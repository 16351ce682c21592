/**
 * End-to-end benchmark (not a test) through the public API, fake model, durable writes on:
 * start N `quick-summary` executions as fast as the API accepts them and wait until all are
 * `completed`; report executions per second and p99 start-to-completed latency (from the
 * server's own created_at/completed_at). Baseline in the same run: the same engine in-process
 * with the in-memory store (no HTTP, no fsync), i.e. what the API and durability cost.
 * Also the RSS of the server holding 10k and 50k stored executions, against an empty one.
 *
 *   npx tsx scripts/bench-e2e.ts [--executions 1000] [--concurrency 64]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createEngine } from '../src/engine/engine.js';
import { WorkflowRegistry } from '../src/engine/registry.js';
import { FakeLlm } from '../src/llm/fake.js';
import { MemoryExecutionStore } from '../src/store/memory.js';
import { sampleRecord, seedFiles } from './bench-store.js';
import { ROOT, startServer } from './bench-support.js';

export interface E2eBenchResult {
  executions: number;
  api: { perSecond: number; p50Ms: number; p99Ms: number; wallMs: number };
  inProcessMemory: { perSecond: number };
  /** RSS of the server process: empty, and holding `sizes[0]` and `sizes[1]` stored executions. */
  rss: { sizes: [number, number]; emptyMb: number; at10kMb: number; at50kMb: number };
}

export interface E2eBenchOptions {
  executions?: number;
  concurrency?: number;
  rssSizes?: [number, number];
  dir?: string;
  log?: (line: string) => void;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

interface ExecutionBody {
  execution_id: string;
  status: string;
  created_at: string;
  completed_at: string | null;
}

async function throughThePublicApi(url: string, n: number, concurrency: number): Promise<E2eBenchResult['api']> {
  let next = 0;
  const ids: string[] = [];
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const res = await fetch(`${url}/api/v1/workflows/quick-summary/start`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          project_id: `bench-${i % 20}`,
          initial_context: { text: `Benchmark text number ${i}. `.repeat(5) },
        }),
      });
      if (res.status !== 202) throw new Error(`start answered ${res.status}: ${await res.text()}`);
      ids.push(((await res.json()) as ExecutionBody).execution_id);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  // Wait until nothing is pending or running (a cheap query on the index), then read them all.
  for (;;) {
    const busy = (await (await fetch(`${url}/api/v1/executions?status=pending&status=running&limit=1`)).json()) as {
      items: unknown[];
    };
    if (busy.items.length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const done = new Map<string, ExecutionBody>();
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
    const page = (await (await fetch(`${url}/api/v1/executions?${q}`)).json()) as {
      items: ExecutionBody[];
      next_cursor: string | null;
    };
    for (const e of page.items) done.set(e.execution_id, e);
    cursor = page.next_cursor;
  } while (cursor);
  const unfinished = ids.filter((id) => done.get(id)?.status !== 'completed');
  if (unfinished.length > 0)
    throw new Error(
      `${unfinished.length} executions did not complete (e.g. ${JSON.stringify(done.get(unfinished[0]!)).slice(0, 300)})`,
    );
  const lastCompleted = Math.max(...ids.map((id) => Date.parse(done.get(id)!.completed_at!)));
  const firstCreated = Math.min(...ids.map((id) => Date.parse(done.get(id)!.created_at)));
  const latencies = ids.map((id) => Date.parse(done.get(id)!.completed_at!) - Date.parse(done.get(id)!.created_at));
  const wallMs = Math.max(lastCompleted - firstCreated, 1);
  return { perSecond: (n * 1000) / wallMs, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), wallMs };
}

async function inProcessMemory(n: number): Promise<number> {
  const registry = await WorkflowRegistry.load(join(ROOT, 'seeds/workflows'));
  const store = new MemoryExecutionStore();
  await store.init();
  const engine = createEngine({ registry, store, llm: new FakeLlm() });
  const t0 = performance.now();
  const starts = [];
  for (let i = 0; i < n; i++) {
    starts.push(
      engine.start({
        workflowId: 'quick-summary',
        projectId: `m-${i % 20}`,
        initialContext: { text: `Benchmark text number ${i}. `.repeat(5) },
        actor: { id: 'bench', admin: true },
      }),
    );
  }
  await Promise.all(starts);
  for (;;) {
    await engine.idle();
    if (store.countByStatus().completed === n) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = performance.now() - t0;
  await engine.shutdown();
  return (n * 1000) / ms;
}

async function rssHolding(dir: string, count: number): Promise<number> {
  await rm(dir, { recursive: true, force: true });
  if (count > 0) await seedFiles(dir, await sampleRecord(), 0, count);
  const server = await startServer(dir);
  // A few requests so the numbers include a warmed-up server, then let GC settle.
  for (let i = 0; i < 20; i++) await fetch(`${server.url}/api/v1/executions?limit=20`);
  await new Promise((r) => setTimeout(r, 500));
  const mb = rssMb(server.proc.pid!);
  await server.stop();
  await rm(dir, { recursive: true, force: true });
  return mb;
}

export async function runE2eBench(options: E2eBenchOptions = {}): Promise<E2eBenchResult> {
  const n = options.executions ?? 1000;
  const concurrency = options.concurrency ?? 64;
  const [small, large] = options.rssSizes ?? [10_000, 50_000];
  const log = options.log ?? (() => undefined);
  const dir = resolve(options.dir ?? join(ROOT, '.bench', 'e2e'));
  await rm(dir, { recursive: true, force: true });
  execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });

  const server = await startServer(join(dir, 'run'));
  let api: E2eBenchResult['api'];
  try {
    api = await throughThePublicApi(server.url, n, concurrency);
  } finally {
    await server.stop();
  }
  log(
    `api: ${n} executions in ${api.wallMs.toFixed(0)} ms = ${api.perSecond.toFixed(0)}/s, p50 ${api.p50Ms} ms, p99 ${api.p99Ms} ms`,
  );
  const memory = await inProcessMemory(n);
  log(`in-process, memory store: ${memory.toFixed(0)}/s`);
  const emptyMb = await rssHolding(join(dir, 'rss'), 0);
  const at10kMb = await rssHolding(join(dir, 'rss'), small);
  const at50kMb = await rssHolding(join(dir, 'rss'), large);
  log(
    `rss: empty ${emptyMb.toFixed(0)} MB, ${small} stored ${at10kMb.toFixed(0)} MB, ${large} stored ${at50kMb.toFixed(0)} MB`,
  );
  await rm(dir, { recursive: true, force: true });
  return {
    executions: n,
    api,
    inProcessMemory: { perSecond: memory },
    rss: { sizes: [small, large], emptyMb, at10kMb, at50kMb },
  };
}

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}

if (require.main === module) {
  runE2eBench({ executions: arg('--executions'), concurrency: arg('--concurrency'), log: (l) => console.log(l) })
    .then((r) => {
      console.log(
        `\n${r.executions} quick-summary executions through the API: ${r.api.perSecond.toFixed(0)}/s (target >= 200/s) ${r.api.perSecond >= 200 ? 'met' : 'NOT met'}`,
      );
      console.log(
        `p99 start-to-completed: ${r.api.p99Ms} ms; in-process memory baseline ${r.inProcessMemory.perSecond.toFixed(0)}/s (api/baseline ${(r.api.perSecond / r.inProcessMemory.perSecond).toFixed(2)}x)`,
      );
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
