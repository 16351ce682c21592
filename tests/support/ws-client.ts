/**
 * A test client for the execution event stream (asyncapi.yaml). It connects, keeps every message,
 * checks each one against the AsyncAPI payload schema of its `event_type` as it arrives, and waits
 * for messages or for the close by condition, never by time. A test file loads the schemas once
 * (`MessageValidator.load()`), opens its clients through one `WsClients`, and in `afterEach`
 * expects `takeViolations()` to be empty and in `afterAll` closes them all.
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import WebSocket from 'ws';
import type { ServerMessage, ServerMessages } from '../../generated/asyncapi.js';
import { messageSchemas, parseAsyncApi } from '../../scripts/asyncapi.js';

export type EventType = keyof ServerMessages;

export interface CloseInfo {
  code: number;
  reason: string;
}

/** Compiled payload schemas of every AsyncAPI message, by message name (= `event_type`). */
export class MessageValidator {
  private constructor(
    private readonly ajv: Ajv2020,
    private readonly byName: Map<string, ValidateFunction>,
  ) {}

  static async load(): Promise<MessageValidator> {
    const { document, errors } = await parseAsyncApi();
    if (!document || errors.length > 0) throw new Error(`asyncapi.yaml does not parse: ${JSON.stringify(errors)}`);
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const byName = new Map<string, ValidateFunction>();
    for (const [name, message] of Object.entries(messageSchemas(document)))
      byName.set(name, ajv.compile(message.payload));
    return new MessageValidator(ajv, byName);
  }

  /** Null when `message` is a valid message of its own `event_type`, else why not. */
  check(message: unknown): string | null {
    const type = (message as { event_type?: unknown } | null)?.event_type;
    const validate = typeof type === 'string' ? this.byName.get(type) : undefined;
    if (!validate) return `no AsyncAPI message named ${JSON.stringify(type)}`;
    return validate(message) ? null : `${type}: ${this.ajv.errorsText(validate.errors)}`;
  }
}

export interface ConnectOptions {
  afterSeq?: number | string;
  accessToken?: string;
  headers?: Record<string, string>;
  /** false: never answer the server's pings (a dead peer). */
  autoPong?: boolean;
}

const DEFAULT_TIMEOUT_MS = 5000;

export class WsTestClient {
  /** Every message received, parsed, in order of arrival. */
  readonly messages: ServerMessage[] = [];
  /** Messages that were not JSON or failed their schema. */
  readonly violations: string[] = [];
  /** Resolves when the connection closes (never rejects). */
  readonly closed: Promise<CloseInfo>;
  closeInfo: CloseInfo | null = null;
  pings = 0;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly ws: WebSocket,
    private readonly validator: MessageValidator,
    readonly label: string,
  ) {
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        this.violations.push(`${label}: not JSON: ${raw.toString('utf8').slice(0, 80)}`);
        return;
      }
      if (isBinary) this.violations.push(`${label}: binary frame`);
      const problem = this.validator.check(parsed);
      if (problem) this.violations.push(`${label}: ${problem}`);
      this.messages.push(parsed as ServerMessage);
      this.notify();
    });
    ws.on('ping', () => {
      this.pings++;
      this.notify();
    });
    // A client-side error (reset, bad frame) ends in 'close' too; nothing else to do with it.
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        resolve(this.closeInfo);
        this.notify();
      });
    });
  }

  /** Messages of one type, typed. */
  ofType<T extends EventType>(type: T): ServerMessages[T][] {
    return this.messages.filter((m) => m.event_type === type) as ServerMessages[T][];
  }

  /** Seqs of the stored events received (everything except `snapshot` and `step_progress`). */
  persistedSeqs(): number[] {
    return this.messages
      .filter((m) => m.event_type !== 'snapshot' && m.event_type !== 'step_progress')
      .map((m) => m.seq);
  }

  /** Resolves with the first message (already received or future) that matches. */
  waitForMessage(
    predicate: (m: ServerMessage) => boolean,
    what: string,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<ServerMessage> {
    return this.until(() => this.messages.find(predicate), what, timeoutMs);
  }

  /** Resolves with the first message of `type` (and, when given, of step `stepId`). */
  async waitForEvent<T extends EventType>(
    type: T,
    stepId?: string,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<ServerMessages[T]> {
    const found = await this.waitForMessage(
      (m) => m.event_type === type && (stepId === undefined || m.step_id === stepId),
      `${type}${stepId ? ` of ${stepId}` : ''}`,
      timeoutMs,
    );
    return found as ServerMessages[T];
  }

  /** Resolves once `count` messages have arrived. */
  async waitForCount(count: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    await this.until(() => this.messages.length >= count || null, `${count} messages`, timeoutMs);
  }

  /** Resolves once `condition` holds, whether or not the connection has closed meanwhile. */
  async waitUntil(condition: () => boolean, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    await this.until(() => condition() || null, what, timeoutMs, false);
  }

  /** Resolves with the close code and reason. */
  waitForClose(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<CloseInfo> {
    return this.until(() => this.closeInfo, 'the close', timeoutMs, false);
  }

  /** Stops reading from the socket: the server's writes pile up in its send buffer. */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  close(): Promise<CloseInfo> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    return this.closed;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private until<T>(probe: () => T | null | undefined, what: string, timeoutMs: number, failOnClose = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const value = probe();
        if (value !== null && value !== undefined) return finish(() => resolve(value));
        if (failOnClose && this.closeInfo)
          return finish(() => reject(new Error(`${this.label}: closed ${this.describe()} while waiting for ${what}`)));
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for ${what}; ${this.describe()}`)),
          ),
        timeoutMs,
      );
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  private describe(): string {
    const tail = this.messages.slice(-5).map((m) => `${m.seq}:${m.event_type}`);
    const close = this.closeInfo ? `closed ${this.closeInfo.code} "${this.closeInfo.reason}"` : 'open';
    return `${close}, ${this.messages.length} messages, last [${tail.join(', ')}]`;
  }
}

/** `ws://.../api/v1/ws/executions/{id}?after_seq=&access_token=` from the service's http URL. */
export function executionWsUrl(httpUrl: string, executionId: string, opts: ConnectOptions = {}): string {
  const url = new URL(`/api/v1/ws/executions/${executionId}`, httpUrl.replace(/^http/, 'ws'));
  if (opts.afterSeq !== undefined) url.searchParams.set('after_seq', String(opts.afterSeq));
  if (opts.accessToken !== undefined) url.searchParams.set('access_token', opts.accessToken);
  return url.toString();
}

/** The clients of one test file: opened against one service, checked and closed together. */
export class WsClients {
  private readonly all: WsTestClient[] = [];
  private opened = 0;

  constructor(
    private readonly validator: MessageValidator,
    private readonly baseUrl: () => string,
  ) {}

  /** Opens a client on an execution's channel; resolves once the upgrade succeeded. */
  open(executionId: string, opts: ConnectOptions = {}): Promise<WsTestClient> {
    return this.openUrl(executionWsUrl(this.baseUrl(), executionId, opts), opts);
  }

  /** Opens a client on any URL (an unknown path, a malformed id). Rejects when the upgrade fails. */
  openUrl(url: string, opts: ConnectOptions = {}): Promise<WsTestClient> {
    const ws = new WebSocket(url, { headers: opts.headers, autoPong: opts.autoPong ?? true, perMessageDeflate: false });
    const client = new WsTestClient(ws, this.validator, `client#${++this.opened}`);
    this.all.push(client);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.once('error', (err) => reject(err));
    });
  }

  /** Schema violations of messages received since the last call (for `afterEach`), then forgets them. */
  takeViolations(): string[] {
    return this.all.flatMap((c) => c.violations.splice(0));
  }

  async closeAll(): Promise<void> {
    await Promise.all(
      this.all.map(async (c) => {
        if (c.ws.readyState === WebSocket.CLOSED) return;
        c.ws.terminate();
        await c.closed;
      }),
    );
  }
}

/** Asserts `seqs` is exactly `from..to`, in order: no gap, no duplicate. */
export function expectContiguous(seqs: number[], from: number, to: number): void {
  const expected = Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
  expect(seqs).toEqual(expected);
}

/**
 * What is wrong with one connection's stream, given the seq it started after (its `after_seq`;
 * for a snapshot connection, pass null and the snapshot's seq is used): a snapshot anywhere but
 * first, a stored event that is not the next seq (a gap or a duplicate), or a `step_progress`
 * whose seq is not that of the last stored event before it (stale or from the future).
 */
export function streamProblems(messages: readonly ServerMessage[], afterSeq: number | null): string[] {
  const problems: string[] = [];
  let last = afterSeq;
  messages.forEach((m, i) => {
    const where = `#${i} ${m.event_type} seq ${m.seq}`;
    if (m.event_type === 'snapshot') {
      if (i !== 0 || afterSeq !== null) problems.push(`${where}: snapshot not first, or after after_seq`);
      last = m.seq;
    } else if (last === null) {
      problems.push(`${where}: before the snapshot`);
    } else if (m.event_type === 'step_progress') {
      if (m.seq !== last) problems.push(`${where}: progress after stored seq ${last}`);
    } else {
      if (m.seq !== last + 1) problems.push(`${where}: expected seq ${last + 1}`);
      last = m.seq;
    }
  });
  return problems;
}
