/**
 * WebSocket benchmark (not a test): fan-out latency of one execution's events to 1, 100 and 1000
 * subscribers. For each event: the time from its publication on the engine's bus to its receipt by
 * the LAST subscriber, through the real service (startService: HTTP + gateway, lowdb store, fake
 * model), against a bare `ws` WebSocketServer that serialises the same event and broadcasts the
 * bytes to as many clients. Both run in this process, in the same run; the clients of both run in
 * one worker thread with the same code. Rounds are interleaved (the order alternates) and
 * repeated; medians are compared.
 *
 *   npx tsx scripts/bench-ws.ts [--subscribers 1,100,1000] [--rounds 60] [--warmup 15] [--bytes 512]
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import { loadConfig } from '../src/config.js';
import type { AnyExecutionEvent } from '../src/domain/types.js';
import { progressEvent } from '../src/events/log.js';
import { FakeLlm } from '../src/llm/fake.js';
import { startService, type Service } from '../src/service.js';

const ROOT = resolve(__dirname, '..');

export interface WsBenchOptions {
  /** Subscriber counts to measure (default 1, 100, 1000). */
  subscribers?: number[];
  /** Measured events per subscriber count and server (default 60). */
  rounds?: number;
  /** Unmeasured events first (default 15). */
  warmup?: number;
  /** Size of each event's `delta` (default 512). */
  bytes?: number;
  log?: (line: string) => void;
}

export interface WsBenchRow {
  subscribers: number;
  /** Median ms from publication to receipt by the last subscriber. */
  gatewayMs: number;
  bareMs: number;
  gatewayP90Ms: number;
  bareP90Ms: number;
  /** gatewayMs / bareMs. */
  ratio: number;
  /** Median ms the publishing call itself took: the server's synchronous fan-out work. */
  gatewaySendMs: number;
  bareSendMs: number;
}

export interface WsBenchResult {
  eventBytes: number;
  rounds: number;
  rows: WsBenchRow[];
}

/**
 * The subscribers, in a worker thread so that reading does not share the server's event loop.
 * Plain JavaScript, evaluated, so it runs the same under tsx and Jest. Per group of clients it
 * counts receipts of the current event and reports the time when the last client got it.
 */
const CLIENT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const WebSocket = require(workerData.wsPath);
const now = () => performance.timeOrigin + performance.now();
const groups = new Map();
parentPort.on('message', (msg) => {
  if (msg.type === 'open') {
    const group = { sockets: [], ready: 0, count: 0, n: msg.n };
    groups.set(msg.group, group);
    for (let i = 0; i < msg.n; i++) {
      const ws = new WebSocket(msg.url, { perMessageDeflate: false, skipUTF8Validation: true });
      let first = true;
      ws.on('message', () => {
        // The first message (snapshot, or the bare server's hello) only says the client is live.
        if (first) {
          first = false;
          if (++group.ready === group.n) parentPort.postMessage({ type: 'ready', group: msg.group });
          return;
        }
        if (++group.count === group.n) {
          group.count = 0;
          parentPort.postMessage({ type: 'received', group: msg.group, at: now() });
        }
      });
      ws.on('error', (err) => parentPort.postMessage({ type: 'error', group: msg.group, message: String(err) }));
      group.sockets.push(ws);
    }
  } else if (msg.type === 'close') {
    const group = groups.get(msg.group);
    groups.delete(msg.group);
    let open = group.sockets.length;
    if (open === 0) parentPort.postMessage({ type: 'closed', group: msg.group });
    for (const ws of group.sockets) {
      ws.once('close', () => { if (--open === 0) parentPort.postMessage({ type: 'closed', group: msg.group }); });
      ws.terminate();
    }
  }
});
`;

type WorkerReply =
  | { type: 'ready' | 'closed'; group: string }
  | { type: 'received'; group: string; at: number }
  | { type: 'error'; group: string; message: string };

class Subscribers {
  private readonly worker = new Worker(CLIENT_WORKER, { eval: true, workerData: { wsPath: require.resolve('ws') } });
  private readonly waiting = new Map<string, { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void }>();

  constructor() {
    this.worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'error') {
        // A subscriber failing makes every pending measurement meaningless.
        for (const { reject } of this.waiting.values())
          reject(new Error(`subscriber of ${reply.group}: ${reply.message}`));
        this.waiting.clear();
        return;
      }
      const key = `${reply.type}:${reply.group}`;
      const waiter = this.waiting.get(key);
      this.waiting.delete(key);
      waiter?.resolve(reply);
    });
  }

  private next(type: WorkerReply['type'], group: string, timeoutMs = 60_000): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      const key = `${type}:${group}`;
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error(`timed out waiting for ${type} of ${group}`));
      }, timeoutMs);
      this.waiting.set(key, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  async open(group: string, url: string, n: number): Promise<void> {
    const ready = this.next('ready', group);
    this.worker.postMessage({ type: 'open', group, url, n });
    await ready;
  }

  /** Ms from `publish()` to the receipt by the last client of `group`, and ms inside `publish()`. */
  async time(group: string, publish: () => void): Promise<{ lastMs: number; sendMs: number }> {
    const received = this.next('received', group, 10_000);
    const start = performance.now();
    publish();
    const sendMs = performance.now() - start;
    const reply = (await received) as { at: number };
    return { lastMs: reply.at - (performance.timeOrigin + start), sendMs };
  }

  async close(group: string): Promise<void> {
    const closed = this.next('closed', group);
    this.worker.postMessage({ type: 'close', group });
    await closed;
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

/** A bare ws server: a hello on connect, then each event serialised once and sent to every client. */
async function startBareServer(): Promise<{
  url: string;
  broadcast: (event: AnyExecutionEvent) => void;
  stop: () => Promise<void>;
}> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.send('{"hello":true}'));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    broadcast: (event) => {
      const data = Buffer.from(JSON.stringify(event));
      for (const client of wss.clients) client.send(data, { binary: false });
    },
    stop: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((res) => wss.close(() => res()));
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A running execution that nothing else touches: its only model call never answers. */
async function startBenchService(dataDir: string): Promise<{ service: Service; executionId: string }> {
  const fake = new FakeLlm();
  fake.script('summarize', [{ kind: 'hang' }]);
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    WORKFLOWS_DIR: join(ROOT, 'seeds/workflows'),
    LOG_LEVEL: 'silent',
  });
  const service = await startService(config, { logger: pino({ level: 'silent' }), llm: fake });
  const execution = await service.engine.start({
    workflowId: 'quick-summary',
    projectId: 'bench',
    initialContext: { text: 'Fan-out benchmark.' },
    actor: { id: 'anonymous', admin: true },
  });
  const deadline = Date.now() + 10_000;
  while (!fake.calls.some((c) => c.executionId === execution.execution_id && c.outcome === 'in_flight')) {
    if (Date.now() > deadline) throw new Error('the benchmark execution never started its step');
    await new Promise((r) => setTimeout(r, 5));
  }
  return { service, executionId: execution.execution_id };
}

export async function runWsBench(opts: WsBenchOptions = {}): Promise<WsBenchResult> {
  const counts = opts.subscribers ?? [1, 100, 1000];
  const rounds = opts.rounds ?? 60;
  const warmup = opts.warmup ?? 15;
  const bytes = opts.bytes ?? 512;
  const log = opts.log ?? (() => undefined);

  const dataDir = await mkdtemp(join(tmpdir(), 'bench-ws-'));
  const { service, executionId } = await startBenchService(dataDir);
  const bare = await startBareServer();
  const subscribers = new Subscribers();
  const gatewayUrl = `${service.url.replace(/^http/, 'ws')}/api/v1/ws/executions/${executionId}`;
  const execution = await service.engine.get(executionId, { id: 'anonymous', admin: true });
  let sent = 0;
  const nextEvent = (): AnyExecutionEvent =>
    progressEvent(
      execution,
      'summarize',
      { delta: `${++sent} ${'x'.repeat(Math.max(0, bytes - 12))}`.slice(0, bytes), attempt: 1 },
      new Date().toISOString(),
    );
  const eventBytes = Buffer.byteLength(JSON.stringify(nextEvent()));

  const rows: WsBenchRow[] = [];
  try {
    for (const n of counts) {
      const gw = `gateway-${n}-${randomUUID()}`;
      const bw = `bare-${n}-${randomUUID()}`;
      await subscribers.open(gw, gatewayUrl, n);
      await subscribers.open(bw, bare.url, n);
      if (service.gateway.clientCount() !== n)
        throw new Error(`gateway holds ${service.gateway.clientCount()} clients`);
      const gatewayMs: number[] = [];
      const bareMs: number[] = [];
      const gatewaySendMs: number[] = [];
      const bareSendMs: number[] = [];
      for (let i = 0; i < warmup + rounds; i++) {
        const timeGateway = () => subscribers.time(gw, () => service.engine.bus.publish(nextEvent()));
        const timeBare = () => subscribers.time(bw, () => bare.broadcast(nextEvent()));
        let g: { lastMs: number; sendMs: number };
        let b: { lastMs: number; sendMs: number };
        if (i % 2 === 0) {
          g = await timeGateway();
          b = await timeBare();
        } else {
          b = await timeBare();
          g = await timeGateway();
        }
        if (i >= warmup) {
          gatewayMs.push(g.lastMs);
          bareMs.push(b.lastMs);
          gatewaySendMs.push(g.sendMs);
          bareSendMs.push(b.sendMs);
        }
      }
      await subscribers.close(gw);
      await subscribers.close(bw);
      const row: WsBenchRow = {
        subscribers: n,
        gatewayMs: median(gatewayMs),
        bareMs: median(bareMs),
        gatewayP90Ms: percentile(gatewayMs, 90),
        bareP90Ms: percentile(bareMs, 90),
        ratio: median(gatewayMs) / median(bareMs),
        gatewaySendMs: median(gatewaySendMs),
        bareSendMs: median(bareSendMs),
      };
      rows.push(row);
      log(
        `${String(n).padStart(5)} subscribers: gateway ${row.gatewayMs.toFixed(3)} ms (p90 ${row.gatewayP90Ms.toFixed(3)}), ` +
          `bare ws ${row.bareMs.toFixed(3)} ms (p90 ${row.bareP90Ms.toFixed(3)}), ratio ${row.ratio.toFixed(2)}x; ` +
          `fan-out call ${row.gatewaySendMs.toFixed(3)} vs ${row.bareSendMs.toFixed(3)} ms`,
      );
    }
  } finally {
    await subscribers.stop();
    await bare.stop();
    await service.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  return { eventBytes, rounds, rows };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const subscribers = arg('--subscribers')?.split(',').map(Number);
  const rounds = arg('--rounds');
  const warmup = arg('--warmup');
  const bytes = arg('--bytes');
  const result = await runWsBench({
    subscribers,
    rounds: rounds ? Number(rounds) : undefined,
    warmup: warmup ? Number(warmup) : undefined,
    bytes: bytes ? Number(bytes) : undefined,
    log: (line) => console.log(line),
  });
  console.log(
    `\nevent of ${result.eventBytes} bytes, median of ${result.rounds} interleaved rounds, publication -> last subscriber`,
  );
  console.table(
    result.rows.map((r) => ({
      subscribers: r.subscribers,
      'gateway ms': Number(r.gatewayMs.toFixed(3)),
      'bare ws ms': Number(r.bareMs.toFixed(3)),
      ratio: `${r.ratio.toFixed(2)}x`,
      'gateway fan-out call ms': Number(r.gatewaySendMs.toFixed(3)),
      'bare fan-out call ms': Number(r.bareSendMs.toFixed(3)),
    })),
  );
  const at1000 = result.rows.find((r) => r.subscribers === 1000);
  if (at1000)
    console.log(
      `target <= 1.20x bare at 1000 subscribers: ${at1000.ratio <= 1.2 ? 'met' : 'MISSED'} (${at1000.ratio.toFixed(2)}x)`,
    );
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
