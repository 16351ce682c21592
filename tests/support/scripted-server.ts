/**
 * A loopback HTTP server whose answers are scripted per request, recording every request and
 * whether the client hung up before the answer was complete. The fake OpenAI and Anthropic
 * servers are thin layers over it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  index: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  /** The body parsed as JSON, or null when it is not JSON. */
  body: unknown;
  /** The client closed the connection before the server finished answering (aborted on the wire). */
  clientClosed: boolean;
  /** The server finished the answer (ended it or dropped it on purpose). */
  completed: boolean;
  /** Resolves once the connection of this exchange is closed, by either side. */
  closed: Promise<void>;
}

/** What a script handler can do with one exchange. */
export interface Exchange {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly record: RecordedRequest;
  /** False once the client has gone. */
  readonly open: boolean;
  /** Waits `ms`, or less if the client goes; resolves to whether it is still there. */
  sleep(ms: number): Promise<boolean>;
  /** Never answers (or never finishes); resolves when the client gives up or the server closes. */
  hang(): Promise<void>;
  /** Destroys the socket without a proper end, as a crashing upstream would (after what was written). */
  drop(): Promise<void>;
  write(chunk: string): void;
}

export type Handler<S> = (script: S, exchange: Exchange) => Promise<void>;
export type ScriptFn<S> = (record: RecordedRequest) => S;

export class ScriptedServer<S> {
  readonly requests: RecordedRequest[] = [];
  private readonly queue: Array<S | ScriptFn<S>> = [];
  private readonly waiters: Array<{ index: number; resolve: (r: RecordedRequest) => void }> = [];

  private readonly server: http.Server;
  private origin_ = '';

  private constructor(
    handler: Handler<S>,
    private fallback: S | ScriptFn<S>,
  ) {
    this.server = http.createServer((req, res) => {
      void this.handle(req, res, handler);
    });
  }

  /** `http://127.0.0.1:<port>` */
  get origin(): string {
    return this.origin_;
  }

  static async start<S>(handler: Handler<S>, fallback: S | ScriptFn<S>): Promise<ScriptedServer<S>> {
    const instance = new ScriptedServer<S>(handler, fallback);
    await new Promise<void>((resolve) => instance.server.listen(0, '127.0.0.1', resolve));
    instance.origin_ = `http://127.0.0.1:${(instance.server.address() as AddressInfo).port}`;
    return instance;
  }

  /** Scripts for the next requests, in order; when they run out the default answers. */
  enqueue(...scripts: Array<S | ScriptFn<S>>): void {
    this.queue.push(...scripts);
  }

  setDefault(script: S | ScriptFn<S>): void {
    this.fallback = script;
  }

  /** Forgets queued scripts and recorded requests (between tests). */
  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
  }

  /** The `index`-th request since the last reset, once it has arrived. */
  request(index: number): Promise<RecordedRequest> {
    const seen = this.requests[index];
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ index, resolve }));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, handler: Handler<S>): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = null;
    try {
      body = JSON.parse(raw);
    } catch {
      body = null;
    }
    let droppedByServer = false;
    let flushed = Promise.resolve();
    let onClosed: () => void = () => undefined;
    const record: RecordedRequest = {
      index: this.requests.length,
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      raw,
      body,
      clientClosed: false,
      completed: false,
      closed: new Promise<void>((resolve) => (onClosed = resolve)),
    };
    res.on('finish', () => (record.completed = true));
    res.on('close', () => {
      if (!res.writableFinished && !droppedByServer) record.clientClosed = true;
      onClosed();
    });
    this.requests.push(record);
    for (const waiter of this.waiters.filter((w) => w.index === record.index)) waiter.resolve(record);

    const next = this.queue.shift() ?? this.fallback;
    const script = typeof next === 'function' ? (next as ScriptFn<S>)(record) : next;
    const exchange: Exchange = {
      req,
      res,
      record,
      get open() {
        return !res.destroyed && !res.writableEnded;
      },
      sleep: (ms) =>
        new Promise<boolean>((resolve) => {
          if (res.destroyed) return resolve(false);
          const timer = setTimeout(() => {
            res.off('close', early);
            resolve(!res.destroyed);
          }, ms);
          const early = (): void => {
            clearTimeout(timer);
            resolve(false);
          };
          res.once('close', early);
        }),
      hang: () => record.closed,
      drop: async () => {
        droppedByServer = true;
        record.completed = true;
        await flushed;
        req.socket.destroy();
      },
      write: (chunk) => {
        if (res.destroyed) return;
        flushed = new Promise<void>((resolve) => res.write(chunk, () => resolve()));
      },
    };
    try {
      await handler(script, exchange);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500).end(String(err));
      else res.destroy();
    }
  }
}
