/**
 * project-brief end to end with the real OpenAI-compatible provider: the clarification answers
 * and, on a revision, the reviewer's comment and the rejected draft reach the model's prompt.
 */
import { TASKS, brief, startLlmService, type LlmService, type SentBody } from './harness.js';

let svc: LlmService;
beforeAll(async () => {
  svc = await startLlmService();
});
afterAll(async () => {
  await svc.stop();
});

const userText = (i: number): string =>
  (svc.model.requests[i]!.body as SentBody).messages
    .filter((m) => m.role === 'user')
    .map((m) => m.content)
    .join('\n');

describe('project-brief', () => {
  it('when the reviewer rejects the draft with a comment, then the next request carries the comment and the previous draft, and the accepted revision feeds the task breakdown', async () => {
    const first = brief('Decision log v1');
    const second = brief('Decision log v2');
    svc.model.enqueue(
      { type: 'reply', text: JSON.stringify(first) },
      { type: 'reply', text: JSON.stringify(second) },
      { type: 'reply', text: JSON.stringify(TASKS) },
    );

    const started = await svc.start('project-brief', { idea: 'A shared log of team decisions' });
    await svc.waitForStatus(started.execution_id, 'waiting_clarification');
    expect(svc.model.requests).toHaveLength(0);
    await svc
      .http()
      .post(`/api/v1/executions/${started.execution_id}/clarification`)
      .send({ answers: { audience: 'engineering managers', constraints: 'ship in six weeks' } })
      .expect(200);

    const review = await svc.waitForStatus(started.execution_id, 'waiting_acceptance');
    expect(review.pending_acceptance).toMatchObject({ step_id: 'draft_brief', output: first, revision: 0 });
    const draftPrompt = userText(0);
    expect(draftPrompt).toContain('A shared log of team decisions');
    expect(draftPrompt).toContain('Primary audience: engineering managers');
    expect(draftPrompt).toContain('Constraints: ship in six weeks');
    expect(draftPrompt).not.toContain('A reviewer rejected');

    const comment = 'Too vague: name a success metric with a number.';
    await svc
      .http()
      .post(`/api/v1/executions/${started.execution_id}/acceptance`)
      .send({ accepted: false, comment })
      .expect(200);

    const revised = await svc.waitForStatus(started.execution_id, 'waiting_acceptance');
    expect(revised.pending_acceptance).toMatchObject({ step_id: 'draft_brief', output: second, revision: 1 });
    const revisionPrompt = userText(1);
    expect(revisionPrompt).toContain(comment);
    expect(revisionPrompt).toContain('"title": "Decision log v1"');
    expect(revisionPrompt).toContain('Primary audience: engineering managers');
    expect((svc.model.requests[1]!.body as SentBody).response_format.json_schema?.name).toBe('draft_brief');

    await svc.http().post(`/api/v1/executions/${started.execution_id}/acceptance`).send({ accepted: true }).expect(200);
    const done = await svc.waitForStatus(started.execution_id, 'completed');

    expect(svc.model.requests).toHaveLength(3);
    expect(userText(2)).toContain('"title": "Decision log v2"');
    expect(userText(2)).not.toContain('Decision log v1');
    expect(done.completed_steps).toEqual(['clarify_goals', 'draft_brief', 'task_breakdown']);
    expect(done.steps.map((s) => s.output)).toEqual([
      { audience: 'engineering managers', constraints: 'ship in six weeks' },
      second,
      TASKS,
    ]);
    // Three calls of 18 tokens each (the fake server's default usage).
    expect(done.usage).toEqual({ prompt_tokens: 33, completion_tokens: 21, total_tokens: 54 });
    expect(done.steps[1]!.usage).toEqual({ prompt_tokens: 22, completion_tokens: 14, total_tokens: 36 });
  });
});
