/**
 * Reconnect without loss (PRODUCT §5): `?after_seq=N` replays every stored event with seq > N in
 * order, then goes on live, with no gap and no duplicate, also when events happen while the
 * stored state is being read.
 */
import type { AnyExecutionEvent } from '../../src/domain/types';
import { progressEvent } from '../../src/events/log';
import { ADMIN_ACTOR } from '../support/service-harness';
import { expectContiguous, streamProblems, type WsTestClient } from '../support/ws-client';
import { useWsTestService } from '../support/ws-service';
import { answer, briefWaitingForAnswers, decide, startExecution, storedEvents } from '../support/flows';

const env = useWsTestService();

function persisted(events: readonly { event_type: string; seq: number }[]): [number, string][] {
  return events
    .filter((e) => e.event_type !== 'snapshot' && e.event_type !== 'step_progress')
    .map((e) => [e.seq, e.event_type]);
}

/** A step_progress of the execution as the engine publishes it: the seq of the last stored event. */
async function publishProgress(id: string, delta: string): Promise<void> {
  const execution = await env.svc.service.engine.get(id, ADMIN_ACTOR);
  env.svc.service.engine.bus.publish(
    progressEvent(execution, 'draft_brief', { delta, attempt: 1 }, new Date().toISOString()),
  );
}

/** Runs `during` once, inside the gateway's first read of the stored state, before or after the read. */
function duringNextRead<K extends 'get' | 'events'>(
  method: K,
  when: 'before' | 'after',
  during: () => Promise<void>,
): () => void {
  const engine = env.svc.service.engine;
  const original = engine[method];
  let armed = true;
  const hooked = async (...args: unknown[]): Promise<unknown> => {
    if (!armed) return (original as (...a: unknown[]) => Promise<unknown>).apply(engine, args);
    armed = false;
    if (when === 'before') await during();
    const result = await (original as (...a: unknown[]) => Promise<unknown>).apply(engine, args);
    if (when === 'after') await during();
    return result;
  };
  (engine as unknown as Record<K, unknown>)[method] = hooked;
  return () => {
    (engine as unknown as Record<K, unknown>)[method] = original;
  };
}

/** Drives a project-brief execution at its clarification gate to the end; returns its stored events. */
async function finish(id: string, client: WsTestClient): Promise<AnyExecutionEvent[]> {
  await client.waitForEvent('waiting_acceptance', 'draft_brief');
  await decide(env.svc, id, true);
  expect((await client.waitForClose()).code).toBe(1000);
  return storedEvents(env.svc, id);
}

describe('reconnect with after_seq', () => {
  it('when a client drops in the middle of a run and reconnects with after_seq, then the two streams join with no gap and no duplicate', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    const first = await env.clients.open(id, { afterSeq: 0 });
    await first.waitForEvent('waiting_clarification');
    await answer(env.svc, id);
    // Leave as soon as the next step starts; the run goes on without us.
    await first.waitForEvent('step_started', 'draft_brief');
    await first.close();
    const n = first.persistedSeqs().at(-1)!;

    await env.svc.waitForStatus(id, 'waiting_acceptance');
    const second = await env.clients.open(id, { afterSeq: n });
    const stored = await finish(id, second);

    expect(streamProblems(first.messages, 0)).toEqual([]);
    expect(streamProblems(second.messages, n)).toEqual([]);
    expectContiguous([...first.persistedSeqs(), ...second.persistedSeqs()], 1, stored.at(-1)!.seq);
    expect(persisted([...first.messages, ...second.messages])).toEqual(persisted(stored));
    expect(second.persistedSeqs().length).toBeGreaterThan(1);
  });

  for (const when of ['before', 'after'] as const) {
    it(`when events are stored and published ${when} the replay reads the store, then each is sent once, in order`, async () => {
      const id = await briefWaitingForAnswers(env.svc);
      const restore = duringNextRead('events', when, async () => {
        await publishProgress(id, 'a delta from before the gate was answered');
        await answer(env.svc, id);
      });
      try {
        const client = await env.clients.open(id, { afterSeq: 1 });
        const stored = await finish(id, client);

        expect(streamProblems(client.messages, 1)).toEqual([]);
        expectContiguous(client.persistedSeqs(), 2, stored.at(-1)!.seq);
        expect(persisted(client.messages)).toEqual(persisted(stored).slice(1));
      } finally {
        restore();
      }
    });

    it(`when events are stored and published ${when} the snapshot is read, then the snapshot and the live events join without overlap`, async () => {
      const id = await briefWaitingForAnswers(env.svc);
      const restore = duringNextRead('get', when, async () => {
        await publishProgress(id, 'a delta from before the gate was answered');
        await answer(env.svc, id);
      });
      try {
        const client = await env.clients.open(id);
        const stored = await finish(id, client);
        const snapshot = client.ofType('snapshot')[0]!;

        expect(client.messages[0]).toBe(snapshot);
        expect(streamProblems(client.messages, null)).toEqual([]);
        expectContiguous(client.persistedSeqs(), snapshot.seq + 1, stored.at(-1)!.seq);
        // The snapshot is the state after exactly `seq` events; with the answer stored before the
        // read, that is past the gate.
        expect(snapshot.data.execution.last_seq).toBe(snapshot.seq);
        if (when === 'before') expect(snapshot.data.execution.status).not.toBe('waiting_clarification');
        else expect(snapshot.data.execution.status).toBe('waiting_clarification');
      } finally {
        restore();
      }
    });
  }

  it('when a busy run is followed by clients that keep dropping and reconnecting with after_seq, then each sees every stored event exactly once, in order', async () => {
    // Every third failed attempt pauses the run and it is resumed at once: a long, fast stream of
    // stored events (step_started, step_failed, execution_paused, execution_resumed), then success.
    const cycles = 25;
    env.svc.fake.script(
      'summarize',
      Array.from({ length: 3 * cycles }, () => ({ kind: 'fail' as const, retryable: true })),
    );
    const resumeErrors: unknown[] = [];
    let id = '';
    const stopResuming = env.svc.service.engine.bus.on('execution_paused', (event) => {
      if (event.execution_id !== id) return;
      env.svc.service.engine.resume(id, ADMIN_ACTOR).catch((err: unknown) => resumeErrors.push(err));
    });
    try {
      id = await startExecution(env.svc, 'quick-summary', { text: 'Water the plants every week.' });

      const follow = async (chunk: number): Promise<{ seqs: number[]; connections: number; problems: string[] }> => {
        const seqs: number[] = [];
        const problems: string[] = [];
        for (let connections = 1; ; connections++) {
          const after = seqs.at(-1) ?? 0;
          const client = await env.clients.open(id, { afterSeq: after });
          const leaveAt = 1 + (connections % chunk);
          await client.waitUntil(
            () => client.messages.length >= leaveAt || client.closeInfo !== null,
            `${leaveAt} messages or the close`,
            10_000,
          );
          const finished = client.closeInfo;
          if (!finished) await client.close();
          problems.push(...streamProblems(client.messages, after).map((p) => `connection ${connections}: ${p}`));
          seqs.push(...client.persistedSeqs());
          if (finished) {
            if (finished.code !== 1000) problems.push(`connection ${connections}: closed ${finished.code}`);
            return { seqs, connections, problems };
          }
        }
      };
      const steady = await env.clients.open(id, { afterSeq: 0 });
      const followers = await Promise.all([follow(2), follow(5), follow(9)]);
      expect((await steady.waitForClose(10_000)).code).toBe(1000);

      const stored = await storedEvents(env.svc, id);
      const last = stored.at(-1)!;
      expect(last.event_type).toBe('execution_completed');
      expect(last.seq).toBeGreaterThan(6 * cycles);
      expect(resumeErrors).toEqual([]);
      expect(streamProblems(steady.messages, 0)).toEqual([]);
      expectContiguous(steady.persistedSeqs(), 1, last.seq);
      for (const f of followers) {
        expect(f.problems).toEqual([]);
        expectContiguous(f.seqs, 1, last.seq);
        expect(f.connections).toBeGreaterThan(10);
      }
    } finally {
      stopResuming();
    }
  });
});
