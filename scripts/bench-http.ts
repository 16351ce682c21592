/**
 * HTTP benchmark (not a test): `GET /api/v1/executions/{id}` served by the real server with
 * production settings (request validation on, response validation off, request logging on),
 * against a bare node:http server answering the same bytes and against Prism mocking the same
 * spec, with one load generator (autocannon) in one run, interleaved and repeated (medians).
 * `express` is the same server and request plus a non-matching `If-None-Match`, which the read
 * fast lane (src/http/fast-lane.ts) leaves to the Express path: what the lane saves.
 * Also `GET /api/v1/executions?status=...` with 50,000 executions stored: p99 latency.
 *
 *   npx tsx scripts/bench-http.ts [--seconds 3] [--rounds 3] [--connections 10] [--stored 50000]
 */
import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ExecutionStatus } from '../src/domain/types.js';
import { median, sampleRecord, seedFiles } from './bench-store.js';
import { ROOT, startProcess, startServer, type ServerProcess } from './bench-support.js';

export interface Throughput {
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

export interface HttpBenchResult {
  bytes: number;
  ours: Throughput;
  bare: Throughput;
  /** The same server and request, answered by the Express path instead of the fast lane. */
  express: Throughput;
  prism: Throughput;
  oursVsBare: number;
  oursVsPrism: number;
  list: { stored: number; matching: number; p50Ms: number; p99Ms: number; rps: number };
}

export interface HttpBenchOptions {
  seconds?: number;
  rounds?: number;
  connections?: number;
  stored?: number;
  dir?: string;
  log?: (line: string) => void;
}

/** A bare node:http server answering every request with the given bytes. */
const BARE_SERVER = `
const http = require('node:http');
const body = Buffer.from(process.env.BODY_B64, 'base64');
http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length, 'X-Request-ID': 'bench' });
  res.end(body);
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

async function load(
  url: string,
  seconds: number,
  connections: number,
  headers: Record<string, string>,
): Promise<Throughput> {
  const r = await autocannon({ url, connections, duration: seconds, headers });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
}

function medianOf(samples: Throughput[]): Throughput {
  return {
    rps: median(samples.map((s) => s.rps)),
    p50Ms: median(samples.map((s) => s.p50Ms)),
    p99Ms: median(samples.map((s) => s.p99Ms)),
  };
}

const STATUSES: ExecutionStatus[] = [
  'completed',
  'completed',
  'completed',
  'failed',
  'cancelled',
  'paused',
  'waiting_acceptance',
  'waiting_clarification',
];

/** `count` stored executions, statuses mixed (none pending/running, so start-up resumes nothing). */
async function seedExecutions(dataDir: string, count: number): Promise<string[]> {
  return seedFiles(dataDir, await sampleRecord(), 0, count, (record, i) => ({
    ...record,
    execution: { ...record.execution, status: STATUSES[i % STATUSES.length]!, project_id: `proj-${i % 50}` },
  }));
}

export async function runHttpBench(options: HttpBenchOptions = {}): Promise<HttpBenchResult> {
  const seconds = options.seconds ?? 3;
  const rounds = options.rounds ?? 3;
  const connections = options.connections ?? 10;
  const stored = options.stored ?? 50_000;
  const log = options.log ?? (() => undefined);
  const dir = resolve(options.dir ?? join(ROOT, '.bench', 'http'));
  await rm(dir, { recursive: true, force: true });

  log('building dist/ (npm start runs the compiled server)...');
  execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  const auth = { Authorization: 'Bearer bench-key' };

  const itemDir = join(dir, 'item');
  const [id] = await seedExecutions(itemDir, 1000);
  const path = `/api/v1/executions/${id}`;
  const ours = await startServer(itemDir);
  const children: ServerProcess[] = [ours];
  try {
    const bytes = Buffer.from(await (await fetch(ours.url + path)).arrayBuffer());
    const bare = await startProcess(process.execPath, ['-e', BARE_SERVER], { BODY_B64: bytes.toString('base64') }, '/');
    children.push(bare);
    const prism = await startProcess(
      join(ROOT, 'node_modules/.bin/prism'),
      ['mock', 'openapi.yaml', '--host', '127.0.0.1', '--port', '$PORT', '--errors'],
      {},
      '/healthz',
    );
    children.push(prism);
    log(`GET ${path}: ${bytes.length} bytes; ${rounds} rounds x ${seconds} s, ${connections} connections`);

    const targets = { bare, ours, express: ours, prism } as const;
    const headers = (name: keyof typeof targets) =>
      name === 'express' ? { ...auth, 'If-None-Match': '"bench-never-matches"' } : auth;
    const viaExpress = await fetch(ours.url + path, { headers: headers('express') });
    if (!bytes.equals(Buffer.from(await viaExpress.arrayBuffer())))
      throw new Error('the Express path answered other bytes');
    const samples: Record<keyof typeof targets, Throughput[]> = { bare: [], ours: [], express: [], prism: [] };
    const names = Object.keys(targets) as (keyof typeof targets)[];
    for (const name of names) await load(targets[name].url + path, 1, connections, headers(name)); // warm up
    for (let round = 0; round < rounds; round++) {
      // Rotate the order so no target always runs first or last.
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length]!;
        const t = await load(targets[name].url + path, seconds, connections, headers(name));
        samples[name].push(t);
        log(`  round ${round + 1} ${name.padEnd(5)} ${t.rps.toFixed(0)} req/s, p99 ${t.p99Ms} ms`);
      }
    }
    const result = {
      bare: medianOf(samples.bare),
      ours: medianOf(samples.ours),
      express: medianOf(samples.express),
      prism: medianOf(samples.prism),
    };
    for (const c of children.splice(0)) await c.stop('SIGKILL');

    log(`seeding ${stored} stored executions for the list benchmark...`);
    const listDir = join(dir, 'list');
    await seedExecutions(listDir, stored);
    const listServer = await startServer(listDir);
    children.push(listServer);
    const listPath = '/api/v1/executions?status=paused&status=failed&limit=20';
    const first = (await (await fetch(listServer.url + listPath)).json()) as { items: unknown[] };
    if (first.items.length !== 20) throw new Error(`list returned ${first.items.length} items`);
    await load(listServer.url + listPath, 1, 4, {});
    const listRuns: Throughput[] = [];
    for (let round = 0; round < rounds; round++) listRuns.push(await load(listServer.url + listPath, seconds, 4, {}));
    const list = medianOf(listRuns);
    log(`  list over ${stored}: ${list.rps.toFixed(0)} req/s, p50 ${list.p50Ms} ms, p99 ${list.p99Ms} ms`);

    return {
      bytes: bytes.length,
      ...result,
      oursVsBare: result.ours.rps / result.bare.rps,
      oursVsPrism: result.ours.rps / result.prism.rps,
      list: { stored, matching: Math.round((stored * 2) / STATUSES.length), ...list },
    };
  } finally {
    for (const c of children) await c.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}

async function main(): Promise<void> {
  const r = await runHttpBench({
    seconds: arg('--seconds'),
    rounds: arg('--rounds'),
    connections: arg('--connections'),
    stored: arg('--stored'),
    log: (l) => console.log(l),
  });
  console.log('');
  console.log(`GET one execution (${r.bytes} bytes)   req/s     p99`);
  for (const k of ['bare', 'ours', 'express', 'prism'] as const)
    console.log(`  ${k.padEnd(7)} ${r[k].rps.toFixed(0).padStart(14)} ${String(r[k].p99Ms).padStart(6)} ms`);
  console.log(
    `ours / bare node:http: ${r.oursVsBare.toFixed(2)}x (target >= 0.25x) ${r.oursVsBare >= 0.25 ? 'met' : 'NOT met'}`,
  );
  console.log(
    `ours / Prism mock:     ${r.oursVsPrism.toFixed(2)}x (target >= 1.5x) ${r.oursVsPrism >= 1.5 ? 'met' : 'NOT met'}`,
  );
  console.log(
    `list ?status=paused&status=failed over ${r.list.stored} stored: p99 ${r.list.p99Ms} ms (target < 20 ms) ${r.list.p99Ms < 20 ? 'met' : 'NOT met'}`,
  );
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
