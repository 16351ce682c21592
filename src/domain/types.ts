/**
 * Execution state as plain data. These shapes are what the store persists and what the HTTP
 * layer returns (after `toExecutionResponse`), so they mirror `ExecutionResponse` and friends in
 * openapi.yaml. Timestamps are ISO-8601 strings, nullable fields are `null`, never missing.
 */

export const EXECUTION_STATUSES = [
  'pending',
  'running',
  'waiting_acceptance',
  'waiting_clarification',
  'paused',
  'completed',
  'failed',
  'cancelled',
] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

export const TERMINAL_STATUSES: readonly ExecutionStatus[] = ['completed', 'failed', 'cancelled'];

export type StepStatus =
  'pending' | 'running' | 'waiting_acceptance' | 'waiting_clarification' | 'completed' | 'failed' | 'cancelled';

export type JsonSchema = Record<string, unknown>;

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface Question {
  id: string;
  text: string;
  required: boolean;
}

export interface LlmStepDefinition {
  id: string;
  name: string;
  type: 'llm';
  prompt: string;
  system?: string;
  output_schema: JsonSchema;
  requires_acceptance: boolean;
  on_reject: 'revise' | 'fail';
  max_revisions: number;
  may_request_clarification: boolean;
  max_attempts: number;
  timeout_ms?: number;
}

export interface ClarificationStepDefinition {
  id: string;
  name: string;
  type: 'clarification';
  questions: Question[];
}

export type StepDefinition = LlmStepDefinition | ClarificationStepDefinition;

/** A definition after loading: defaults filled in, templates checked. */
export interface WorkflowDefinition {
  id: string;
  name: string;
  description: string;
  version: number;
  input_schema: JsonSchema | null;
  steps: StepDefinition[];
}

export interface StepState {
  step_id: string;
  status: StepStatus;
  /** LLM calls made for the current revision of this step. */
  attempts: number;
  /** 0 for the first draft; +1 for each re-run after a rejection. */
  revision: number;
  output: unknown | null;
  started_at: string | null;
  completed_at: string | null;
  error: string | null;
  usage: TokenUsage | null;
}

export interface AcceptancePending {
  step_id: string;
  output: unknown;
  revision: number;
  requested_at: string;
}

export interface ClarificationPending {
  step_id: string;
  questions: Question[];
  requested_at: string;
}

export type DecisionType = 'acceptance' | 'clarification' | 'cancel' | 'resume';

export interface Decision {
  type: DecisionType;
  step_id: string | null;
  actor: string;
  at: string;
  accepted?: boolean;
  comment?: string | null;
  answers?: Record<string, string>;
}

export interface Execution {
  execution_id: string;
  workflow_id: string;
  workflow_version: number;
  project_id: string;
  status: ExecutionStatus;
  current_step_id: string | null;
  completed_steps: string[];
  pending_acceptance: AcceptancePending | null;
  pending_clarification: ClarificationPending | null;
  initial_context: Record<string, unknown>;
  steps: StepState[];
  decisions: Decision[];
  usage: TokenUsage;
  created_by: string;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
  error: string | null;
  /** seq of the last persisted event (0 before the first). */
  last_seq: number;
  /** The definition the execution started with; later edits of the file never change it. */
  definition: WorkflowDefinition;
  definition_hash: string;
}

/** What clients see of an execution: everything but the stored definition snapshot. */
export type ExecutionView = Omit<Execution, 'definition' | 'definition_hash'>;

export const EVENT_TYPES = [
  'snapshot',
  'execution_started',
  'step_started',
  'step_progress',
  'step_completed',
  'step_failed',
  'waiting_acceptance',
  'acceptance_submitted',
  'waiting_clarification',
  'clarification_submitted',
  'execution_paused',
  'execution_resumed',
  'execution_completed',
  'execution_failed',
  'execution_cancelled',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The `data` of each event type, as asyncapi.yaml describes them. */
export interface EventData {
  snapshot: { execution: ExecutionView };
  execution_started: { workflow_id: string; workflow_version: number; project_id: string };
  step_started: { step_name: string; step_type: 'llm' | 'clarification'; attempt: number; revision: number };
  step_progress: { delta: string; attempt: number };
  step_completed: { output: unknown; attempts: number; revision: number; usage: TokenUsage | null };
  step_failed: { error: string; attempt: number; will_retry: boolean; retry_in_ms: number | null };
  waiting_acceptance: { pending_acceptance: AcceptancePending };
  acceptance_submitted: { accepted: boolean; comment: string | null; actor: string; revision: number };
  waiting_clarification: { pending_clarification: ClarificationPending };
  clarification_submitted: { answers: Record<string, string>; actor: string };
  execution_paused: { error: string | null };
  execution_resumed: { actor: string };
  execution_completed: { completed_steps: string[] };
  execution_failed: { error: string };
  execution_cancelled: { actor: string };
}

export interface ExecutionEvent<T extends EventType = EventType> {
  event_type: T;
  execution_id: string;
  seq: number;
  step_id: string | null;
  timestamp: string;
  data: EventData[T];
}

export type AnyExecutionEvent = { [T in EventType]: ExecutionEvent<T> }[EventType];
