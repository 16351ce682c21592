import type { AnyExecutionEvent } from '../../src/domain/types.js';
import { isDomainError } from '../../src/domain/errors.js';
import { startHarness, type Harness } from '../support/engine-harness.js';
import { removeTempDirs } from '../support/temp-dir.js';
import { ADMIN, waitForStatus } from '../support/wait.js';

function expectGapless(events: AnyExecutionEvent[]): void {
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
}

describe('project-brief, end to end', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });
  afterAll(removeTempDirs);

  it('when a person clarifies, rejects a draft with a comment and accepts the revision, then the execution completes with every decision and a gapless event log', async () => {
    const reviewer = { id: 'rita', admin: false };
    const started = await h.engine.start({
      workflowId: 'project-brief',
      projectId: 'proj-42',
      initialContext: { idea: 'An app that reminds people to water their plants' },
      actor: reviewer,
    });
    expect(started.status).toBe('pending');
    expect(started.execution_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const clarifying = await waitForStatus(h.engine, started.execution_id, 'waiting_clarification');
    expect(clarifying.pending_clarification).toMatchObject({
      step_id: 'clarify_goals',
      questions: [
        { id: 'audience', required: true },
        { id: 'constraints', required: false },
      ],
    });

    const answered = await h.engine.submitClarification(started.execution_id, reviewer, {
      audience: 'Busy urban professionals',
    });
    expect(answered.status).toBe('running');
    expect(answered.pending_clarification).toBeNull();

    const firstDraft = await waitForStatus(h.engine, started.execution_id, 'waiting_acceptance');
    expect(firstDraft.pending_acceptance).toMatchObject({ step_id: 'draft_brief', revision: 0 });
    const draftCalls = h.fake.callsFor('draft_brief');
    expect(draftCalls).toHaveLength(1);
    expect(draftCalls[0]!.messages.map((m) => m.content).join('\n')).toContain('Busy urban professionals');

    await h.engine.submitAcceptance(started.execution_id, reviewer, false, 'Name a concrete success metric');
    const secondDraft = await waitForStatus(h.engine, started.execution_id, 'waiting_acceptance');
    expect(secondDraft.pending_acceptance).toMatchObject({ step_id: 'draft_brief', revision: 1 });
    const revisedPrompt = h.fake
      .callsFor('draft_brief')[1]!
      .messages.map((m) => m.content)
      .join('\n');
    expect(revisedPrompt).toContain('Name a concrete success metric');
    expect(revisedPrompt).toContain(
      JSON.stringify(firstDraft.pending_acceptance!.output, null, 2).split('\n')[1]!.trim(),
    );

    await h.engine.submitAcceptance(started.execution_id, reviewer, true, null);
    const done = await waitForStatus(h.engine, started.execution_id, 'completed');

    expect(done.completed_steps).toEqual(['clarify_goals', 'draft_brief', 'task_breakdown']);
    expect(done.steps.map((s) => [s.step_id, s.status, s.revision])).toEqual([
      ['clarify_goals', 'completed', 0],
      ['draft_brief', 'completed', 1],
      ['task_breakdown', 'completed', 0],
    ]);
    expect(done.steps[0]!.output).toEqual({ audience: 'Busy urban professionals' });
    expect(done.steps[1]!.output).toEqual(secondDraft.pending_acceptance!.output);
    expect((done.steps[2]!.output as { tasks: unknown[] }).tasks.length).toBeGreaterThan(0);
    expect(done.completed_at).not.toBeNull();
    expect(done.error).toBeNull();
    expect(done.usage.total_tokens).toBeGreaterThan(0);
    expect(done.decisions).toEqual([
      expect.objectContaining({
        type: 'clarification',
        step_id: 'clarify_goals',
        actor: 'rita',
        answers: { audience: 'Busy urban professionals' },
      }),
      expect.objectContaining({
        type: 'acceptance',
        step_id: 'draft_brief',
        actor: 'rita',
        accepted: false,
        comment: 'Name a concrete success metric',
      }),
      expect.objectContaining({
        type: 'acceptance',
        step_id: 'draft_brief',
        actor: 'rita',
        accepted: true,
        comment: null,
      }),
    ]);
    for (const d of done.decisions) expect(Date.parse(d.at)).not.toBeNaN();

    const events = await h.engine.events(started.execution_id, reviewer, 0, 1000);
    expectGapless(events);
    expect(done.last_seq).toBe(events.length);
    expect(events.map((e) => e.event_type)).toEqual([
      'execution_started',
      'step_started',
      'waiting_clarification',
      'clarification_submitted',
      'step_completed',
      'step_started',
      'waiting_acceptance',
      'acceptance_submitted',
      'step_started',
      'waiting_acceptance',
      'acceptance_submitted',
      'step_completed',
      'step_started',
      'step_completed',
      'execution_completed',
    ]);
    // Persisted events were published in the same order, each after its write.
    await h.engine.idle();
    const publishedPersisted = h.published.filter((e) => e.event_type !== 'step_progress');
    expect(publishedPersisted).toEqual(events);
  });

  it('when every revision is rejected, then the execution fails with REVISIONS_EXHAUSTED after max_revisions re-runs', async () => {
    const e = await h.engine.start({
      workflowId: 'project-brief',
      projectId: 'p',
      initialContext: { idea: 'x' },
      actor: ADMIN,
    });
    await waitForStatus(h.engine, e.execution_id, 'waiting_clarification');
    await h.engine.submitClarification(e.execution_id, ADMIN, { audience: 'devs', constraints: '' });
    for (let revision = 0; revision <= 2; revision++) {
      const waiting = await waitForStatus(h.engine, e.execution_id, ['waiting_acceptance', 'failed']);
      expect(waiting.pending_acceptance?.revision).toBe(revision);
      await h.engine.submitAcceptance(e.execution_id, ADMIN, false, `not yet ${revision}`);
    }
    const failed = await waitForStatus(h.engine, e.execution_id, 'failed');
    expect(failed.error).toMatch(/^REVISIONS_EXHAUSTED/);
    expect(failed.pending_acceptance).toBeNull();
    expect(h.fake.callsFor('draft_brief')).toHaveLength(3);
    expect(h.fake.callsFor('task_breakdown')).toHaveLength(0);
    const events = await h.engine.events(e.execution_id, ADMIN, 0, 1000);
    expectGapless(events);
    expect(events.at(-1)).toMatchObject({ event_type: 'execution_failed', step_id: 'draft_brief' });
  });

  it('when answers name unknown questions, miss a required one or leave it blank, then they are refused and the gate stays open', async () => {
    const e = await h.engine.start({
      workflowId: 'project-brief',
      projectId: 'p',
      initialContext: { idea: 'x' },
      actor: ADMIN,
    });
    await waitForStatus(h.engine, e.execution_id, 'waiting_clarification');

    const attempt = async (answers: Record<string, string>) => {
      try {
        await h.engine.submitClarification(e.execution_id, ADMIN, answers);
        throw new Error('accepted');
      } catch (err) {
        if (!isDomainError(err)) throw err;
        return { code: err.code, details: err.details };
      }
    };
    expect(await attempt({ audience: 'devs', budget: '10k' })).toEqual({
      code: 'VALIDATION_ERROR',
      details: { unknown_questions: ['budget'] },
    });
    expect(await attempt({ constraints: 'none' })).toEqual({
      code: 'MISSING_ANSWERS',
      details: { missing: ['audience'] },
    });
    expect(await attempt({ audience: '   ' })).toEqual({ code: 'MISSING_ANSWERS', details: { missing: ['audience'] } });

    const still = await h.engine.get(e.execution_id, ADMIN);
    expect(still.status).toBe('waiting_clarification');
    expect(still.decisions).toEqual([]);
  });

  it('when an acceptance arrives while the execution waits for clarification, then it is an INVALID_STATE_TRANSITION', async () => {
    const e = await h.engine.start({
      workflowId: 'project-brief',
      projectId: 'p',
      initialContext: { idea: 'x' },
      actor: ADMIN,
    });
    await waitForStatus(h.engine, e.execution_id, 'waiting_clarification');
    await expect(h.engine.submitAcceptance(e.execution_id, ADMIN, true, null)).rejects.toMatchObject({
      code: 'INVALID_STATE_TRANSITION',
    });
  });
});
