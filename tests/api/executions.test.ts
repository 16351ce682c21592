/** Day 2: execution endpoints (seed tests test_start_workflow_success … test_cancel_already_complete). */
import { startTestService, type ExecutionBody, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';
import { waitFor } from '../support/wait';

let svc: TestService;
beforeEach(async () => {
  svc = await startTestService();
});
afterEach(async () => {
  await svc.stop();
});
afterAll(removeTempDirs);

const startQuickSummary = (projectId = 'proj-1', text = 'A long text to summarise.') =>
  svc.http().post('/api/v1/workflows/quick-summary/start').send({ project_id: projectId, initial_context: { text } });

describe('executions', () => {
  it('test_start_workflow_success: when started, then 202 with a pending execution, its Location, and it runs to completed', async () => {
    const res = await startQuickSummary().expect(202);
    const body = res.body as ExecutionBody & Record<string, unknown>;
    expect(body.execution_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.location).toBe(`/api/v1/executions/${body.execution_id}`);
    expect(body).toMatchObject({
      workflow_id: 'quick-summary',
      project_id: 'proj-1',
      status: 'pending',
      created_by: 'anonymous',
      completed_steps: [],
      pending_acceptance: null,
      pending_clarification: null,
      started_at: null,
      completed_at: null,
      error: null,
    });
    const done = await svc.waitForStatus(body.execution_id, 'completed');
    expect(done.completed_steps).toEqual(['summarize']);
    expect((done.steps as { output: unknown }[])[0]!.output).toEqual(expect.any(Object));
  });

  it('test_start_workflow_not_found: when the workflow does not exist, then 404 WORKFLOW_NOT_FOUND', async () => {
    const res = await svc.http().post('/api/v1/workflows/no-such-flow/start').send({ project_id: 'p' }).expect(404);
    expect(res.body.error_code).toBe('WORKFLOW_NOT_FOUND');
  });

  it('test_start_workflow_invalid_request: when the body is wrong, then 400 VALIDATION_ERROR naming the problem', async () => {
    const missing = await svc
      .http()
      .post('/api/v1/workflows/quick-summary/start')
      .send({ initial_context: { text: 'x' } })
      .expect(400);
    expect(missing.body.error_code).toBe('VALIDATION_ERROR');
    expect(JSON.stringify(missing.body.details)).toContain('project_id');

    const typo = await svc
      .http()
      .post('/api/v1/workflows/quick-summary/start')
      .send({ project_id: 'p', initial_contxt: {} })
      .expect(400);
    expect(JSON.stringify(typo.body.details)).toContain('initial_contxt');

    // initial_context against the workflow's input_schema (text is required and non-empty)
    const input = await svc
      .http()
      .post('/api/v1/workflows/quick-summary/start')
      .send({ project_id: 'p', initial_context: { text: '' } })
      .expect(400);
    expect(input.body.error_code).toBe('VALIDATION_ERROR');
    expect(JSON.stringify(input.body.details)).toContain('text');
  });

  it('test_get_execution_found: when fetched, then every ExecutionResponse field is present', async () => {
    const { body } = await startQuickSummary().expect(202);
    const res = await svc.http().get(`/api/v1/executions/${body.execution_id}`).expect(200);
    expect(Object.keys(res.body).sort()).toEqual(
      [
        'execution_id',
        'workflow_id',
        'workflow_version',
        'project_id',
        'status',
        'current_step_id',
        'completed_steps',
        'pending_acceptance',
        'pending_clarification',
        'initial_context',
        'steps',
        'decisions',
        'usage',
        'created_by',
        'created_at',
        'updated_at',
        'started_at',
        'completed_at',
        'error',
        'last_seq',
      ].sort(),
    );
    expect(res.body.execution_id).toBe(body.execution_id);
  });

  it('test_get_execution_not_found: when the id is unknown, then 404 EXECUTION_NOT_FOUND; when not a UUID, 400', async () => {
    const res = await svc.http().get('/api/v1/executions/9b2e1d40-0c8a-4f51-b3a2-5d6e7f809a1b').expect(404);
    expect(res.body.error_code).toBe('EXECUTION_NOT_FOUND');
    const bad = await svc.http().get('/api/v1/executions/not-a-uuid').expect(400);
    expect(bad.body.error_code).toBe('VALIDATION_ERROR');
  });

  it('test_list_executions_empty: when nothing was started, then an empty page', async () => {
    const res = await svc.http().get('/api/v1/executions').expect(200);
    expect(res.body).toEqual({ items: [], next_cursor: null });
  });

  it('test_list_executions_with_results: when several were started, then all are listed newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await startQuickSummary(`p${i}`).expect(202)).body.execution_id as string);
    const res = await svc.http().get('/api/v1/executions').expect(200);
    expect((res.body.items as ExecutionBody[]).map((e) => e.execution_id)).toEqual([...ids].reverse());
    expect(res.body.next_cursor).toBeNull();
  });

  it('test_list_executions_filter_by_status: when filtered by one or more statuses, then only those come back', async () => {
    svc.fake.script('summarize', [{ kind: 'hang' }]);
    const hanging = (await startQuickSummary('hang').expect(202)).body.execution_id as string;
    await svc.waitForStatus(hanging, 'running');
    const brief = (
      await svc
        .http()
        .post('/api/v1/workflows/project-brief/start')
        .send({ project_id: 'b', initial_context: { idea: 'x' } })
        .expect(202)
    ).body.execution_id as string;
    await svc.waitForStatus(brief, 'waiting_clarification');

    const running = await svc.http().get('/api/v1/executions?status=running').expect(200);
    expect((running.body.items as ExecutionBody[]).map((e) => e.execution_id)).toEqual([hanging]);
    const both = await svc.http().get('/api/v1/executions?status=running&status=waiting_clarification').expect(200);
    expect((both.body.items as ExecutionBody[]).map((e) => e.execution_id).sort()).toEqual([hanging, brief].sort());
    const byWorkflow = await svc.http().get('/api/v1/executions?workflow_id=project-brief').expect(200);
    expect((byWorkflow.body.items as ExecutionBody[]).map((e) => e.execution_id)).toEqual([brief]);
    const byProject = await svc.http().get('/api/v1/executions?project_id=hang').expect(200);
    expect((byProject.body.items as ExecutionBody[]).map((e) => e.execution_id)).toEqual([hanging]);
    const bogus = await svc.http().get('/api/v1/executions?status=bogus').expect(400);
    expect(bogus.body.error_code).toBe('VALIDATION_ERROR');
  });

  it('test_cancel_execution: when a running execution is cancelled, then 200 cancelled, the model call is aborted and the decision recorded', async () => {
    svc.fake.script('summarize', [{ kind: 'hang' }]);
    const id = (await startQuickSummary().expect(202)).body.execution_id as string;
    await svc.waitForStatus(id, 'running');
    await waitFor(() => svc.fake.callsFor('summarize').length > 0, 'the model call');
    const res = await svc.http().post(`/api/v1/executions/${id}/cancel`).expect(200);
    expect(res.body.status).toBe('cancelled');
    expect(res.body.decisions).toEqual([expect.objectContaining({ type: 'cancel', actor: 'anonymous' })]);
    await waitFor(() => svc.fake.callsFor('summarize')[0]!.aborted, 'the call to be aborted');
    const events = await svc.http().get(`/api/v1/executions/${id}/events`).expect(200);
    expect((events.body.items as { event_type: string }[]).at(-1)!.event_type).toBe('execution_cancelled');
  });

  it('test_cancel_already_complete: when a completed execution is cancelled, then 400 INVALID_STATE_TRANSITION', async () => {
    const id = (await startQuickSummary().expect(202)).body.execution_id as string;
    await svc.waitForStatus(id, 'completed');
    const res = await svc.http().post(`/api/v1/executions/${id}/cancel`).expect(400);
    expect(res.body.error_code).toBe('INVALID_STATE_TRANSITION');
    const unknown = await svc.http().post('/api/v1/executions/9b2e1d40-0c8a-4f51-b3a2-5d6e7f809a1b/cancel').expect(404);
    expect(unknown.body.error_code).toBe('EXECUTION_NOT_FOUND');
  });

  it('when events are listed with after_seq and limit, then they page in seq order', async () => {
    const id = (await startQuickSummary().expect(202)).body.execution_id as string;
    await svc.waitForStatus(id, 'completed');
    const all = (await svc.http().get(`/api/v1/executions/${id}/events`).expect(200)).body.items as {
      seq: number;
      event_type: string;
    }[];
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.map((e) => e.event_type)).toEqual([
      'execution_started',
      'step_started',
      'step_completed',
      'execution_completed',
    ]);
    const page = (await svc.http().get(`/api/v1/executions/${id}/events?after_seq=1&limit=2`).expect(200)).body
      .items as { seq: number }[];
    expect(page.map((e) => e.seq)).toEqual([2, 3]);
    await svc.http().get(`/api/v1/executions/${id}/events?limit=0`).expect(400);
  });
});
