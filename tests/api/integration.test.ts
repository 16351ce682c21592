/** Day 5 integration: whole flows through the HTTP API (seed tests test_full_workflow_execution_flow … test_concurrent_executions). */
import { briefWaitingForAnswers } from '../support/flows';
import { startTestService, type ExecutionBody, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';

let svc: TestService;
beforeEach(async () => {
  svc = await startTestService({ env: { MAX_CONCURRENT_EXECUTIONS: '3' } });
});
afterEach(async () => {
  await svc.stop();
});
afterAll(removeTempDirs);

type Event = { seq: number; event_type: string; step_id: string | null };
async function eventsOf(id: string): Promise<Event[]> {
  return (await svc.http().get(`/api/v1/executions/${id}/events?limit=1000`).expect(200)).body.items as Event[];
}

describe('integration', () => {
  it('test_full_workflow_execution_flow: when project-brief is driven through every gate, then it completes with a gap-free event log', async () => {
    const id = (
      await svc
        .http()
        .post('/api/v1/workflows/project-brief/start')
        .send({ project_id: 'acme', initial_context: { idea: 'Team lunch planner' } })
        .expect(202)
    ).body.execution_id as string;
    await svc.waitForStatus(id, 'waiting_clarification');
    await svc
      .http()
      .post(`/api/v1/executions/${id}/clarification`)
      .send({ answers: { audience: 'Office teams', constraints: 'Slack only' } })
      .expect(200);
    await svc.waitForStatus(id, 'waiting_acceptance');
    await svc
      .http()
      .post(`/api/v1/executions/${id}/acceptance`)
      .send({ accepted: false, comment: 'Shorter please' })
      .expect(200);
    await svc.waitForStatus(id, 'waiting_acceptance');
    await svc.http().post(`/api/v1/executions/${id}/acceptance`).send({ accepted: true }).expect(200);
    const done = await svc.waitForStatus(id, 'completed');
    expect(done.completed_at).toEqual(expect.any(String));
    const steps = done.steps as { step_id: string; status: string; revision: number }[];
    expect(steps.map((s) => [s.step_id, s.status])).toEqual([
      ['clarify_goals', 'completed'],
      ['draft_brief', 'completed'],
      ['task_breakdown', 'completed'],
    ]);
    expect(steps[1]!.revision).toBe(1);
    const events = await eventsOf(id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
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
  });

  it('test_workflow_with_acceptance_pause: when a step needs acceptance, then the execution waits until a person decides', async () => {
    const id = await briefWaitingForAnswers(svc);
    await svc
      .http()
      .post(`/api/v1/executions/${id}/clarification`)
      .send({ answers: { audience: 'a' } })
      .expect(200);
    const waiting = await svc.waitForStatus(id, 'waiting_acceptance');
    await new Promise((r) => setTimeout(r, 100));
    const still = (await svc.http().get(`/api/v1/executions/${id}`)).body as ExecutionBody;
    expect(still.status).toBe('waiting_acceptance');
    expect(still.updated_at).toBe(waiting.updated_at);
    expect(svc.fake.callsFor('task_breakdown')).toHaveLength(0);
  });

  it('test_workflow_with_clarification_pause: when the model asks questions, then the execution waits and the answers reach the re-run', async () => {
    svc.fake.script('triage', [{ kind: 'questions', questions: [{ id: 'os', text: 'Which OS?' }] }]);
    const id = (
      await svc
        .http()
        .post('/api/v1/workflows/bug-triage/start')
        .send({
          project_id: 'p',
          initial_context: { title: 'Crash on save', report: 'The app crashes when I save a file.' },
        })
    ).body.execution_id as string;
    expect(id).toBeDefined();
    const waiting = await svc.waitForStatus(id, 'waiting_clarification');
    expect(waiting.pending_clarification).toMatchObject({
      step_id: 'triage',
      questions: [{ id: 'os', text: 'Which OS?', required: true }],
    });
    await svc
      .http()
      .post(`/api/v1/executions/${id}/clarification`)
      .send({ answers: { os: 'Linux 6.1' } })
      .expect(200);
    await svc.waitForStatus(id, ['waiting_acceptance', 'completed']);
    expect(
      svc.fake
        .callsFor('triage')
        .at(-1)!
        .messages.map((m) => m.content)
        .join('\n'),
    ).toContain('Linux 6.1');
  });

  it('test_concurrent_executions: when many start at once, then at most MAX_CONCURRENT_EXECUTIONS run and all complete', async () => {
    for (let i = 0; i < 3; i++) svc.fake.script('summarize', [{ kind: 'delay', ms: 150 }]);
    const ids = (
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          svc
            .http()
            .post('/api/v1/workflows/quick-summary/start')
            .send({ project_id: `c${i}`, initial_context: { text: `text ${i}` } })
            .expect(202),
        ),
      )
    ).map((r) => r.body.execution_id as string);
    expect(new Set(ids).size).toBe(8);
    const running = await svc.http().get('/api/v1/executions?status=running&limit=100').expect(200);
    expect((running.body.items as unknown[]).length).toBeLessThanOrEqual(3);
    for (const id of ids) await svc.waitForStatus(id, 'completed');
    expect(svc.fake.maxInFlight).toBeLessThanOrEqual(3);
  });
});
