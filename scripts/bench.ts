/**
 * `npm run bench`: every benchmark, one table. Each figure is printed with its baseline measured
 * in the same run, their ratio, the target and whether it holds. The machines are noisy, so the
 * whole set is repeated (`--repeats`, default 3) in a rotating order and the table quotes
 * medians; each benchmark also interleaves its own runs against its baseline.
 *
 *   npm run bench [-- --repeats 3] [-- --quick]      (--quick: smaller sizes, one repeat)
 *   npm run bench -- --from .bench/latest.json       (re-print the table of an earlier run)
 *
 * The table is also written to .bench/latest.md (paste it into the README's performance section).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

/**
 * One table row. `baseline` is [label, value] or null; `target` is [text, test of (value, ratio)]
 * or null for figures shown for information.
 */
function row(
  area: string,
  figure: string,
  value: number,
  unit: string,
  baseline: [string, number] | null,
  target: [string, (value: number, ratio: number | null) => boolean] | null,
): Row {
  const ratio = baseline ? value / baseline[1] : null;
  return {
    area,
    figure,
    value,
    unit,
    baseline: baseline?.[0] ?? '',
    baselineValue: baseline?.[1] ?? null,
    ratio,
    target: target?.[0] ?? 'info',
    holds: target ? target[1](value, ratio) : null,
  };
}

function rows(r: Results): Row[] {
  const { store: s, http: h, ws: w, e2e: e } = r;
  const { small, large } = s[0]!;
  const save = med(s.map((x) => x.ours.atLargeMs));
  const out: Row[] = [
    row(
      'store',
      `save one execution, ${large} stored (fsync)`,
      save,
      'ms',
      [`same, ${small} stored`, med(s.map((x) => x.ours.atSmallMs))],
      ['<= 1.2x', (_, q) => q! <= 1.2],
    ),
    row(
      'store',
      `save one execution, ${large} stored (fsync)`,
      save,
      'ms',
      ['plain single-file lowdb (no fsync)', med(s.map((x) => x.baseline.atLargeMs))],
      null,
    ),
    row('store', `load ${large} stored at start-up`, med(s.map((x) => x.load.ms)), 'ms', null, [
      '< 3000 ms',
      (v) => v < 3000,
    ]),
    row('store', `RSS after loading ${large} stored`, med(s.map((x) => x.load.rssMb)), 'MB', null, [
      '< 300 MB',
      (v) => v < 300,
    ]),
  ];

  const ours = med(h.map((x) => x.ours.rps));
  const figure = 'GET /executions/{id}, validation on';
  out.push(
    row(
      'http',
      figure,
      ours,
      'req/s',
      ['bare node:http, same bytes', med(h.map((x) => x.bare.rps))],
      ['>= 0.25x', (_, q) => q! >= 0.25],
    ),
    row(
      'http',
      figure,
      ours,
      'req/s',
      ['Prism mock, same spec', med(h.map((x) => x.prism.rps))],
      ['>= 1.5x', (_, q) => q! >= 1.5],
    ),
    row(
      'http',
      figure,
      ours,
      'req/s',
      ['same server, Express path (no fast lane)', med(h.map((x) => x.express?.rps ?? NaN))],
      null,
    ),
    row(
      'http',
      `GET /executions?status=... over ${h[0]!.list.stored} stored, p99`,
      med(h.map((x) => x.list.p99Ms)),
      'ms',
      ['GET /executions/{id} p99 (10 conns)', med(h.map((x) => x.ours.p99Ms))],
      ['< 20 ms', (v) => v < 20],
    ),
  );

  for (const n of w[0]!.rows.map((x) => x.subscribers)) {
    const at = (res: WsBenchResult) => res.rows.find((x) => x.subscribers === n)!;
    out.push(
      row(
        'ws',
        `event to last of ${n} subscriber(s)`,
        med(w.map((res) => at(res).gatewayMs)),
        'ms',
        ['bare ws broadcast, same bytes', med(w.map((res) => at(res).bareMs))],
        n >= 1000 ? ['<= 1.2x', (_, q) => q! <= 1.2] : null,
      ),
    );
  }

  const empty = med(e.map((x) => x.rss.emptyMb));
  out.push(
    row(
      'e2e',
      `${e[0]!.executions} quick-summary through the API, fsync on`,
      med(e.map((x) => x.api.perSecond)),
      'exec/s',
      ['same engine in-process, memory store', med(e.map((x) => x.inProcessMemory.perSecond))],
      ['>= 200/s', (v) => v >= 200],
    ),
    row(
      'e2e',
      'start-to-completed p99 (all started at once)',
      med(e.map((x) => x.api.p99Ms)),
      'ms',
      ['p50', med(e.map((x) => x.api.p50Ms))],
      null,
    ),
    row(
      'e2e',
      `server RSS holding ${e[0]!.rss.sizes[0]} stored`,
      med(e.map((x) => x.rss.at10kMb)),
      'MB',
      ['empty server', empty],
      null,
    ),
    row(
      'e2e',
      `server RSS holding ${e[0]!.rss.sizes[1]} stored`,
      med(e.map((x) => x.rss.at50kMb)),
      'MB',
      ['empty server', empty],
      ['< 300 MB', (v) => v < 300],
    ),
  );
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
  const from = process.argv.indexOf('--from');
  if (from > 0) {
    // Re-print the table of an earlier run: npm run bench -- --from .bench/latest.json
    const saved = JSON.parse(readFileSync(process.argv[from + 1]!, 'utf8')) as { results: Results };
    console.log(table(rows(saved.results)));
    return;
  }
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
