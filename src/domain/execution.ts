/**
 * Pure helpers that build and change execution state. No I/O, no clock, no randomness: callers
 * pass ids and timestamps in.
 */
import type { Decision, DecisionType, Execution, StepState, TokenUsage, WorkflowDefinition } from './types.js';

export const ZERO_USAGE: TokenUsage = Object.freeze({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });

export interface NewExecution {
  id: string;
  definition: WorkflowDefinition;
  definitionHash: string;
  projectId: string;
  initialContext: Record<string, unknown>;
  createdBy: string;
  now: string;
}

export function createExecution(input: NewExecution): Execution {
  return {
    execution_id: input.id,
    workflow_id: input.definition.id,
    workflow_version: input.definition.version,
    project_id: input.projectId,
    status: 'pending',
    current_step_id: null,
    completed_steps: [],
    pending_acceptance: null,
    pending_clarification: null,
    initial_context: structuredClone(input.initialContext),
    steps: input.definition.steps.map((s) => initialStepState(s.id)),
    decisions: [],
    usage: { ...ZERO_USAGE },
    created_by: input.createdBy,
    created_at: input.now,
    updated_at: input.now,
    started_at: null,
    completed_at: null,
    error: null,
    last_seq: 0,
    definition: structuredClone(input.definition),
    definition_hash: input.definitionHash,
  };
}

export function initialStepState(stepId: string): StepState {
  return {
    step_id: stepId,
    status: 'pending',
    attempts: 0,
    revision: 0,
    output: null,
    started_at: null,
    completed_at: null,
    error: null,
    usage: null,
  };
}

export function stepState(execution: Execution, stepId: string): StepState {
  const state = execution.steps.find((s) => s.step_id === stepId);
  if (!state) throw new Error(`Execution ${execution.execution_id} has no step ${stepId}`);
  return state;
}

/** Returns a copy of `execution` whose step `stepId` has `patch` applied. */
export function withStep(execution: Execution, stepId: string, patch: Partial<Omit<StepState, 'step_id'>>): Execution {
  stepState(execution, stepId);
  return {
    ...execution,
    steps: execution.steps.map((s) => (s.step_id === stepId ? { ...s, ...patch } : s)),
  };
}

/** The first step that has not completed, or null when every step has. */
export function nextStepIndex(execution: Execution): number | null {
  const index = execution.steps.findIndex((s) => s.status !== 'completed');
  return index === -1 ? null : index;
}

export function addUsage(a: TokenUsage | null, b: TokenUsage | null): TokenUsage {
  const x = a ?? ZERO_USAGE;
  const y = b ?? ZERO_USAGE;
  return {
    prompt_tokens: x.prompt_tokens + y.prompt_tokens,
    completion_tokens: x.completion_tokens + y.completion_tokens,
    total_tokens: x.total_tokens + y.total_tokens,
  };
}

export interface DecisionInput {
  type: DecisionType;
  stepId: string | null;
  actor: string;
  at: string;
  accepted?: boolean;
  comment?: string | null;
  answers?: Record<string, string>;
}

export function makeDecision(input: DecisionInput): Decision {
  const decision: Decision = { type: input.type, step_id: input.stepId, actor: input.actor, at: input.at };
  if (input.accepted !== undefined) decision.accepted = input.accepted;
  if (input.comment !== undefined) decision.comment = input.comment;
  if (input.answers !== undefined) decision.answers = { ...input.answers };
  return decision;
}

export function withDecision(execution: Execution, decision: Decision): Execution {
  return { ...execution, decisions: [...execution.decisions, decision] };
}

/** The answers given to a step so far (clarification rounds merged, later ones win). */
export function answersFor(execution: Execution, stepId: string): Record<string, string> {
  const answers: Record<string, string> = {};
  for (const d of execution.decisions) {
    if (d.type === 'clarification' && d.step_id === stepId && d.answers) Object.assign(answers, d.answers);
  }
  return answers;
}

/** The reviewer's comment of the latest rejection of `stepId`, if any. */
export function latestRejection(execution: Execution, stepId: string): Decision | null {
  for (let i = execution.decisions.length - 1; i >= 0; i--) {
    const d = execution.decisions[i]!;
    if (d.type === 'acceptance' && d.step_id === stepId) return d.accepted === false ? d : null;
  }
  return null;
}

export function isVisibleTo(execution: Execution, actor: { id: string; admin: boolean }): boolean {
  return actor.admin || execution.created_by === actor.id;
}
