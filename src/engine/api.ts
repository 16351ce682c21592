/**
 * What the engine offers the outside (HTTP services, WebSocket gateway, demo). The HTTP and WS
 * layers depend on this interface only, so tests can swap in any implementation.
 */
import type { AnyExecutionEvent, Execution, ExecutionStatus, WorkflowDefinition } from '../domain/types.js';

export interface Actor {
  id: string;
  admin: boolean;
}

export interface StartInput {
  workflowId: string;
  projectId: string;
  initialContext: Record<string, unknown>;
  actor: Actor;
}

export interface ListFilter {
  status?: ExecutionStatus[];
  workflowId?: string;
  projectId?: string;
  /** Only executions created by this user (non-admin callers). */
  createdBy?: string;
  limit: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface ListPage {
  items: Execution[];
  nextCursor: string | null;
}

export type EventListener = (event: AnyExecutionEvent) => void;

export interface WorkflowEngine {
  listWorkflows(): WorkflowDefinition[];
  /** @throws DomainError WORKFLOW_NOT_FOUND */
  getWorkflow(workflowId: string): WorkflowDefinition;

  /**
   * Creates the execution as `pending`, persisted before it returns; runs it in the background.
   * @throws DomainError WORKFLOW_NOT_FOUND, VALIDATION_ERROR (input_schema), LLM_UNAVAILABLE
   */
  start(input: StartInput): Promise<Execution>;
  /** @throws DomainError EXECUTION_NOT_FOUND (also when `actor` may not see it) */
  get(executionId: string, actor: Actor): Promise<Execution>;
  /** @throws DomainError VALIDATION_ERROR for a malformed cursor */
  list(filter: ListFilter): Promise<ListPage>;
  /** Persisted events with seq > afterSeq, in order, at most `limit`. */
  events(executionId: string, actor: Actor, afterSeq: number, limit: number): Promise<AnyExecutionEvent[]>;

  /** @throws INVALID_STATE_TRANSITION when terminal, EXECUTION_NOT_FOUND */
  cancel(executionId: string, actor: Actor): Promise<Execution>;
  /** @throws EXECUTION_ALREADY_RUNNING, INVALID_STATE_TRANSITION, EXECUTION_NOT_FOUND, LLM_UNAVAILABLE */
  resume(executionId: string, actor: Actor): Promise<Execution>;
  /** @throws INVALID_STATE_TRANSITION, EXECUTION_NOT_FOUND */
  submitAcceptance(executionId: string, actor: Actor, accepted: boolean, comment: string | null): Promise<Execution>;
  /** @throws MISSING_ANSWERS, VALIDATION_ERROR (unknown ids), INVALID_STATE_TRANSITION, EXECUTION_NOT_FOUND */
  submitClarification(executionId: string, actor: Actor, answers: Record<string, string>): Promise<Execution>;

  /**
   * Live events of one execution, persisted ones after their write and `step_progress` deltas.
   * Returns the unsubscribe function.
   */
  subscribe(executionId: string, listener: EventListener): () => void;

  /** Stored executions by status (every status present, zero when none): for /metrics. */
  countByStatus(): Promise<Record<ExecutionStatus, number>>;

  /** Readiness facts for /readyz. */
  health(): Promise<{
    storeWritable: boolean;
    definitionsLoaded: number;
    llmBreakerOpen: boolean;
    llmRetryAfterSeconds: number | null;
  }>;

  /** Continue executions found pending/running in the store. */
  recover(): Promise<void>;
  /** Stop starting work, abort nothing persisted, let in-flight writes finish. */
  shutdown(): Promise<void>;
}
