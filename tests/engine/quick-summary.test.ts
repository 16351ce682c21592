import { startHarness, type Harness } from '../support/engine-harness.js';
import { removeTempDirs } from '../support/temp-dir.js';
import { ADMIN, waitForStatus } from '../support/wait.js';

describe('quick-summary', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });
  afterAll(removeTempDirs);

  it('when started with text, then it runs its one step and completes with schema-valid output', async () => {
    const e = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'proj-1',
      initialContext: { text: 'Photosynthesis turns light into chemical energy.' },
      actor: ADMIN,
    });
    const done = await waitForStatus(h.engine, e.execution_id, 'completed');
    const output = done.steps[0]!.output as { title: string; summary: string; key_points: string[] };
    expect(output.title.length).toBeGreaterThan(0);
    expect(output.key_points.length).toBeGreaterThan(0);
    expect(done.steps[0]).toMatchObject({ status: 'completed', attempts: 1, revision: 0, error: null });
    expect(done.steps[0]!.usage!.total_tokens).toBeGreaterThan(0);
    expect(done.usage).toEqual(done.steps[0]!.usage);
    expect(done.started_at).not.toBeNull();
    expect(done.current_step_id).toBeNull();
    expect(done.definition.id).toBe('quick-summary');
    expect(done.definition_hash).toBe(h.registry.get('quick-summary').hash);

    const events = await h.engine.events(e.execution_id, ADMIN, 0, 100);
    expect(events.map((x) => [x.seq, x.event_type])).toEqual([
      [1, 'execution_started'],
      [2, 'step_started'],
      [3, 'step_completed'],
      [4, 'execution_completed'],
    ]);
    expect(await h.engine.events(e.execution_id, ADMIN, 2, 1)).toEqual([events[2]]);
  });

  it('when the model streams, then step_progress events are published with the last persisted seq but never stored', async () => {
    const e = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'abc' },
      actor: ADMIN,
    });
    await waitForStatus(h.engine, e.execution_id, 'completed');
    await h.engine.idle();
    const progress = h.published.filter((x) => x.event_type === 'step_progress');
    expect(progress.length).toBeGreaterThan(0);
    for (const p of progress) expect(p).toMatchObject({ seq: 2, step_id: 'summarize', data: { attempt: 1 } });
    // Every delta arrived before the step's completion, and together they are the model's text.
    const completedAt = h.published.findIndex((x) => x.event_type === 'step_completed');
    expect(h.published.findLastIndex((x) => x.event_type === 'step_progress')).toBeLessThan(completedAt);
    const text = progress.map((p) => (p.data as { delta: string }).delta).join('');
    expect(JSON.parse(text)).toEqual((await h.engine.get(e.execution_id, ADMIN)).steps[0]!.output);
    const stored = await h.engine.events(e.execution_id, ADMIN, 0, 100);
    expect(stored.some((x) => x.event_type === 'step_progress')).toBe(false);
  });

  it('when two inputs differ, then the fake model produces different output for each', async () => {
    const a = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'about cats' },
      actor: ADMIN,
    });
    const b = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'about rockets' },
      actor: ADMIN,
    });
    const [da, db] = await Promise.all([
      waitForStatus(h.engine, a.execution_id, 'completed'),
      waitForStatus(h.engine, b.execution_id, 'completed'),
    ]);
    expect(da.steps[0]!.output).not.toEqual(db.steps[0]!.output);
  });

  it('when initial_context does not satisfy input_schema, then start is a VALIDATION_ERROR naming the paths and nothing is stored', async () => {
    for (const initialContext of [{}, { text: '' }, { text: 42 }]) {
      await expect(
        h.engine.start({ workflowId: 'quick-summary', projectId: 'p', initialContext, actor: ADMIN }),
      ).rejects.toMatchObject({
        code: 'VALIDATION_ERROR',
        details: { errors: expect.arrayContaining([expect.objectContaining({ path: '/initial_context/text' })]) },
      });
    }
    expect((await h.engine.list({ limit: 10 })).items).toEqual([]);
  });

  it('when the workflow does not exist, then start is WORKFLOW_NOT_FOUND', async () => {
    await expect(
      h.engine.start({ workflowId: 'nope', projectId: 'p', initialContext: {}, actor: ADMIN }),
    ).rejects.toMatchObject({ code: 'WORKFLOW_NOT_FOUND' });
    expect(() => h.engine.getWorkflow('nope')).toThrow(expect.objectContaining({ code: 'WORKFLOW_NOT_FOUND' }));
    expect(h.engine.listWorkflows().map((w) => w.id)).toEqual(['bug-triage', 'project-brief', 'quick-summary']);
  });

  it('when the model wraps its JSON in a ```json fence, then the output is still accepted', async () => {
    h.fake.script('summarize', [
      { kind: 'text', text: '```json\n{"title":"T","summary":"S","key_points":["k"]}\n```' },
    ]);
    const e = await h.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'x' },
      actor: ADMIN,
    });
    const done = await waitForStatus(h.engine, e.execution_id, 'completed');
    expect(done.steps[0]!.output).toEqual({ title: 'T', summary: 'S', key_points: ['k'] });
  });
});
