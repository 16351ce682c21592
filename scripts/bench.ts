/**
 * `npm run bench`: every benchmark, one table. Each figure is printed with its baseline measured
 * in the same run, their ratio, the target and whether it holds. The machines are noisy, so the
 * whole set is repeated (`--repeats`, default 3) in a rotating order and the table quotes
 * medians; each benchmark also interleaves its own runs against its baseline.
 *
 *   npm run bench [-- --repeats 3] [-- --quick]      (--quick: smaller sizes, one repeat)
 *
 * The table is also written to .bench/latest.md (paste it into the README's performance section).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runE2eBench, type E2eBenchResult } from './bench-e2e.js';
import { runHttpBench, type HttpBenchResult } from './bench-http.js';
import { median, runStoreBench, type StoreBenchResult } from './bench-store.js';
import { runWsBench, type WsBenchResult } from './bench-ws.js';

const ROOT = resolve(__dirname, '..');
const quick = process.argv.includes('--quick');
const repeatsArg = process.argv.indexOf('--repeats');
const repeats = repeatsArg > 0 ? Number(process.argv[repeatsArg + 1]) : quick ? 1 : 3;
const log = (line: string): void => console.error(`  ${line}`);

interface Row {
  area: string;
  figure: string;
  value: number;
  unit: string;
  baseline: string;
  baselineValue: number | null;
  /** value / baselineValue */
  ratio: number | null;
  target: string;
  holds: boolean | null;
}

type Results = { store: StoreBenchResult[]; http: HttpBenchResult[]; ws: WsBenchResult[]; e2e: E2eBenchResult[] };

const benches: { [K in keyof Results]: () => Promise<Results[K][number]> } = {
  store: () => runStoreBench(quick ? { large: 10_000, samples: 20, log } : { log }),
  http: () => runHttpBench(quick ? { seconds: 2, rounds: 2, stored: 10_000, log } : { log }),
  ws: () => runWsBench(quick ? { rounds: 20, log } : { log }),
  e2e: () => runE2eBench(quick ? { executions: 300, rssSizes: [2_000, 10_000], log } : { log }),
};

function med(values: number[]): number {
  return median(values);
}

function rows(r: Results): Row[] {
  const out: Row[] = [];
  const s = r.store;
  const large = s[0]!.large;
  const small = s[0]!.small;
  const oursLarge = med(s.map((x) => x.ours.atLargeMs));
  const oursSmall = med(s.map((x) => x.ours.atSmallMs));
  out.push({
    area: 'store',
    figure: `save one execution, ${large} stored (fsync)`,
    value: oursLarge,
    unit: 'ms',
    baseline: `same, ${small} stored`,
    baselineValue: oursSmall,
    ratio: oursLarge / oursSmall,
    target: '<= 1.2x',
    holds: oursLarge / oursSmall <= 1.2,
  });
  const lowdbLarge = med(s.map((x) => x.baseline.atLargeMs));
  out.push({
    area: 'store',
    figure: `save one execution, ${large} stored (fsync)`,
    value: oursLarge,
    unit: 'ms',
    baseline: 'plain single-file lowdb (no fsync)',
    baselineValue: lowdbLarge,
    ratio: oursLarge / lowdbLarge,
    target: 'info',
    holds: null,
  });
  const loadMs = med(s.map((x) => x.load.ms));
  const loadRss = med(s.map((x) => x.load.rssMb));
  out.push({
    area: 'store',
    figure: `load ${large} stored at start-up`,
    value: loadMs,
    unit: 'ms',
    baseline: '',
    baselineValue: null,
    ratio: null,
    target: '< 3000 ms',
    holds: loadMs < 3000,
  });
  out.push({
    area: 'store',
    figure: `RSS after loading ${large} stored`,
    value: loadRss,
    unit: 'MB',
    baseline: '',
    baselineValue: null,
    ratio: null,
    target: '< 300 MB',
    holds: loadRss < 300,
  });

  const h = r.http;
  const ours = med(h.map((x) => x.ours.rps));
  const bare = med(h.map((x) => x.bare.rps));
  const prism = med(h.map((x) => x.prism.rps));
  out.push({
    area: 'http',
    figure: 'GET /executions/{id}, validation on',
    value: ours,
    unit: 'req/s',
    baseline: 'bare node:http, same bytes',
    baselineValue: bare,
    ratio: ours / bare,
    target: '>= 0.25x',
    holds: ours / bare >= 0.25,
  });
  out.push({
    area: 'http',
    figure: 'GET /executions/{id}, validation on',
    value: ours,
    unit: 'req/s',
    baseline: 'Prism mock, same spec',
    baselineValue: prism,
    ratio: ours / prism,
    target: '>= 1.5x',
    holds: ours / prism >= 1.5,
  });
  const listP99 = med(h.map((x) => x.list.p99Ms));
  const itemP99 = med(h.map((x) => x.ours.p99Ms));
  out.push({
    area: 'http',
    figure: `GET /executions?status=... over ${h[0]!.list.stored} stored, p99`,
    value: listP99,
    unit: 'ms',
    baseline: 'GET /executions/{id} p99 (10 conns)',
    baselineValue: itemP99,
    ratio: listP99 / itemP99,
    target: '< 20 ms',
    holds: listP99 < 20,
  });

  for (const n of r.ws[0]!.rows.map((row) => row.subscribers)) {
    const g = med(r.ws.map((w) => w.rows.find((x) => x.subscribers === n)!.gatewayMs));
    const b = med(r.ws.map((w) => w.rows.find((x) => x.subscribers === n)!.bareMs));
    out.push({
      area: 'ws',
      figure: `event to last of ${n} subscriber(s)`,
      value: g,
      unit: 'ms',
      baseline: 'bare ws broadcast, same bytes',
      baselineValue: b,
      ratio: g / b,
      target: n >= 1000 ? '<= 1.2x' : 'info',
      holds: n >= 1000 ? g / b <= 1.2 : null,
    });
  }

  const e = r.e2e;
  const perSecond = med(e.map((x) => x.api.perSecond));
  const memory = med(e.map((x) => x.inProcessMemory.perSecond));
  out.push({
    area: 'e2e',
    figure: `${e[0]!.executions} quick-summary through the API, fsync on`,
    value: perSecond,
    unit: 'exec/s',
    baseline: 'same engine in-process, memory store',
    baselineValue: memory,
    ratio: perSecond / memory,
    target: '>= 200/s',
    holds: perSecond >= 200,
  });
  out.push({
    area: 'e2e',
    figure: 'start-to-completed p99 (all started at once)',
    value: med(e.map((x) => x.api.p99Ms)),
    unit: 'ms',
    baseline: 'p50',
    baselineValue: med(e.map((x) => x.api.p50Ms)),
    ratio: null,
    target: 'info',
    holds: null,
  });
  const empty = med(e.map((x) => x.rss.emptyMb));
  out.push({
    area: 'e2e',
    figure: `server RSS holding ${e[0]!.rss.sizes[0]} stored`,
    value: med(e.map((x) => x.rss.at10kMb)),
    unit: 'MB',
    baseline: 'empty server',
    baselineValue: empty,
    ratio: med(e.map((x) => x.rss.at10kMb)) / empty,
    target: 'info',
    holds: null,
  });
  out.push({
    area: 'e2e',
    figure: `server RSS holding ${e[0]!.rss.sizes[1]} stored`,
    value: med(e.map((x) => x.rss.at50kMb)),
    unit: 'MB',
    baseline: 'empty server',
    baselineValue: empty,
    ratio: med(e.map((x) => x.rss.at50kMb)) / empty,
    target: '< 300 MB',
    holds: med(e.map((x) => x.rss.at50kMb)) < 300,
  });
  return out;
}

function fmt(n: number | null, unit = ''): string {
  if (n === null) return '';
  const digits = n >= 100 ? 0 : n >= 10 ? 1 : 2;
  return `${n.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

function table(all: Row[]): string {
  const lines = [
    '| area | figure | value | baseline | baseline value | ratio | target | holds |',
    '| --- | --- | ---: | --- | ---: | ---: | --- | --- |',
  ];
  for (const r of all) {
    lines.push(
      `| ${r.area} | ${r.figure} | ${fmt(r.value, r.unit)} | ${r.baseline} | ${fmt(r.baselineValue, r.baselineValue === null ? '' : r.unit)} | ${r.ratio === null ? '' : `${r.ratio < 0.01 ? r.ratio.toPrecision(2) : r.ratio.toFixed(2)}x`} | ${r.target} | ${r.holds === null ? '' : r.holds ? 'yes' : '**no**'} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const results: Results = { store: [], http: [], ws: [], e2e: [] };
  const names = Object.keys(benches) as (keyof Results)[];
  const started = Date.now();
  for (let rep = 0; rep < repeats; rep++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(rep + k) % names.length]!;
      console.error(`[${rep + 1}/${repeats}] ${name}`);
      (results[name] as unknown[]).push(await benches[name]());
    }
  }
  const out = rows(results);
  const md = `${table(out)}\n\nMedians of ${repeats} repetition(s)${quick ? ' (--quick sizes)' : ''}; ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${Math.round((Date.now() - started) / 1000)} s.\n`;
  console.log(`\n${md}`);
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(join(ROOT, '.bench', 'latest.md'), md);
  writeFileSync(join(ROOT, '.bench', 'latest.json'), JSON.stringify({ rows: out, results }, null, 2));
  const failed = out.filter((r) => r.holds === false);
  if (failed.length > 0)
    console.log(`${failed.length} target(s) not held: ${failed.map((r) => `${r.figure} (${r.target})`).join('; ')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
