/** Day 1: workflow definitions (seed tests test_list_workflows … test_workflow_response_schema). */
import { componentValidator, createSpecAjv } from '../support/openapi';
import { startTestService, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.stop();
  await removeTempDirs();
});

describe('workflows', () => {
  it('test_list_workflows: when listed, then every seed workflow is there, ordered by id', async () => {
    const res = await svc.http().get('/api/v1/workflows').expect(200);
    const ids = (res.body as { items: { id: string }[] }).items.map((w) => w.id);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toEqual(expect.arrayContaining(['quick-summary', 'project-brief']));
    expect(ids.length).toBeGreaterThanOrEqual(3);
  });

  it('test_get_workflow_found: when project-brief is asked for, then its steps, gates and questions are as PRODUCT §2 says', async () => {
    const res = await svc.http().get('/api/v1/workflows/project-brief').expect(200);
    const def = res.body as {
      input_schema: { required: string[] };
      steps: {
        id: string;
        type: string;
        requires_acceptance?: boolean;
        on_reject?: string;
        max_revisions?: number;
        questions?: { id: string; required: boolean }[];
      }[];
    };
    expect(def.input_schema.required).toContain('idea');
    expect(def.steps.map((s) => [s.id, s.type])).toEqual([
      ['clarify_goals', 'clarification'],
      ['draft_brief', 'llm'],
      ['task_breakdown', 'llm'],
    ]);
    expect(def.steps[0]!.questions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: 'audience', required: true }),
        expect.objectContaining({ id: 'constraints', required: false }),
      ]),
    );
    expect(def.steps[1]).toMatchObject({ requires_acceptance: true, on_reject: 'revise', max_revisions: 2 });
  });

  it('test_get_workflow_not_found: when an unknown id is asked for, then 404 WORKFLOW_NOT_FOUND', async () => {
    const res = await svc.http().get('/api/v1/workflows/does-not-exist').set('X-Request-ID', 'req-123').expect(404);
    expect(res.body).toEqual({
      error_code: 'WORKFLOW_NOT_FOUND',
      message: expect.any(String),
      details: { workflow_id: 'does-not-exist' },
      request_id: 'req-123',
    });
    expect(res.headers['x-request-id']).toBe('req-123');
  });

  it('test_workflow_response_schema: when each workflow is fetched, then it validates against WorkflowDefinition', async () => {
    const ajv = createSpecAjv();
    const validate = componentValidator(ajv, 'WorkflowDefinition');
    const list = await svc.http().get('/api/v1/workflows').expect(200);
    for (const { id } of (list.body as { items: { id: string }[] }).items) {
      const res = await svc.http().get(`/api/v1/workflows/${id}`).expect(200);
      expect([id, validate(res.body) ? 'valid' : ajv.errorsText(validate.errors)]).toEqual([id, 'valid']);
    }
  });

  it('when a workflow id is not a slug, then 400 VALIDATION_ERROR naming the parameter', async () => {
    const res = await svc.http().get('/api/v1/workflows/Not_A_Slug').expect(400);
    expect(res.body.error_code).toBe('VALIDATION_ERROR');
    expect(JSON.stringify(res.body.details)).toContain('workflow_id');
  });
});
