/** Test data: executions and events built the way the engine builds them. */
import { randomUUID } from 'node:crypto';
import { createExecution } from '../../src/domain/execution.js';
import type { AnyExecutionEvent, Execution, WorkflowDefinition } from '../../src/domain/types.js';
import { appendEvents, draft } from '../../src/events/log.js';

export const SAMPLE_DEFINITION: WorkflowDefinition = {
  id: 'sample',
  name: 'Sample',
  description: 'A one-step workflow for store tests',
  version: 1,
  input_schema: null,
  steps: [
    {
      id: 'only',
      name: 'Only step',
      type: 'llm',
      prompt: 'Say hello to {{ project_id }}',
      output_schema: { type: 'object', required: ['greeting'], properties: { greeting: { type: 'string' } } },
      requires_acceptance: false,
      on_reject: 'revise',
      max_revisions: 3,
      may_request_clarification: false,
      max_attempts: 3,
    },
  ],
};

let clock = Date.parse('2026-01-01T00:00:00.000Z');

/** Strictly increasing timestamps, one millisecond apart. */
export function nextTimestamp(): string {
  clock += 1;
  return new Date(clock).toISOString();
}

export function buildExecution(overrides: Partial<Execution> = {}): Execution {
  const now = overrides.created_at ?? nextTimestamp();
  return {
    ...createExecution({
      id: overrides.execution_id ?? randomUUID(),
      definition: SAMPLE_DEFINITION,
      definitionHash: 'sample-hash',
      projectId: 'proj-1',
      initialContext: { text: 'hello' },
      createdBy: 'alice',
      now,
    }),
    ...overrides,
  };
}

/** The execution started (seq 1) and its first step started (seq 2), as the engine would do. */
export function withStartEvents(execution: Execution): { execution: Execution; events: AnyExecutionEvent[] } {
  return appendEvents(
    { ...execution, status: 'running', started_at: execution.created_at },
    [
      draft('execution_started', null, {
        workflow_id: execution.workflow_id,
        workflow_version: execution.workflow_version,
        project_id: execution.project_id,
      }),
      draft('step_started', 'only', { step_name: 'Only step', step_type: 'llm', attempt: 1, revision: 0 }),
    ],
    execution.created_at,
  );
}
