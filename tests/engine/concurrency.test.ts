import { isDomainError } from '../../src/domain/errors.js';
import { startHarness, type Harness } from '../support/engine-harness.js';
import { removeTempDirs } from '../support/temp-dir.js';
import { ADMIN, waitFor, waitForStatus } from '../support/wait.js';

describe('concurrency', () => {
  let h: Harness | null = null;
  afterEach(async () => {
    await h?.close();
    h = null;
  });
  afterAll(removeTempDirs);

  async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
    try {
      return { ok: true, value: await p };
    } catch (err) {
      if (!isDomainError(err)) throw err;
      return { ok: false, code: err.code };
    }
  }

  it.each([
    ['accept vs reject', [true, false]],
    ['accept vs accept', [true, true]],
  ] as const)(
    'when two decisions race on one acceptance gate (%s), then exactly one wins and the other is INVALID_STATE_TRANSITION',
    async (_, [a, b]) => {
      h = await startHarness();
      const e = await h.engine.start({
        workflowId: 'project-brief',
        projectId: 'p',
        initialContext: { idea: 'x' },
        actor: ADMIN,
      });
      await waitForStatus(h.engine, e.execution_id, 'waiting_clarification');
      await h.engine.submitClarification(e.execution_id, ADMIN, { audience: 'devs' });
      await waitForStatus(h.engine, e.execution_id, 'waiting_acceptance');

      const results = await Promise.all([
        settle(h.engine.submitAcceptance(e.execution_id, { id: 'u1', admin: true }, a, 'first')),
        settle(h.engine.submitAcceptance(e.execution_id, { id: 'u2', admin: true }, b, 'second')),
      ]);
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok)).toEqual([{ ok: false, code: 'INVALID_STATE_TRANSITION' }]);
      await h.engine.idle();
      const after = await h.engine.get(e.execution_id, ADMIN);
      expect(after.decisions.filter((d) => d.type === 'acceptance')).toHaveLength(1);
    },
  );

  it('when two clarification answers race, then exactly one is recorded', async () => {
    h = await startHarness();
    const e = await h.engine.start({
      workflowId: 'project-brief',
      projectId: 'p',
      initialContext: { idea: 'x' },
      actor: ADMIN,
    });
    await waitForStatus(h.engine, e.execution_id, 'waiting_clarification');
    const results = await Promise.all([
      settle(h.engine.submitClarification(e.execution_id, ADMIN, { audience: 'one' })),
      settle(h.engine.submitClarification(e.execution_id, ADMIN, { audience: 'two' })),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toEqual([{ ok: false, code: 'INVALID_STATE_TRANSITION' }]);
  });

  it('when more executions start than MAX_CONCURRENT_EXECUTIONS, then the rest stay pending and run in FIFO order as slots free', async () => {
    h = await startHarness({ options: { maxConcurrentExecutions: 2 } });
    const harness = h;
    harness.fake.script(
      'summarize',
      Array.from({ length: 5 }, () => ({ kind: 'delay' as const, ms: 40 })),
    );
    const started = [];
    for (let i = 0; i < 5; i++) {
      started.push(
        await harness.engine.start({
          workflowId: 'quick-summary',
          projectId: 'p',
          initialContext: { text: `t${i}` },
          actor: ADMIN,
        }),
      );
    }
    let maxRunning = 0;
    const unsubscribe = harness.engine.bus.subscribeAll(() => {
      void harness.engine.countByStatus().then((c) => {
        maxRunning = Math.max(maxRunning, c.running);
      });
    });
    await waitFor(() => harness.fake.inFlight === 2, 'two calls in flight');
    const counts = await harness.engine.countByStatus();
    expect(counts.running).toBe(2);
    expect(counts.pending).toBe(3);
    for (const e of started) await waitForStatus(harness.engine, e.execution_id, 'completed');
    unsubscribe();
    expect(harness.fake.maxInFlight).toBe(2);
    expect(maxRunning).toBeLessThanOrEqual(2);
    // First come, first served: execution_started in creation order.
    const startedAt = await Promise.all(started.map((e) => harness.engine.get(e.execution_id, ADMIN)));
    const order = [...startedAt].sort((x, y) => x.started_at!.localeCompare(y.started_at!)).map((x) => x.execution_id);
    expect(order).toEqual(started.map((e) => e.execution_id));
  });

  it('when many executions run, then at most LLM_CONCURRENCY model calls are in flight at once', async () => {
    h = await startHarness({ options: { maxConcurrentExecutions: 10, llmConcurrency: 3 } });
    const harness = h;
    harness.fake.script(
      'summarize',
      Array.from({ length: 8 }, () => ({ kind: 'delay' as const, ms: 30 })),
    );
    const started = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        harness.engine.start({
          workflowId: 'quick-summary',
          projectId: 'p',
          initialContext: { text: `t${i}` },
          actor: ADMIN,
        }),
      ),
    );
    await waitFor(async () => (await harness.engine.countByStatus()).running === 8, 'all eight running');
    for (const e of started) await waitForStatus(harness.engine, e.execution_id, 'completed');
    expect(harness.fake.maxInFlight).toBe(3);
  });
});
