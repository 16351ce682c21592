/**
 * WebSocket gateway at /api/v1/ws/executions/{execution_id} (asyncapi.yaml).
 *
 * Lossless hand-over from replay to live: a client's subscription to the engine starts BEFORE the
 * stored state is read, live events that arrive meanwhile are queued, and every stored event is
 * delivered at most once by comparing its seq with the last seq sent. One engine subscription per
 * execution serves all of its clients, and each event is serialised once, to one buffer that every
 * client is sent.
 *
 * Live fan-out never waits for anyone: a client whose send buffer passes the bound is dropped with
 * 1013. Catching up (the replay) is paced by the client instead: past the bound the replay waits
 * for that client's buffer to drain, so a healthy client is not dropped for having a long history
 * to read; one that stopped reading is found by ping/pong.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { CLOSE_CODES } from '../../generated/asyncapi.js';
import { isDomainError } from '../domain/errors.js';
import type { Logger } from '../domain/logger.js';
import { TERMINAL_STATUSES, type AnyExecutionEvent, type ExecutionEvent } from '../domain/types.js';
import type { Actor, WorkflowEngine } from '../engine/api.js';
import type { Authenticator } from '../http/auth.js';
import { toExecutionResponse } from '../http/presenters.js';

export interface GatewayOptions {
  /** A client whose unsent bytes pass this is dropped with 1013 (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Ping every this often; a peer that did not answer the previous ping is dropped (default 30 s). */
  pingIntervalMs?: number;
  /** Largest message accepted from a client (default 4 KiB; clients are not supposed to send). */
  maxPayload?: number;
  /** After a close frame, how long a peer gets to finish the handshake before it is cut (default 2 s). */
  closeTimeoutMs?: number;
}

export interface GatewayDeps {
  engine: WorkflowEngine;
  authenticate: Authenticator;
  logger: Logger;
  options?: GatewayOptions;
}

export interface Gateway {
  /** Closes every client with 1001 and stops accepting upgrades. */
  close(): Promise<void>;
  clientCount(): number;
  /** Engine subscriptions held (one per execution with clients). */
  channelCount(): number;
}

const PATH = /^\/api\/v1\/ws\/executions\/([^/]+)$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const TERMINAL_EVENTS = new Set(['execution_completed', 'execution_failed', 'execution_cancelled']);

const REPLAY_PAGE = 500;

type CloseName = keyof typeof CLOSE_CODES;

/** An event and its serialised form, made once and sent to every client of the execution. */
interface Outgoing {
  event: AnyExecutionEvent;
  data: Buffer;
}

interface Client {
  ws: WebSocket;
  executionId: string;
  /** Live events held back while the stored state is read and replayed. */
  queue: Outgoing[] | null;
  /** Seq of the last stored event this client has (or its snapshot's, or its after_seq). */
  lastSeq: number;
  alive: boolean;
  closing: boolean;
}

interface Channel {
  clients: Set<Client>;
  unsubscribe: () => void;
}

/**
 * ws answers a protocol error of the peer (a message over maxPayload: 1009; a bad frame: 1002,
 * 1007) by closing with the code alone, but every close of this channel carries a reason.
 */
function giveProtocolClosesAReason(ws: WebSocket): void {
  const close = ws.close.bind(ws);
  ws.close = (code?: number, reason?: string | Buffer) => {
    if (code === undefined || reason !== undefined) return close(code, reason);
    close(code, code === CLOSE_CODES.MESSAGE_TOO_BIG.code ? CLOSE_CODES.MESSAGE_TOO_BIG.reason : 'invalid frame');
  };
}

export function attachWebSocketGateway(server: Server, deps: GatewayDeps): Gateway {
  const opts = {
    maxBufferedBytes: deps.options?.maxBufferedBytes ?? 1024 * 1024,
    pingIntervalMs: deps.options?.pingIntervalMs ?? 30_000,
    maxPayload: deps.options?.maxPayload ?? 4096,
    closeTimeoutMs: deps.options?.closeTimeoutMs ?? 2000,
  };
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload, perMessageDeflate: false });
  const channels = new Map<string, Channel>();
  const clients = new Set<Client>();
  let closed = false;

  function closeClient(client: Client, name: CloseName, reason?: string): void {
    if (client.closing) return;
    client.closing = true;
    if (client.ws.readyState === WebSocket.CLOSED) return;
    const { code, reason: contractReason } = CLOSE_CODES[name];
    client.ws.close(code, reason ?? contractReason);
    // A peer that does not read never completes the close handshake: cut it.
    const timer = setTimeout(() => client.ws.terminate(), opts.closeTimeoutMs);
    client.ws.once('close', () => clearTimeout(timer));
  }

  function encode(event: AnyExecutionEvent): Outgoing {
    return { event, data: Buffer.from(JSON.stringify(event)) };
  }

  /** False when the event is not for this client (a duplicate, stale progress) or it is closing. */
  function admit(client: Client, event: AnyExecutionEvent): boolean {
    if (client.closing) return false;
    if (event.event_type === 'step_progress') {
      // Progress of a moment the client has already seen past (queued while the replay sent
      // later stored events) would arrive out of order: it is not stored, so skip it.
      return event.seq >= client.lastSeq;
    }
    if (event.seq <= client.lastSeq) return false; // already sent by the replay or in the snapshot
    client.lastSeq = event.seq;
    return true;
  }

  function send(client: Client, out: Outgoing, onWritten?: () => void): void {
    client.ws.send(out.data, { binary: false }, onWritten);
    if (TERMINAL_EVENTS.has(out.event.event_type)) closeClient(client, 'NORMAL');
  }

  /** Live delivery: never waits; a client that has fallen too far behind is dropped. */
  function deliver(client: Client, out: Outgoing): void {
    if (!admit(client, out.event)) return;
    if (client.ws.bufferedAmount > opts.maxBufferedBytes) {
      deps.logger.warn(
        { execution_id: client.executionId, buffered: client.ws.bufferedAmount },
        'dropping slow WebSocket client',
      );
      closeClient(client, 'TRY_AGAIN_LATER');
      return;
    }
    send(client, out);
  }

  function join(client: Client): void {
    let channel = channels.get(client.executionId);
    if (!channel) {
      const created: Channel = {
        clients: new Set(),
        unsubscribe: deps.engine.subscribe(client.executionId, (event) => {
          const out = encode(event);
          for (const c of created.clients) {
            if (c.queue) c.queue.push(out);
            else deliver(c, out);
          }
        }),
      };
      channel = created;
      channels.set(client.executionId, channel);
    }
    channel.clients.add(client);
  }

  function leave(client: Client): void {
    clients.delete(client);
    const channel = channels.get(client.executionId);
    if (!channel) return;
    channel.clients.delete(client);
    if (channel.clients.size === 0) {
      channel.unsubscribe();
      channels.delete(client.executionId);
    }
  }

  /** Stored events after `afterSeq`, page by page, waiting for the client to read when it lags. */
  async function replay(client: Client, actor: Actor, afterSeq: number): Promise<void> {
    client.lastSeq = afterSeq;
    for (;;) {
      const page = await deps.engine.events(client.executionId, actor, client.lastSeq, REPLAY_PAGE);
      for (const event of page) {
        if (!admit(client, event)) continue;
        if (client.ws.bufferedAmount > opts.maxBufferedBytes) {
          // Resolves once this event is written out (or the socket is gone): the buffer is empty.
          await new Promise<void>((resolve) => send(client, encode(event), () => resolve()));
        } else {
          send(client, encode(event));
        }
      }
      if (page.length < REPLAY_PAGE || client.closing) return;
    }
  }

  async function start(client: Client, actor: Actor, afterSeq: number | null): Promise<void> {
    join(client);
    const execution = await deps.engine.get(client.executionId, actor);
    if (client.closing) return;
    if (afterSeq === null) {
      const snapshot: ExecutionEvent<'snapshot'> = {
        event_type: 'snapshot',
        execution_id: execution.execution_id,
        seq: execution.last_seq,
        step_id: execution.current_step_id,
        timestamp: new Date().toISOString(),
        data: { execution: toExecutionResponse(execution) },
      };
      client.ws.send(JSON.stringify(snapshot));
      client.lastSeq = execution.last_seq;
    } else if (afterSeq > execution.last_seq) {
      // A seq this execution never had (another execution's, say): replaying would silently skip
      // the events up to it.
      return closeClient(
        client,
        'BAD_REQUEST',
        `after_seq ${afterSeq} is beyond the last stored seq ${execution.last_seq}`,
      );
    } else {
      await replay(client, actor, afterSeq);
    }
    const queued = client.queue ?? [];
    client.queue = null;
    for (const out of queued) deliver(client, out);
    // Already finished before we went live: nothing more will come.
    if (TERMINAL_STATUSES.includes(execution.status) && client.lastSeq >= execution.last_seq)
      closeClient(client, 'NORMAL');
  }

  function onConnection(ws: WebSocket, url: URL, req: IncomingMessage): void {
    // Not decoded: a UUID has nothing to decode, and a malformed escape must not throw here.
    const executionId = PATH.exec(url.pathname)?.[1] ?? '';
    const client: Client = { ws, executionId, queue: [], lastSeq: 0, alive: true, closing: false };
    clients.add(client);
    giveProtocolClosesAReason(ws);
    ws.on('pong', () => (client.alive = true));
    ws.on('message', () => closeClient(client, 'POLICY_VIOLATION'));
    ws.on('error', (err) => deps.logger.debug({ err, execution_id: executionId }, 'WebSocket error'));
    ws.on('close', () => leave(client));

    const failed = (err: unknown): void => {
      if (isDomainError(err) && err.code === 'EXECUTION_NOT_FOUND') return closeClient(client, 'NOT_FOUND');
      deps.logger.error({ err, execution_id: executionId }, 'WebSocket subscription failed');
      closeClient(client, 'INTERNAL_ERROR');
    };
    try {
      const actor = deps.authenticate({
        authorization: req.headers.authorization,
        apiKey: typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : undefined,
        accessToken: url.searchParams.get('access_token') ?? undefined,
      });
      if (!actor) return closeClient(client, 'UNAUTHENTICATED');
      if (!UUID.test(executionId)) return closeClient(client, 'BAD_REQUEST');
      const rawAfter = url.searchParams.get('after_seq');
      if (rawAfter !== null && !/^\d{1,15}$/.test(rawAfter)) return closeClient(client, 'BAD_REQUEST');
      start(client, actor, rawAfter === null ? null : Number(rawAfter)).catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let url: URL | null = null;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      // An unparsable request target is answered like an unknown path.
    }
    if (closed || !url || !PATH.test(url.pathname)) {
      socket.end(
        `HTTP/1.1 ${closed ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      return;
    }
    const target = url;
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, target, req));
  }

  server.on('upgrade', onUpgrade);
  const pinger = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        client.ws.terminate();
        continue;
      }
      client.alive = false;
      client.ws.ping();
    }
  }, opts.pingIntervalMs);
  pinger.unref();

  return {
    async close() {
      closed = true;
      clearInterval(pinger);
      server.off('upgrade', onUpgrade);
      const all = [...clients].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.ws.readyState === WebSocket.CLOSED) return resolve();
            c.ws.once('close', () => resolve());
            closeClient(c, 'GOING_AWAY');
          }),
      );
      await Promise.all(all);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
    clientCount: () => clients.size,
    channelCount: () => channels.size,
  };
}
