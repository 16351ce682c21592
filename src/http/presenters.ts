/** Domain data to the response shapes of openapi.yaml. */
import type { components } from '../../generated/openapi.js';
import type { Execution, StepDefinition, WorkflowDefinition } from '../domain/types.js';

type Schemas = components['schemas'];

/**
 * Stored executions are immutable snapshots (src/store/immutable.ts), so each one is presented
 * once: the same snapshot gives the same frozen response object, which lets the read fast lane
 * reuse its encoded bytes while a client polls an execution that has not changed.
 */
const presented = new WeakMap<Execution, Schemas['ExecutionResponse']>();

export function toExecutionResponse(e: Execution): Schemas['ExecutionResponse'] {
  if (!Object.isFrozen(e)) return present(e);
  let response = presented.get(e);
  if (!response) {
    response = Object.freeze(present(e));
    presented.set(e, response);
  }
  return response;
}

function present(e: Execution): Schemas['ExecutionResponse'] {
  return {
    execution_id: e.execution_id,
    workflow_id: e.workflow_id,
    workflow_version: e.workflow_version,
    project_id: e.project_id,
    status: e.status,
    current_step_id: e.current_step_id,
    completed_steps: e.completed_steps,
    pending_acceptance: e.pending_acceptance,
    pending_clarification: e.pending_clarification,
    initial_context: e.initial_context,
    steps: e.steps,
    decisions: e.decisions,
    usage: e.usage,
    created_by: e.created_by,
    created_at: e.created_at,
    updated_at: e.updated_at,
    started_at: e.started_at,
    completed_at: e.completed_at,
    error: e.error,
    last_seq: e.last_seq,
  };
}

function gatesOf(steps: StepDefinition[]): Schemas['WorkflowSummary']['gates'] {
  const gates = new Set<'acceptance' | 'clarification'>();
  for (const s of steps) {
    if (s.type === 'clarification' || s.may_request_clarification) gates.add('clarification');
    if (s.type === 'llm' && s.requires_acceptance) gates.add('acceptance');
  }
  return [...gates].sort();
}

export function toWorkflowSummary(d: WorkflowDefinition): Schemas['WorkflowSummary'] {
  return {
    id: d.id,
    name: d.name,
    description: d.description,
    version: d.version,
    step_count: d.steps.length,
    gates: gatesOf(d.steps),
  };
}

export function toWorkflowDefinition(d: WorkflowDefinition): Schemas['WorkflowDefinition'] {
  return {
    id: d.id,
    name: d.name,
    description: d.description,
    version: d.version,
    input_schema: d.input_schema,
    steps: d.steps.map((s) =>
      s.type === 'llm'
        ? {
            id: s.id,
            name: s.name,
            type: 'llm' as const,
            prompt: s.prompt,
            system: s.system ?? null,
            output_schema: s.output_schema,
            requires_acceptance: s.requires_acceptance,
            on_reject: s.on_reject,
            max_revisions: s.max_revisions,
            may_request_clarification: s.may_request_clarification,
            max_attempts: s.max_attempts,
            timeout_ms: s.timeout_ms ?? null,
          }
        : { id: s.id, name: s.name, type: 'clarification' as const, questions: s.questions },
    ),
  };
}
