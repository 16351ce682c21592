import { readFile, writeFile } from 'node:fs/promises';
import { createExecution, withStep } from '../../src/domain/execution.js';
import { transition } from '../../src/domain/transitions.js';
import { appendEvents, draft } from '../../src/events/log.js';
import { LowdbExecutionStore } from '../../src/store/lowdb.js';
import { executionFile, seedWorkflows, startHarness } from '../support/engine-harness.js';
import { removeTempDirs, tempDir } from '../support/temp-dir.js';
import { ADMIN, waitFor, waitForStatus } from '../support/wait.js';

afterAll(removeTempDirs);

describe('restart over the same DATA_DIR', () => {
  it('when the process stops mid-call, then the state stays running on disk and a fresh engine re-runs the step within max_attempts', async () => {
    const dataDir = await tempDir();
    const first = await startHarness({ dataDir });
    first.fake.script('summarize', [{ kind: 'hang' }]);
    const e = await first.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'x' },
      actor: ADMIN,
    });
    await waitFor(() => first.fake.inFlight === 1, 'the model call');
    await first.close();

    const onDisk = JSON.parse(await readFile(executionFile(dataDir, e.execution_id), 'utf8')) as {
      execution: { status: string; steps: { status: string; attempts: number }[] };
    };
    expect(onDisk.execution.status).toBe('running');
    expect(onDisk.execution.steps[0]).toMatchObject({ status: 'running', attempts: 1 });

    const second = await startHarness({ dataDir, recover: true });
    try {
      const done = await waitForStatus(second.engine, e.execution_id, 'completed');
      expect(done.steps[0]!.attempts).toBe(2);
      expect(second.fake.calls).toHaveLength(1);
      const events = await second.engine.events(e.execution_id, ADMIN, 0, 100);
      expect(events.map((x) => x.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.map((x) => x.event_type)).toEqual([
        'execution_started',
        'step_started',
        'step_started',
        'step_completed',
        'execution_completed',
      ]);
    } finally {
      await second.close();
    }
  });

  it('when a crash left the last allowed attempt in flight, then recovery pauses instead of calling the model again', async () => {
    const dataDir = await tempDir();
    const registry = await seedWorkflows();
    const wf = registry.get('quick-summary');
    const now = new Date().toISOString();
    // Written as the engine would have left it: running, mid-step, with all 3 attempts counted.
    let execution = transition(
      createExecution({
        id: '11111111-1111-4111-8111-111111111111',
        definition: wf.definition,
        definitionHash: wf.hash,
        projectId: 'p',
        initialContext: { text: 'x' },
        createdBy: 'anonymous',
        now,
      }),
      'running',
      now,
    );
    execution = {
      ...withStep(execution, 'summarize', { status: 'running', attempts: 3, started_at: now }),
      current_step_id: 'summarize',
    };
    const stamped = appendEvents(
      execution,
      [
        draft('execution_started', null, { workflow_id: 'quick-summary', workflow_version: 1, project_id: 'p' }),
        draft('step_started', 'summarize', {
          step_name: 'Summarize the text',
          step_type: 'llm',
          attempt: 3,
          revision: 0,
        }),
      ],
      now,
    );
    const store = new LowdbExecutionStore({ dataDir });
    await store.init();
    await store.create(stamped.execution, stamped.events);
    await store.close();

    const h = await startHarness({ dataDir, recover: true });
    try {
      const paused = await waitForStatus(h.engine, execution.execution_id, 'paused');
      expect(paused.steps[0]!.attempts).toBe(3);
      expect(paused.error).toMatch(/used all 3 attempts/);
      expect(h.fake.calls).toHaveLength(0);
      await h.engine.resume(execution.execution_id, ADMIN);
      const done = await waitForStatus(h.engine, execution.execution_id, 'completed');
      expect(done.steps[0]!.attempts).toBe(1);
    } finally {
      await h.close();
    }
  });

  it('when executions were pending, waiting or paused, then pending ones run, waiting ones keep their gate and paused ones stay paused', async () => {
    const dataDir = await tempDir();
    const first = await startHarness({ dataDir, options: { maxConcurrentExecutions: 1 } });
    first.fake.script('summarize', [
      { kind: 'fail', retryable: true },
      { kind: 'fail', retryable: true },
      { kind: 'fail', retryable: true },
      { kind: 'hang' },
    ]);
    const paused = await first.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'p' },
      actor: ADMIN,
    });
    await waitForStatus(first.engine, paused.execution_id, 'paused');
    const waiting = await first.engine.start({
      workflowId: 'project-brief',
      projectId: 'p',
      initialContext: { idea: 'x' },
      actor: ADMIN,
    });
    await waitForStatus(first.engine, waiting.execution_id, 'waiting_clarification');
    const hanging = await first.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'h' },
      actor: ADMIN,
    });
    await waitFor(() => first.fake.inFlight === 1, 'the hanging call');
    const pending = await first.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'q' },
      actor: ADMIN,
    });
    expect((await first.engine.get(pending.execution_id, ADMIN)).status).toBe('pending');
    await first.close();

    const second = await startHarness({ dataDir, recover: true });
    try {
      await waitForStatus(second.engine, hanging.execution_id, 'completed');
      await waitForStatus(second.engine, pending.execution_id, 'completed');
      await second.engine.idle();
      expect((await second.engine.get(paused.execution_id, ADMIN)).status).toBe('paused');
      const stillWaiting = await second.engine.get(waiting.execution_id, ADMIN);
      expect(stillWaiting.status).toBe('waiting_clarification');
      expect(stillWaiting.pending_clarification?.step_id).toBe('clarify_goals');
      await second.engine.submitClarification(waiting.execution_id, ADMIN, { audience: 'after restart' });
      await waitForStatus(second.engine, waiting.execution_id, 'waiting_acceptance');
      expect(second.fake.callsFor('draft_brief')[0]!.messages[1]!.content).toContain('after restart');
    } finally {
      await second.close();
    }
  });

  it('when a workflow file changes after an execution started, then the execution keeps the definition it started with', async () => {
    const dataDir = await tempDir();
    const first = await startHarness({ dataDir });
    const e = await first.engine.start({
      workflowId: 'project-brief',
      projectId: 'p',
      initialContext: { idea: 'x' },
      actor: ADMIN,
    });
    await waitForStatus(first.engine, e.execution_id, 'waiting_clarification');
    await first.close();

    const { WorkflowRegistry } = await import('../../src/engine/registry.js');
    const changed = WorkflowRegistry.fromSources({
      'project-brief.yaml': `
id: project-brief
name: Changed
description: changed
version: 2
steps:
  - { id: only, name: Only, type: llm, prompt: "hi", output_schema: { type: object } }
`,
    });
    const second = await startHarness({ dataDir, registry: changed, recover: true });
    try {
      await second.engine.submitClarification(e.execution_id, ADMIN, { audience: 'a' });
      const waiting = await waitForStatus(second.engine, e.execution_id, 'waiting_acceptance');
      expect(waiting.workflow_version).toBe(1);
      expect(waiting.definition.steps.map((s) => s.id)).toEqual(['clarify_goals', 'draft_brief', 'task_breakdown']);
    } finally {
      await second.close();
    }
  });

  it('when an execution file is corrupt at start-up, then it is kept on disk, logged, and the others load', async () => {
    const dataDir = await tempDir();
    const first = await startHarness({ dataDir });
    const good = await first.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'x' },
      actor: ADMIN,
    });
    const bad = await first.engine.start({
      workflowId: 'quick-summary',
      projectId: 'p',
      initialContext: { text: 'y' },
      actor: ADMIN,
    });
    await waitForStatus(first.engine, good.execution_id, 'completed');
    await waitForStatus(first.engine, bad.execution_id, 'completed');
    await first.close();
    await writeFile(executionFile(dataDir, bad.execution_id), '{"head": garbage');

    const second = await startHarness({ dataDir, recover: true });
    try {
      expect((await second.engine.get(good.execution_id, ADMIN)).status).toBe('completed');
      await expect(second.engine.get(bad.execution_id, ADMIN)).rejects.toMatchObject({ code: 'EXECUTION_NOT_FOUND' });
      const warning = second.logger
        .at('warn')
        .find((w) => (w.obj as { file?: string }).file?.includes(bad.execution_id));
      expect(warning).toBeDefined();
      const movedTo = (warning!.obj as { moved_to: string }).moved_to;
      expect(await readFile(movedTo, 'utf8')).toBe('{"head": garbage');
    } finally {
      await second.close();
    }
  });
});
