import { startHarness, type Harness } from '../support/engine-harness.js';
import { removeTempDirs } from '../support/temp-dir.js';
import { ADMIN, waitFor, waitForStatus } from '../support/wait.js';

describe('cancel', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });
  afterAll(removeTempDirs);

  it('when cancelled during a hanging model call, then the call is aborted and the execution is cancelled for good', async () => {
    h.fake.script('summarize', [{ kind: 'hang' }]);
    const e = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'x' },
      actor: ADMIN,
    });
    await waitFor(() => h.fake.inFlight === 1, 'the model call to start');

    const cancelled = await h.engine.cancel(e.execution_id, { id: 'carol', admin: true });
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.completed_at).not.toBeNull();
    expect(cancelled.steps[0]!.status).toBe('cancelled');
    expect(cancelled.decisions).toEqual([
      expect.objectContaining({ type: 'cancel', actor: 'carol', step_id: 'summarize' }),
    ]);

    await waitFor(() => h.fake.calls[0]!.outcome === 'aborted', 'the fake to see the abort');
    expect(h.fake.calls[0]!.aborted).toBe(true);
    await h.engine.idle();
    const after = await h.engine.get(e.execution_id, ADMIN);
    expect(after.status).toBe('cancelled');
    const events = await h.engine.events(e.execution_id, ADMIN, 0, 100);
    expect(events.map((x) => x.event_type)).toEqual(['execution_started', 'step_started', 'execution_cancelled']);
    expect(events.at(-1)!.data).toEqual({ actor: 'carol' });
    expect(h.fake.calls).toHaveLength(1);
  });

  it('when cancelled during a slow (delayed) call, then the delay is cut short', async () => {
    h.fake.script('summarize', [{ kind: 'delay', ms: 10_000 }]);
    const e = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'x' },
      actor: ADMIN,
    });
    await waitFor(() => h.fake.inFlight === 1, 'the model call to start');
    const t0 = Date.now();
    await h.engine.cancel(e.execution_id, ADMIN);
    await waitFor(() => h.fake.inFlight === 0, 'the call to end');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(h.fake.calls[0]!.aborted).toBe(true);
  });

  it('when cancelled at an open gate, then the gate closes', async () => {
    const e = await h.engine.start({
      workflowId: 'project-brief',
      projectId: 'p',
      initialContext: { idea: 'x' },
      actor: ADMIN,
    });
    await waitForStatus(h.engine, e.execution_id, 'waiting_clarification');
    const cancelled = await h.engine.cancel(e.execution_id, ADMIN);
    expect(cancelled).toMatchObject({ status: 'cancelled', pending_clarification: null, pending_acceptance: null });
    expect(cancelled.steps[0]!.status).toBe('cancelled');
    await expect(h.engine.submitClarification(e.execution_id, ADMIN, { audience: 'a' })).rejects.toMatchObject({
      code: 'INVALID_STATE_TRANSITION',
    });
  });

  it('when the execution is already terminal, then cancel is an INVALID_STATE_TRANSITION', async () => {
    const e = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'x' },
      actor: ADMIN,
    });
    await waitForStatus(h.engine, e.execution_id, 'completed');
    await expect(h.engine.cancel(e.execution_id, ADMIN)).rejects.toMatchObject({
      code: 'INVALID_STATE_TRANSITION',
      status: 400,
    });
  });

  it('when a pending execution is cancelled before it gets a slot, then it never runs', async () => {
    await h.close();
    h = await startHarness({ options: { maxConcurrentExecutions: 1 } });
    h.fake.script('summarize', [{ kind: 'hang' }]);
    const first = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: '1' },
      actor: ADMIN,
    });
    const second = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: '2' },
      actor: ADMIN,
    });
    await waitFor(() => h.fake.inFlight === 1, 'the first call');
    expect((await h.engine.get(second.execution_id, ADMIN)).status).toBe('pending');
    await h.engine.cancel(second.execution_id, ADMIN);
    await h.engine.cancel(first.execution_id, ADMIN);
    await h.engine.idle();
    expect(h.fake.calls.map((c) => c.executionId)).toEqual([first.execution_id]);
    const events = await h.engine.events(second.execution_id, ADMIN, 0, 10);
    expect(events.map((x) => x.event_type)).toEqual(['execution_cancelled']);
  });

  it('when resume is asked of a running execution, then it is EXECUTION_ALREADY_RUNNING; of a waiting one, INVALID_STATE_TRANSITION', async () => {
    h.fake.script('summarize', [{ kind: 'hang' }]);
    const running = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'x' },
      actor: ADMIN,
    });
    await waitForStatus(h.engine, running.execution_id, 'running');
    await expect(h.engine.resume(running.execution_id, ADMIN)).rejects.toMatchObject({
      code: 'EXECUTION_ALREADY_RUNNING',
      status: 409,
    });
    const waiting = await h.engine.start({
      workflowId: 'project-brief',
      projectId: 'p',
      initialContext: { idea: 'x' },
      actor: ADMIN,
    });
    await waitForStatus(h.engine, waiting.execution_id, 'waiting_clarification');
    await expect(h.engine.resume(waiting.execution_id, ADMIN)).rejects.toMatchObject({
      code: 'INVALID_STATE_TRANSITION',
    });
    await h.engine.cancel(running.execution_id, ADMIN);
  });
});
