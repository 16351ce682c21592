import type { Actor } from '../../src/engine/api.js';
import { startHarness, type Harness } from '../support/engine-harness.js';
import { removeTempDirs } from '../support/temp-dir.js';
import { ADMIN, waitForStatus } from '../support/wait.js';

const alice: Actor = { id: 'alice', admin: false };
const bob: Actor = { id: 'bob', admin: false };

describe('visibility and listing', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });
  afterAll(removeTempDirs);

  it("when a non-admin asks for another user's execution, then it does not exist for them", async () => {
    const e = await h.engine.start({
      workflowId: 'project-brief',
      projectId: 'p',
      initialContext: { idea: 'x' },
      actor: alice,
    });
    await waitForStatus(h.engine, e.execution_id, 'waiting_clarification');
    expect((await h.engine.get(e.execution_id, alice)).created_by).toBe('alice');
    expect((await h.engine.get(e.execution_id, ADMIN)).created_by).toBe('alice');
    for (const call of [
      () => h.engine.get(e.execution_id, bob),
      () => h.engine.events(e.execution_id, bob, 0, 10),
      () => h.engine.cancel(e.execution_id, bob),
      () => h.engine.resume(e.execution_id, bob),
      () => h.engine.submitClarification(e.execution_id, bob, { audience: 'x' }),
      () => h.engine.submitAcceptance(e.execution_id, bob, true, null),
      () => h.engine.get('00000000-0000-4000-8000-000000000000', ADMIN),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: 'EXECUTION_NOT_FOUND', status: 404 });
    }
  });

  it('when listing with filters and a cursor, then pages are newest first and never skip or repeat while new executions arrive', async () => {
    h.fake.script(
      'summarize',
      Array.from({ length: 20 }, () => ({ kind: 'hang' as const })),
    );
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const e = await h.engine.start({
        workflowId: i % 2 === 0 ? 'quick-summary' : 'project-brief',
        projectId: i < 4 ? 'alpha' : 'beta',
        initialContext: i % 2 === 0 ? { text: `t${i}` } : { idea: `i${i}` },
        actor: i === 6 ? bob : alice,
      });
      ids.push(e.execution_id);
      // created_at has millisecond resolution; ties are ordered by id, not by arrival.
      await new Promise((r) => setTimeout(r, 2));
    }
    const seen: string[] = [];
    let page = await h.engine.list({ limit: 3 });
    seen.push(...page.items.map((e) => e.execution_id));
    // New executions created between pages must not shift the following pages.
    await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'alpha',
      initialContext: { text: 'late' },
      actor: alice,
    });
    while (page.nextCursor) {
      page = await h.engine.list({ limit: 3, cursor: page.nextCursor });
      seen.push(...page.items.map((e) => e.execution_id));
    }
    expect(seen).toEqual([...ids].reverse());

    const alphaQuick = await h.engine.list({ limit: 10, projectId: 'alpha', workflowId: 'quick-summary' });
    expect(alphaQuick.items.map((e) => e.execution_id)).toHaveLength(3);
    const bobs = await h.engine.list({ limit: 10, createdBy: 'bob' });
    expect(bobs.items.map((e) => e.execution_id)).toEqual([ids[6]]);
    await waitForStatus(h.engine, ids[1]!, 'waiting_clarification');
    await waitForStatus(h.engine, ids[3]!, 'waiting_clarification');
    await waitForStatus(h.engine, ids[5]!, 'waiting_clarification');
    const waiting = await h.engine.list({ limit: 2, status: ['waiting_clarification', 'paused'] });
    expect(waiting.items.map((e) => e.execution_id)).toEqual([ids[5], ids[3]]);
    const rest = await h.engine.list({
      limit: 2,
      status: ['waiting_clarification', 'paused'],
      cursor: waiting.nextCursor!,
    });
    expect(rest).toEqual({ items: [expect.objectContaining({ execution_id: ids[1] })], nextCursor: null });
    for (const id of ids) await h.engine.cancel(id, ADMIN);
  });

  it('when the cursor is malformed, then listing is a VALIDATION_ERROR', async () => {
    for (const cursor of [
      'not base64!',
      Buffer.from('"x"').toString('base64url'),
      Buffer.from('[1,2]').toString('base64url'),
    ]) {
      await expect(h.engine.list({ limit: 5, cursor })).rejects.toMatchObject({
        code: 'VALIDATION_ERROR',
        status: 400,
      });
    }
  });

  it('when a subscriber unsubscribes, then no listener is left behind', async () => {
    const e = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'x' },
      actor: ADMIN,
    });
    const got: string[] = [];
    const off = h.engine.subscribe(e.execution_id, (ev) => got.push(ev.event_type));
    const off2 = h.engine.subscribe(e.execution_id, () => undefined);
    expect(h.engine.bus.listenerCount(e.execution_id)).toBe(2);
    await waitForStatus(h.engine, e.execution_id, 'completed');
    await h.engine.idle();
    off();
    off();
    off2();
    expect(h.engine.bus.listenerCount(e.execution_id)).toBe(0);
    expect(got).toContain('execution_completed');
    expect(got.filter((t) => t !== 'step_progress')).toEqual([
      'execution_started',
      'step_started',
      'step_completed',
      'execution_completed',
    ]);
  });

  it('when asked for health and counts, then they reflect the store and registry', async () => {
    expect(await h.engine.health()).toEqual({
      storeWritable: true,
      definitionsLoaded: 3,
      llmBreakerOpen: false,
      llmRetryAfterSeconds: null,
    });
    const e = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'x' },
      actor: ADMIN,
    });
    await waitForStatus(h.engine, e.execution_id, 'completed');
    expect(await h.engine.countByStatus()).toMatchObject({ completed: 1, pending: 0, running: 0, failed: 0 });
  });
});

describe('creation order', () => {
  afterAll(removeTempDirs);

  it('when executions start within the same millisecond, then newest first is still the order they were started in', async () => {
    const frozen = new Date('2026-11-26T12:00:00.000Z');
    const h = await startHarness({ clock: () => frozen });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const e = await h.engine.start({
          workflowId: 'quick-summary',
          projectId: `p${i}`,
          initialContext: { text: 'x' },
          actor: ADMIN,
        });
        ids.push(e.execution_id);
      }
      const page = await h.engine.list({ limit: 100 });
      expect(page.items.map((e) => e.execution_id)).toEqual([...ids].reverse());
      expect(new Set(page.items.map((e) => e.created_at)).size).toBe(12);
    } finally {
      await h.close();
    }
  });
});
