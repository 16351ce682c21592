import { startHarness, type Harness } from '../support/engine-harness.js';
import { removeTempDirs } from '../support/temp-dir.js';
import { ADMIN, waitForStatus } from '../support/wait.js';

describe('bug-triage: a model that asks before it answers', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });
  afterAll(removeTempDirs);

  const report = { title: 'Crash on save', report: 'The app crashes when I press save.' };

  it('when the model asks questions, then the execution waits for answers, and the step re-runs with them', async () => {
    h.fake.script('triage', [
      {
        kind: 'questions',
        questions: [
          { id: 'version', text: 'Which version are you on?' },
          { id: 'frequency', text: 'How often does it happen?', required: false },
        ],
      },
    ]);
    const e = await h.engine.start({ workflowId: 'bug-triage', projectId: 'p', initialContext: report, actor: ADMIN });
    const waiting = await waitForStatus(h.engine, e.execution_id, 'waiting_clarification');
    expect(waiting.pending_clarification).toMatchObject({
      step_id: 'triage',
      questions: [
        { id: 'version', text: 'Which version are you on?', required: true },
        { id: 'frequency', required: false },
      ],
    });
    expect(waiting.steps[0]).toMatchObject({ status: 'waiting_clarification', attempts: 1 });
    expect(h.fake.calls[0]!.mayRequestClarification).toBe(true);

    await expect(h.engine.submitClarification(e.execution_id, ADMIN, { frequency: 'always' })).rejects.toMatchObject({
      code: 'MISSING_ANSWERS',
      details: { missing: ['version'] },
    });
    await h.engine.submitClarification(e.execution_id, ADMIN, { version: '2.4.1' });
    const gate = await waitForStatus(h.engine, e.execution_id, 'waiting_acceptance');
    expect(gate.pending_acceptance?.step_id).toBe('fix_plan');
    const rerun = h.fake.callsFor('triage')[1]!;
    expect(rerun.messages.at(-1)!.content).toContain('2.4.1');
    expect(gate.steps[0]).toMatchObject({ status: 'completed', attempts: 1 });
    const triage = gate.steps[0]!.output as { severity: string };
    expect(['critical', 'high', 'medium', 'low']).toContain(triage.severity);
  });

  it('when the fix plan is rejected (on_reject: fail), then the execution fails', async () => {
    const e = await h.engine.start({ workflowId: 'bug-triage', projectId: 'p', initialContext: report, actor: ADMIN });
    await waitForStatus(h.engine, e.execution_id, 'waiting_acceptance');
    const failed = await h.engine.submitAcceptance(e.execution_id, { id: 'lead', admin: true }, false, 'too risky');
    expect(failed.status).toBe('failed');
    expect(failed.error).toBe('REJECTED: step fix_plan was rejected by lead: too risky');
    expect(failed.steps[1]).toMatchObject({ status: 'failed' });
  });

  it('when a step may not ask questions, then a questions reply is invalid output', async () => {
    h.fake.script('summarize', [{ kind: 'questions', questions: [{ id: 'q', text: 'What?' }] }]);
    const e = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'x' },
      actor: ADMIN,
    });
    const done = await waitForStatus(h.engine, e.execution_id, 'completed');
    expect(done.steps[0]!.attempts).toBe(2);
  });
});
