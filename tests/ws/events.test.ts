/**
 * Day 4: the live event stream of an execution (PRODUCT §5, asyncapi.yaml). Every message every
 * client receives is checked against its AsyncAPI payload schema.
 */
import { CLOSE_CODES } from '../../generated/asyncapi';
import { expectContiguous } from '../support/ws-client';
import { useWsTestService } from '../support/ws-service';
import { answer, briefWaitingForAnswers, cancel, decide, getExecution, storedEvents } from '../support/flows';

const env = useWsTestService();

describe('WebSocket event stream', () => {
  it('test_websocket_connect: when a client connects, then a snapshot comes first with the last stored seq and the execution as GET shows it', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    const stored = await storedEvents(env.svc, id);
    const body = await getExecution(env.svc, id);

    const client = await env.clients.open(id);
    const first = await client.waitForMessage(() => true, 'the first message');

    expect(first.event_type).toBe('snapshot');
    expect(first.execution_id).toBe(id);
    expect(stored.length).toBeGreaterThan(0);
    expect(first.seq).toBe(stored.at(-1)!.seq);
    expect(first.data).toEqual({ execution: body });
  });

  it('test_websocket_receives_step_started: when a gate is answered, then the next step_started arrives live with the next seq', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    const client = await env.clients.open(id);
    const snapshot = await client.waitForEvent('snapshot');

    await answer(env.svc, id);
    const started = await client.waitForEvent('step_started', 'draft_brief');

    expect(started).toMatchObject({
      execution_id: id,
      step_id: 'draft_brief',
      data: { step_name: 'Draft the project brief', step_type: 'llm', attempt: 1, revision: 0 },
    });
    expect(started.seq).toBeGreaterThan(snapshot.seq);
    const seqs = client.persistedSeqs();
    expectContiguous(seqs, snapshot.seq + 1, seqs.at(-1)!);
  });

  it('test_websocket_receives_step_completed: when steps finish, then step_completed carries their output', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    const client = await env.clients.open(id);

    await answer(env.svc, id);
    const clarified = await client.waitForEvent('step_completed', 'clarify_goals');
    expect(clarified.data.output).toEqual({ audience: 'Busy people with houseplants' });

    const waiting = await client.waitForEvent('waiting_acceptance', 'draft_brief');
    await decide(env.svc, id, true);
    const drafted = await client.waitForEvent('step_completed', 'draft_brief');
    expect(drafted.data.output).toEqual(waiting.data.pending_acceptance.output);
    expect(drafted.data).toMatchObject({ attempts: 1, revision: 0 });
  });

  it('test_websocket_receives_waiting_acceptance: when a draft needs a person, then waiting_acceptance carries what GET shows as pending', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    const client = await env.clients.open(id);

    await answer(env.svc, id);
    const waiting = await client.waitForEvent('waiting_acceptance');
    await env.svc.waitForStatus(id, 'waiting_acceptance');
    const body = await getExecution(env.svc, id);

    expect(waiting.step_id).toBe('draft_brief');
    expect(waiting.data.pending_acceptance).toEqual(body.pending_acceptance);
    expect(waiting.seq).toBe((await storedEvents(env.svc, id)).at(-1)!.seq);
  });

  it('test_multiple_websocket_clients: when several clients follow one execution, then each gets every event with the same seqs', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    const group = await Promise.all([env.clients.open(id), env.clients.open(id), env.clients.open(id)]);
    await Promise.all(group.map((c) => c.waitForEvent('snapshot')));

    await answer(env.svc, id);
    await Promise.all(group.map((c) => c.waitForEvent('waiting_acceptance')));
    await decide(env.svc, id, true);
    const closes = await Promise.all(group.map((c) => c.waitForClose()));

    const stored = await storedEvents(env.svc, id);
    const since = group[0]!.ofType('snapshot')[0]!.seq;
    const expected = stored.filter((e) => e.seq > since).map((e) => [e.seq, e.event_type]);
    expect(expected.at(-1)).toEqual([expect.any(Number), 'execution_completed']);
    for (const c of group) {
      expect(c.ofType('snapshot')[0]!.seq).toBe(since);
      const persisted = c.messages.filter((m) => m.event_type !== 'snapshot' && m.event_type !== 'step_progress');
      expect(persisted.map((m) => [m.seq, m.event_type])).toEqual(expected);
    }
    expect(closes).toEqual(group.map(() => CLOSE_CODES.NORMAL));
  });
});

describe('terminal events', () => {
  it('when an execution completes, then the server closes with 1000 right after execution_completed', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    await answer(env.svc, id);
    await env.svc.waitForStatus(id, 'waiting_acceptance');
    const client = await env.clients.open(id);
    await client.waitForEvent('snapshot');

    await decide(env.svc, id, true);

    expect(await client.waitForClose()).toEqual({ code: 1000, reason: CLOSE_CODES.NORMAL.reason });
    expect(client.messages.at(-1)!.event_type).toBe('execution_completed');
  });

  it('when an execution fails, then the server closes with 1000 right after execution_failed', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    await answer(env.svc, id);
    // Replayed from the start, so the first waiting_acceptance is seen even if it came before the connect.
    const client = await env.clients.open(id, { afterSeq: 0 });
    // max_revisions 2: the third rejection fails the execution.
    for (let round = 0; round < 3; round++) {
      await client.waitForMessage(
        (m) => m.event_type === 'waiting_acceptance' && m.data.pending_acceptance.revision === round,
        `waiting_acceptance of revision ${round}`,
      );
      await decide(env.svc, id, false, `not yet (${round})`);
    }

    expect(await client.waitForClose()).toEqual(CLOSE_CODES.NORMAL);
    const last = client.messages.at(-1)!;
    expect(last.event_type).toBe('execution_failed');
    expect(String((last.data as { error: string }).error)).toMatch(/^REVISIONS_EXHAUSTED/);
  });

  it('when an execution is cancelled, then the server closes with 1000 right after execution_cancelled', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    const client = await env.clients.open(id);
    await client.waitForEvent('snapshot');

    await cancel(env.svc, id);

    expect(await client.waitForClose()).toEqual(CLOSE_CODES.NORMAL);
    expect(client.messages.map((m) => m.event_type)).toEqual(['snapshot', 'execution_cancelled']);
  });

  it('when a client connects to a finished execution, then it gets the snapshot (or the replay) and then 1000', async () => {
    const id = await briefWaitingForAnswers(env.svc);
    await cancel(env.svc, id);
    const stored = await storedEvents(env.svc, id);
    const last = stored.at(-1)!.seq;

    const plain = await env.clients.open(id);
    expect(await plain.waitForClose()).toEqual(CLOSE_CODES.NORMAL);
    expect(plain.messages).toHaveLength(1);
    expect(plain.messages[0]).toMatchObject({ event_type: 'snapshot', seq: last });
    expect(plain.ofType('snapshot')[0]!.data.execution.status).toBe('cancelled');

    const replay = await env.clients.open(id, { afterSeq: 0 });
    expect(await replay.waitForClose()).toEqual(CLOSE_CODES.NORMAL);
    expect(replay.messages).toEqual(stored);

    const upToDate = await env.clients.open(id, { afterSeq: last });
    expect(await upToDate.waitForClose()).toEqual(CLOSE_CODES.NORMAL);
    expect(upToDate.messages).toEqual([]);
  });
});
