/**
 * What connections hold and how they end (PRODUCT §5): closed sockets leave no subscription,
 * listener or timer behind; ping/pong drops dead peers; shutdown closes everyone with 1001.
 */
import { CLOSE_CODES } from '../../generated/asyncapi';
import { waitFor } from '../support/wait';
import { WsClients } from '../support/ws-client';
import { briefWaitingForAnswers, cancel } from '../support/flows';
import { startTestService } from '../support/service-harness';
import { useWsTestService } from '../support/ws-service';

const PING_INTERVAL_MS = 100;

const env = useWsTestService({
  // A close timer outlives every wait here, so one left running is seen.
  gatewayOptions: { pingIntervalMs: PING_INTERVAL_MS, closeTimeoutMs: 60_000 },
});

/** Timers that keep the process alive (the gateway's close timers among them). */
function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

async function expectReleased(ids: string[]): Promise<void> {
  const { gateway, engine } = env.svc.service;
  await waitFor(() => gateway.clientCount() === 0, 'every client to be released');
  expect(gateway.channelCount()).toBe(0);
  for (const id of ids) expect([id, engine.bus.listenerCount(id)]).toEqual([id, 0]);
}

describe('cleanup', () => {
  it('test_websocket_disconnect_cleanup: when clients disconnect, then no client, channel or bus listener is left', async () => {
    const { gateway, engine } = env.svc.service;
    const a = await briefWaitingForAnswers(env.svc);
    const b = await briefWaitingForAnswers(env.svc);
    const onA = await Promise.all([env.clients.open(a), env.clients.open(a), env.clients.open(a)]);
    const onB = await env.clients.open(b);
    await Promise.all([...onA, onB].map((c) => c.waitForEvent('snapshot')));

    expect(gateway.clientCount()).toBe(4);
    expect(gateway.channelCount()).toBe(2);
    // One engine subscription per execution, shared by its clients.
    expect(engine.bus.listenerCount(a)).toBe(1);
    expect(engine.bus.listenerCount(b)).toBe(1);

    await onA[0]!.close();
    await waitFor(() => gateway.clientCount() === 3, 'the first client to be released');
    expect(engine.bus.listenerCount(a)).toBe(1);

    await Promise.all([onA[1]!.close(), onA[2]!.close(), onB.close()]);
    await expectReleased([a, b]);
  });

  it('when the server closes the clients (terminal event), then no close timer is left running either', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    const before = activeTimers();
    const group = await Promise.all([env.clients.open(id), env.clients.open(id), env.clients.open(id)]);
    await Promise.all(group.map((c) => c.waitForEvent('snapshot')));

    await cancel(env.svc, id);
    for (const c of group) expect(await c.waitForClose()).toEqual(CLOSE_CODES.NORMAL);

    await expectReleased([id]);
    await waitFor(() => activeTimers() <= before, `active timers to fall back to ${before}`);
  });

  it('when a client disconnects abruptly (no close frame), then it is released too', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    const client = await env.clients.open(id);
    await client.waitForEvent('snapshot');

    client.ws.terminate();

    await expectReleased([id]);
  });
});

describe('ping/pong', () => {
  it('when a peer stops answering pings, then it is dropped while a live peer stays connected', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    const dead = await env.clients.open(id, { autoPong: false });
    const live = await env.clients.open(id);
    await Promise.all([dead.waitForEvent('snapshot'), live.waitForEvent('snapshot')]);

    const closed = await dead.waitForClose(20 * PING_INTERVAL_MS);

    // Terminated without a close frame: the peer is presumed gone.
    expect(closed.code).toBe(1006);
    expect(dead.pings).toBeGreaterThanOrEqual(1);
    await waitFor(() => env.svc.service.gateway.clientCount() === 1, 'the dead peer to be released');
    await live.waitUntil(() => live.pings >= 3, 'three pings');
    expect(live.closeInfo).toBeNull();
    expect(env.svc.service.engine.bus.listenerCount(id)).toBe(1);
    await live.close();
    await expectReleased([id]);
  });
});

describe('shutdown', () => {
  it('when the service stops, then every client is closed with 1001 and a reason, and stop() resolves', async () => {
    const other = await startTestService();
    const otherClients = new WsClients(env.validator, () => other.url);
    try {
      const id = await briefWaitingForAnswers(other);
      const group = await Promise.all([otherClients.open(id), otherClients.open(id, { afterSeq: 0 })]);
      await Promise.all([group[0]!.waitForEvent('snapshot'), group[1]!.waitForEvent('waiting_clarification')]);

      await other.stop();

      for (const c of group) expect(await c.waitForClose()).toEqual(CLOSE_CODES.GOING_AWAY);
      expect(other.service.gateway.clientCount()).toBe(0);
      expect(other.service.gateway.channelCount()).toBe(0);
      expect(otherClients.takeViolations()).toEqual([]);
    } finally {
      await otherClients.closeAll();
      await other.stop();
    }
  });
});
