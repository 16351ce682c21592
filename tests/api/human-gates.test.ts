/** Day 3: human interaction endpoints (seed tests test_submit_acceptance_approved … test_resume_wrong_state). */
import { answer, briefWaitingForAnswers, getExecution } from '../support/flows';
import { startTestService, type ExecutionBody, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';

let svc: TestService;
beforeEach(async () => {
  svc = await startTestService();
});
afterEach(async () => {
  await svc.stop();
});
afterAll(removeTempDirs);

async function briefWaitingAcceptance(): Promise<string> {
  const id = await briefWaitingForAnswers(svc);
  await answer(svc, id);
  await svc.waitForStatus(id, 'waiting_acceptance');
  return id;
}

type Exec = ExecutionBody & {
  pending_acceptance: { step_id: string; output: unknown; revision: number } | null;
  pending_clarification: { step_id: string; questions: { id: string }[] } | null;
  decisions: Record<string, unknown>[];
  completed_steps: string[];
  error: string | null;
};

describe('acceptance', () => {
  it('test_submit_acceptance_approved: when the draft is accepted, then the step completes and the execution goes on to completed', async () => {
    const id = await briefWaitingAcceptance();
    const waiting = (await svc.http().get(`/api/v1/executions/${id}`).expect(200)).body as Exec;
    expect(waiting.pending_acceptance).toMatchObject({
      step_id: 'draft_brief',
      revision: 0,
      output: expect.any(Object),
    });
    const res = await svc
      .http()
      .post(`/api/v1/executions/${id}/acceptance`)
      .send({ accepted: true, comment: 'Good' })
      .expect(200);
    expect((res.body as Exec).pending_acceptance).toBeNull();
    expect((res.body as Exec).status).toBe('running');
    const done = (await svc.waitForStatus(id, 'completed')) as Exec;
    expect(done.completed_steps).toEqual(['clarify_goals', 'draft_brief', 'task_breakdown']);
    expect(done.decisions.at(-1)).toMatchObject({
      type: 'acceptance',
      step_id: 'draft_brief',
      actor: 'anonymous',
      accepted: true,
      comment: 'Good',
    });
  });

  it('test_submit_acceptance_rejected: when the draft is rejected with a comment, then it is revised with the comment in the prompt', async () => {
    const id = await briefWaitingAcceptance();
    await svc
      .http()
      .post(`/api/v1/executions/${id}/acceptance`)
      .send({ accepted: false, comment: 'Name the budget explicitly' })
      .expect(200);
    await svc.waitForStatus(id, 'waiting_acceptance');
    const again = (await svc.http().get(`/api/v1/executions/${id}`).expect(200)).body as Exec;
    expect(again.pending_acceptance).toMatchObject({ step_id: 'draft_brief', revision: 1 });
    const revisedPrompt = svc.fake
      .callsFor('draft_brief')
      .at(-1)!
      .messages.map((m) => m.content)
      .join('\n');
    expect(revisedPrompt).toContain('Name the budget explicitly');
  });

  it('when rejected more often than max_revisions allows, then the execution fails with REVISIONS_EXHAUSTED', async () => {
    const id = await briefWaitingAcceptance();
    for (let revision = 1; revision <= 2; revision++) {
      await svc
        .http()
        .post(`/api/v1/executions/${id}/acceptance`)
        .send({ accepted: false, comment: `try ${revision}` })
        .expect(200);
      await svc.waitForStatus(id, 'waiting_acceptance');
    }
    await svc
      .http()
      .post(`/api/v1/executions/${id}/acceptance`)
      .send({ accepted: false, comment: 'still no' })
      .expect(200);
    const failed = (await svc.waitForStatus(id, 'failed')) as Exec;
    expect(failed.error).toMatch(/^REVISIONS_EXHAUSTED/);
  });

  it('test_submit_acceptance_wrong_state: when nothing waits for acceptance, then 400 INVALID_STATE_TRANSITION', async () => {
    const id = await briefWaitingForAnswers(svc);
    const res = await svc.http().post(`/api/v1/executions/${id}/acceptance`).send({ accepted: true }).expect(400);
    expect(res.body.error_code).toBe('INVALID_STATE_TRANSITION');
    const bad = await svc.http().post(`/api/v1/executions/${id}/acceptance`).send({ accepted: 'yes' }).expect(400);
    expect(bad.body.error_code).toBe('VALIDATION_ERROR');
  });

  it('test_submit_acceptance_not_found: when the execution does not exist, then 404', async () => {
    const res = await svc
      .http()
      .post('/api/v1/executions/9b2e1d40-0c8a-4f51-b3a2-5d6e7f809a1b/acceptance')
      .send({ accepted: true })
      .expect(404);
    expect(res.body.error_code).toBe('EXECUTION_NOT_FOUND');
  });

  it('when two decisions on the same gate race, then exactly one wins and the other gets INVALID_STATE_TRANSITION', async () => {
    const id = await briefWaitingAcceptance();
    const results = await Promise.all([
      svc.http().post(`/api/v1/executions/${id}/acceptance`).send({ accepted: true }),
      svc.http().post(`/api/v1/executions/${id}/acceptance`).send({ accepted: false, comment: 'no' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
    expect(results.find((r) => r.status === 400)!.body.error_code).toBe('INVALID_STATE_TRANSITION');
    const exec = (await svc.http().get(`/api/v1/executions/${id}`)).body as Exec;
    expect(exec.decisions.filter((d) => d.type === 'acceptance')).toHaveLength(1);
  });
});

describe('clarification', () => {
  it('test_submit_clarification_success: when the questions are answered, then the answers feed the next prompt', async () => {
    const id = await briefWaitingForAnswers(svc);
    const waiting = (await getExecution(svc, id)) as Exec;
    expect(waiting.pending_clarification!.questions.map((q) => q.id)).toEqual(['audience', 'constraints']);
    const res = await svc
      .http()
      .post(`/api/v1/executions/${id}/clarification`)
      .send({ answers: { audience: 'Retired gardeners' } })
      .expect(200);
    expect((res.body as Exec).pending_clarification).toBeNull();
    expect((res.body as Exec).decisions.at(-1)).toMatchObject({
      type: 'clarification',
      answers: { audience: 'Retired gardeners' },
    });
    await svc.waitForStatus(id, 'waiting_acceptance');
    expect(
      svc.fake
        .callsFor('draft_brief')[0]!
        .messages.map((m) => m.content)
        .join('\n'),
    ).toContain('Retired gardeners');
  });

  it('test_submit_clarification_wrong_state: when nothing waits for answers, then 400 INVALID_STATE_TRANSITION', async () => {
    const id = await briefWaitingAcceptance();
    const res = await svc
      .http()
      .post(`/api/v1/executions/${id}/clarification`)
      .send({ answers: { audience: 'x' } })
      .expect(400);
    expect(res.body.error_code).toBe('INVALID_STATE_TRANSITION');
  });

  it('test_submit_clarification_missing_answers: when a required answer is missing or an id is unknown, then 400 naming them', async () => {
    const id = await briefWaitingForAnswers(svc);
    const missing = await svc
      .http()
      .post(`/api/v1/executions/${id}/clarification`)
      .send({ answers: { constraints: 'none' } })
      .expect(400);
    expect(missing.body).toMatchObject({ error_code: 'MISSING_ANSWERS', details: { missing: ['audience'] } });
    const unknown = await svc
      .http()
      .post(`/api/v1/executions/${id}/clarification`)
      .send({ answers: { audience: 'a', budget: '5' } })
      .expect(400);
    expect(unknown.body).toMatchObject({ error_code: 'VALIDATION_ERROR', details: { unknown_questions: ['budget'] } });
    const blank = await svc
      .http()
      .post(`/api/v1/executions/${id}/clarification`)
      .send({ answers: { audience: '  ' } })
      .expect(400);
    expect(blank.body.error_code).toBe('MISSING_ANSWERS');
    // Nothing was consumed by the failed attempts.
    expect(((await svc.http().get(`/api/v1/executions/${id}`)).body as Exec).status).toBe('waiting_clarification');
  });
});

describe('resume', () => {
  it('test_resume_after_acceptance: when the step after an accepted draft runs out of attempts, then it pauses and resume completes it', async () => {
    const id = await briefWaitingAcceptance();
    svc.fake.script('task_breakdown', [
      { kind: 'fail', retryable: true },
      { kind: 'fail', retryable: true },
      { kind: 'fail', retryable: true },
    ]);
    await svc.http().post(`/api/v1/executions/${id}/acceptance`).send({ accepted: true }).expect(200);
    const paused = (await svc.waitForStatus(id, 'paused')) as Exec;
    expect(paused.error).toEqual(expect.any(String));
    const res = await svc.http().post(`/api/v1/executions/${id}/resume`).expect(200);
    expect((res.body as Exec).status).toBe('running');
    const done = (await svc.waitForStatus(id, 'completed')) as Exec;
    expect(done.decisions.map((d) => d.type)).toEqual(['clarification', 'acceptance', 'resume']);
  });

  it('test_resume_wrong_state: when the execution is not paused, then 409 while running and 400 otherwise', async () => {
    svc.fake.script('summarize', [{ kind: 'hang' }]);
    const id = (
      await svc
        .http()
        .post('/api/v1/workflows/quick-summary/start')
        .send({ project_id: 'p', initial_context: { text: 'x' } })
        .expect(202)
    ).body.execution_id as string;
    await svc.waitForStatus(id, 'running');
    const running = await svc.http().post(`/api/v1/executions/${id}/resume`).expect(409);
    expect(running.body.error_code).toBe('EXECUTION_ALREADY_RUNNING');
    await svc.http().post(`/api/v1/executions/${id}/cancel`).expect(200);
    const cancelled = await svc.http().post(`/api/v1/executions/${id}/resume`).expect(400);
    expect(cancelled.body.error_code).toBe('INVALID_STATE_TRANSITION');
  });
});
