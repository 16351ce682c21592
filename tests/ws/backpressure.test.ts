/**
 * A client that stops reading is dropped with 1013 once its send buffer passes the bound, and the
 * other clients of the same execution keep getting everything meanwhile (PRODUCT §5). A client
 * that is catching up on a long history is paced by its own reading instead, and only dropped
 * (by ping/pong) when it stops.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CLOSE_CODES } from '../../generated/asyncapi';
import { DomainError } from '../../src/domain/errors';
import { silentLogger } from '../../src/domain/logger';
import type { AnyExecutionEvent, Execution } from '../../src/domain/types';
import type { WorkflowEngine } from '../../src/engine/api';
import { EventBus } from '../../src/events/bus';
import { appendEvents, draft, progressEvent } from '../../src/events/log';
import { ANONYMOUS } from '../../src/http/auth';
import { attachWebSocketGateway, type Gateway } from '../../src/ws/gateway';
import { buildExecution } from '../support/factories';
import { ADMIN_ACTOR } from '../support/service-harness';
import { waitFor } from '../support/wait';
import { expectContiguous, streamProblems, WsClients } from '../support/ws-client';
import { cancel, summaryStuckRunning } from '../support/flows';
import { useWsTestService } from '../support/ws-service';

const MAX_BUFFERED = 64 * 1024;

const env = useWsTestService({
  // A long close timeout, so the dropped client can still read its close frame when it resumes.
  gatewayOptions: { maxBufferedBytes: MAX_BUFFERED, closeTimeoutMs: 10_000 },
});

describe('slow consumers', () => {
  it('when a client stops reading while a lot of data flows, then it is dropped with 1013 and another client gets every event promptly', async () => {
    const id = await summaryStuckRunning(env.svc);
    const fast = await env.clients.open(id);
    const slow = await env.clients.open(id);
    await Promise.all([fast.waitForEvent('snapshot'), slow.waitForEvent('snapshot')]);
    slow.pause();

    // Far more than the kernel's socket buffers hold, so the server's own buffer for `slow` grows.
    const total = 400;
    const filler = 'x'.repeat(64 * 1024);
    const execution = await env.svc.service.engine.get(id, ADMIN_ACTOR);
    const slowestMs: number[] = [];
    for (let i = 0; i < total; i++) {
      const publishedAt = performance.now();
      env.svc.service.engine.bus.publish(
        progressEvent(execution, 'summarize', { delta: `${i}:${filler}`, attempt: 1 }, new Date().toISOString()),
      );
      await fast.waitUntil(() => fast.ofType('step_progress').length > i, `progress event ${i}`);
      slowestMs.push(performance.now() - publishedAt);
    }

    const deltas = fast.ofType('step_progress').map((m) => m.data.delta.slice(0, m.data.delta.indexOf(':')));
    expect(deltas).toEqual(Array.from({ length: total }, (_, i) => String(i)));
    // Each event reached the reading client in well under a second, whatever the other one did.
    expect(Math.max(...slowestMs)).toBeLessThan(1000);
    expect(fast.closeInfo).toBeNull();

    slow.resume();
    expect(await slow.waitForClose()).toEqual(CLOSE_CODES.TRY_AGAIN_LATER);
    expect(slow.ofType('step_progress').length).toBeLessThan(total);
    await waitFor(() => env.svc.service.gateway.clientCount() === 1, 'the slow client to be gone');

    await cancel(env.svc, id);
    expect(await fast.waitForClose()).toEqual(CLOSE_CODES.NORMAL);
    expect(fast.messages.at(-1)!.event_type).toBe('execution_cancelled');
  });
});

/**
 * The gateway over an engine that only knows one running execution with a long stored history
 * (`count` events of ~`eventBytes` each), and a bus the test publishes live events on.
 */
async function gatewayOverHistory(count: number, eventBytes: number, pingIntervalMs: number) {
  const base: Execution = { ...buildExecution(), status: 'running' };
  const drafts = Array.from({ length: count }, (_, i) =>
    draft('step_failed', 'only', {
      error: `attempt ${i + 1}: ${'x'.repeat(eventBytes)}`,
      attempt: i + 1,
      will_retry: true,
      retry_in_ms: 10,
    }),
  );
  const { execution, events } = appendEvents(base, drafts, new Date().toISOString());
  const bus = new EventBus();
  const engine: Pick<WorkflowEngine, 'get' | 'events' | 'subscribe'> = {
    get: async (id) => {
      if (id !== execution.execution_id) throw new DomainError('EXECUTION_NOT_FOUND', `no ${id}`);
      return execution;
    },
    events: async (_id, _actor, afterSeq, limit) => events.filter((e) => e.seq > afterSeq).slice(0, limit),
    subscribe: (id, listener) => bus.subscribe(id, listener),
  };
  const server = http.createServer();
  const gateway: Gateway = attachWebSocketGateway(server, {
    engine: engine as WorkflowEngine,
    authenticate: () => ANONYMOUS,
    logger: silentLogger,
    options: { maxBufferedBytes: MAX_BUFFERED, pingIntervalMs },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const publish = (event: AnyExecutionEvent): void => bus.publish(event);
  const stop = async (): Promise<void> => {
    await gateway.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { execution, events, gateway, bus, url, publish, stop };
}

describe('catching up', () => {
  it('when a reading client replays a history far larger than the send bound, then it is paced, not dropped, and goes on live', async () => {
    // ~19 MB of stored events against a 64 KiB bound.
    const history = await gatewayOverHistory(300, 64 * 1024, 30_000);
    const local = new WsClients(env.validator, () => history.url);
    try {
      const client = await local.open(history.execution.execution_id, { afterSeq: 0 });
      await client.waitUntil(() => client.persistedSeqs().length === 300, 'the whole history', 10_000);
      expect(client.closeInfo).toBeNull();

      const next = appendEvents(
        history.execution,
        [draft('step_started', 'only', { step_name: 'Only step', step_type: 'llm', attempt: 301, revision: 0 })],
        new Date().toISOString(),
      );
      history.publish(next.events[0]!);
      await client.waitForMessage((m) => m.seq === 301, 'the live event');

      expect(streamProblems(client.messages, 0)).toEqual([]);
      expectContiguous(client.persistedSeqs(), 1, 301);
      expect(local.takeViolations()).toEqual([]);
    } finally {
      await local.closeAll();
      await history.stop();
    }
  });

  it('when a client stops reading during its replay, then ping/pong drops it and it leaves nothing behind', async () => {
    const history = await gatewayOverHistory(300, 64 * 1024, 100);
    const local = new WsClients(env.validator, () => history.url);
    try {
      const client = await local.open(history.execution.execution_id, { afterSeq: 0 });
      client.pause();

      await waitFor(() => history.gateway.clientCount() === 0, 'the stalled client to be released');
      expect(history.gateway.channelCount()).toBe(0);
      expect(history.bus.listenerCount(history.execution.execution_id)).toBe(0);
      // Cut without a close frame; the client sees it once it reads again.
      client.resume();
      expect((await client.waitForClose()).code).toBe(1006);
      expect(client.persistedSeqs().length).toBeLessThan(300);
    } finally {
      await local.closeAll();
      await history.stop();
    }
  });
});
