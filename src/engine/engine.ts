/**
 * The workflow executor. Executions run in the background, one driver per execution; every
 * change to an execution goes through `mutate`, which runs under that execution's lock, applies
 * a status change only through `transition`, writes state and events in one store call and
 * publishes the events only after the write. So a decision and the driver never interleave,
 * and two decisions on one gate cannot both win.
 */
import { randomUUID } from 'node:crypto';
import { DomainError } from '../domain/errors.js';
import {
  addUsage,
  answersFor,
  createExecution,
  isVisibleTo,
  latestRejection,
  makeDecision,
  nextStepIndex,
  stepState,
  withDecision,
  withStep,
} from '../domain/execution.js';
import { silentLogger, type Logger } from '../domain/logger.js';
import { transition } from '../domain/transitions.js';
import { assertNever } from '../domain/assert-never.js';
import type {
  AnyExecutionEvent,
  ClarificationStepDefinition,
  Execution,
  ExecutionStatus,
  LlmStepDefinition,
  StepDefinition,
  TokenUsage,
} from '../domain/types.js';
import { EventBus } from '../events/bus.js';
import { appendEvents, draft, progressEvent, type AnyEventDraft } from '../events/log.js';
import {
  isGuarded,
  LlmError,
  type ChatMessage,
  type GuardedLlmProvider,
  type LlmProvider,
  type LlmResponse,
} from '../llm/port.js';
import type { ExecutionStore } from '../store/port.js';
import type { Actor, EventListener, ListFilter, ListPage, StartInput, WorkflowEngine } from './api.js';
import { AbortedError, backoffDelay, KeyedMutex, Semaphore, sleep } from './concurrency.js';
import { interpretReply } from './output.js';
import { ProgressBatcher } from './progress.js';
import type { WorkflowRegistry } from './registry.js';
import { SchemaCache } from './schemas.js';
import { TemplateRenderer } from './templates.js';

export interface EngineOptions {
  /** Executions driven at once; the rest wait as `pending`, first come first served. */
  maxConcurrentExecutions: number;
  /** Model calls in flight at once, across all executions. */
  llmConcurrency: number;
  /** Deadline of one model call when the step sets no `timeout_ms`. */
  llmTimeoutMs: number;
  /** Backoff between retryable failures: full jitter over base * 2^(attempt-1), capped. */
  retry: { baseDelayMs: number; maxDelayMs: number };
  /** At most one `step_progress` event per step per interval. */
  progressIntervalMs: number;
}

/** How long after a call's deadline the engine aborts it itself, if the provider has not. */
const TIMEOUT_BACKSTOP_GRACE_MS = 200;

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  maxConcurrentExecutions: 100,
  llmConcurrency: 8,
  llmTimeoutMs: 60_000,
  retry: { baseDelayMs: 500, maxDelayMs: 30_000 },
  progressIntervalMs: 50,
};

export interface LlmCallInfo {
  provider: string;
  model: string | null;
  outcome: 'ok' | 'error' | 'timeout' | 'aborted';
  errorKind: LlmError['kind'] | null;
  durationMs: number;
  usage: TokenUsage | null;
  executionId: string;
  workflowId: string;
  stepId: string;
  attempt: number;
}

export interface EngineObserver {
  onLlmCall?(info: LlmCallInfo): void;
}

export interface EngineDeps {
  registry: WorkflowRegistry;
  /** Initialized (`init()` awaited) before the engine is created. */
  store: ExecutionStore;
  /** When it has `availability()` (the circuit breaker), start and resume are refused while open. */
  llm: LlmProvider | GuardedLlmProvider;
  clock?: () => Date;
  newId?: () => string;
  logger?: Logger;
  options?: Partial<Omit<EngineOptions, 'retry'>> & { retry?: Partial<EngineOptions['retry']> };
  observer?: EngineObserver;
  /** Shared bus (the WebSocket gateway may own it); one is created when omitted. */
  bus?: EventBus;
  /** Randomness for backoff jitter (tests pin it). */
  random?: () => number;
}

export type Engine = WorkflowEngine & {
  readonly bus: EventBus;
  readonly options: EngineOptions;
  /** Resolves when no execution is being driven (all are parked, finished or stopped). */
  idle(): Promise<void>;
  /** Executions currently driven (holding or waiting for a slot). */
  activeExecutions(): number;
};

type Change = { execution: Execution; events: AnyEventDraft[] };
type Next = 'continue' | 'stop';

interface Run {
  controller: AbortController;
  /** A decision asked for more work while the driver was finishing: go round once more. */
  again: boolean;
  front: boolean;
  done: Promise<void>;
  lastSeq: number;
  /** Invalid replies and their critiques, fed back on the next attempt of the same step. */
  conversation: { stepId: string; revision: number; messages: ChatMessage[] } | null;
}

type CallResult =
  { kind: 'response'; response: LlmResponse } | { kind: 'error'; error: LlmError } | { kind: 'aborted' };

function notFound(executionId: string): DomainError {
  return new DomainError('EXECUTION_NOT_FOUND', `Execution ${executionId} not found`, { execution_id: executionId });
}

function wrongState(execution: Execution, expected: string): DomainError {
  return new DomainError(
    'INVALID_STATE_TRANSITION',
    `Execution ${execution.execution_id} is ${execution.status}, not ${expected}`,
    { status: execution.status, expected },
  );
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function createEngine(deps: EngineDeps): Engine {
  return new WorkflowExecutor(deps);
}

class WorkflowExecutor implements Engine {
  readonly bus: EventBus;
  readonly options: EngineOptions;
  private readonly registry: WorkflowRegistry;
  private readonly store: ExecutionStore;
  private readonly llm: LlmProvider;
  private readonly clock: () => Date;
  private readonly newId: () => string;
  private readonly logger: Logger;
  private readonly observer: EngineObserver;
  private readonly random: () => number;
  private readonly locks = new KeyedMutex();
  private readonly slots: Semaphore;
  private readonly llmSlots: Semaphore;
  private readonly runs = new Map<string, Run>();
  private readonly schemas = new SchemaCache();
  private readonly templates = new TemplateRenderer();
  private stopping = false;
  private lastCreatedMs = 0;

  constructor(deps: EngineDeps) {
    this.registry = deps.registry;
    this.store = deps.store;
    this.llm = deps.llm;
    this.clock = deps.clock ?? (() => new Date());
    this.newId = deps.newId ?? randomUUID;
    this.logger = deps.logger ?? silentLogger;
    this.observer = deps.observer ?? {};
    this.random = deps.random ?? Math.random;
    this.bus = deps.bus ?? new EventBus(this.logger);
    const o = deps.options ?? {};
    this.options = {
      maxConcurrentExecutions: o.maxConcurrentExecutions ?? DEFAULT_ENGINE_OPTIONS.maxConcurrentExecutions,
      llmConcurrency: o.llmConcurrency ?? DEFAULT_ENGINE_OPTIONS.llmConcurrency,
      llmTimeoutMs: o.llmTimeoutMs ?? DEFAULT_ENGINE_OPTIONS.llmTimeoutMs,
      retry: { ...DEFAULT_ENGINE_OPTIONS.retry, ...o.retry },
      progressIntervalMs: o.progressIntervalMs ?? DEFAULT_ENGINE_OPTIONS.progressIntervalMs,
    };
    this.slots = new Semaphore(this.options.maxConcurrentExecutions);
    this.llmSlots = new Semaphore(this.options.llmConcurrency);
  }

  // ---------------------------------------------------------------- queries

  listWorkflows() {
    return this.registry.list();
  }

  getWorkflow(workflowId: string) {
    return this.registry.get(workflowId).definition;
  }

  async get(executionId: string, actor: Actor): Promise<Execution> {
    const execution = await this.store.get(executionId);
    if (!execution || !isVisibleTo(execution, actor)) throw notFound(executionId);
    return execution;
  }

  async list(filter: ListFilter): Promise<ListPage> {
    const page = await this.store.list({
      status: filter.status,
      workflowId: filter.workflowId,
      projectId: filter.projectId,
      createdBy: filter.createdBy,
      limit: filter.limit,
      cursor: filter.cursor,
    });
    return { items: page.items, nextCursor: page.nextCursor };
  }

  async events(executionId: string, actor: Actor, afterSeq: number, limit: number): Promise<AnyExecutionEvent[]> {
    await this.get(executionId, actor);
    return this.store.events(executionId, afterSeq, limit);
  }

  subscribe(executionId: string, listener: EventListener): () => void {
    return this.bus.subscribe(executionId, listener);
  }

  async health() {
    const availability = isGuarded(this.llm) ? this.llm.availability() : { open: false, retryAfterSeconds: null };
    return {
      storeWritable: await this.store.isWritable(),
      definitionsLoaded: this.registry.size,
      llmBreakerOpen: availability.open,
      llmRetryAfterSeconds: availability.open ? availability.retryAfterSeconds : null,
    };
  }

  async countByStatus(): Promise<Record<ExecutionStatus, number>> {
    return this.store.countByStatus();
  }

  activeExecutions(): number {
    return this.runs.size;
  }

  async idle(): Promise<void> {
    while (this.runs.size > 0) await Promise.all([...this.runs.values()].map((r) => r.done));
  }

  // ---------------------------------------------------------------- commands

  async start(input: StartInput): Promise<Execution> {
    this.assertAccepting();
    const workflow = this.registry.get(input.workflowId);
    const schema = workflow.definition.input_schema;
    if (schema) {
      const problems = this.schemas.validate(schema, input.initialContext);
      if (problems.length > 0) {
        throw new DomainError(
          'VALIDATION_ERROR',
          `initial_context does not match the input_schema of ${workflow.definition.id}`,
          {
            errors: problems.map((p) => ({ path: `/initial_context${p.path}`, message: p.message })),
          },
        );
      }
    }
    this.assertLlmAvailable();
    const execution = createExecution({
      id: this.newId(),
      definition: workflow.definition,
      definitionHash: workflow.hash,
      projectId: input.projectId,
      initialContext: input.initialContext,
      createdBy: input.actor.id,
      now: this.creationTime(),
    });
    await this.store.create(execution, []);
    this.logger.info(
      { execution_id: execution.execution_id, workflow_id: execution.workflow_id, actor: input.actor.id },
      'execution created',
    );
    this.schedule(execution.execution_id, false);
    return execution;
  }

  async cancel(executionId: string, actor: Actor): Promise<Execution> {
    const execution = await this.decide(executionId, actor, (e, now) => {
      let next = transition(e, 'cancelled', now);
      next = {
        ...next,
        pending_acceptance: null,
        pending_clarification: null,
        steps: next.steps.map((s) =>
          s.status === 'running' || s.status === 'waiting_acceptance' || s.status === 'waiting_clarification'
            ? { ...s, status: 'cancelled' }
            : s,
        ),
      };
      next = withDecision(next, makeDecision({ type: 'cancel', stepId: e.current_step_id, actor: actor.id, at: now }));
      return { execution: next, events: [draft('execution_cancelled', e.current_step_id, { actor: actor.id })] };
    });
    // After the write: the driver, if any, sees the cancelled state and records nothing more.
    this.runs.get(executionId)?.controller.abort(new Error('cancelled'));
    this.logger.info({ execution_id: executionId, actor: actor.id }, 'execution cancelled');
    return execution;
  }

  async resume(executionId: string, actor: Actor): Promise<Execution> {
    const execution = await this.decide(executionId, actor, (e, now) => {
      if (e.status === 'running') {
        throw new DomainError('EXECUTION_ALREADY_RUNNING', `Execution ${executionId} is already running`, {
          status: e.status,
        });
      }
      if (e.status !== 'paused') throw wrongState(e, 'paused');
      this.assertLlmAvailable();
      let next = transition(e, 'running', now);
      const index = nextStepIndex(next);
      const stepId = index === null ? null : next.steps[index]!.step_id;
      if (stepId !== null) next = withStep(next, stepId, { status: 'pending', attempts: 0, error: null });
      next = withDecision({ ...next, error: null }, makeDecision({ type: 'resume', stepId, actor: actor.id, at: now }));
      return { execution: next, events: [draft('execution_resumed', stepId, { actor: actor.id })] };
    });
    this.schedule(executionId, true);
    return execution;
  }

  async submitAcceptance(
    executionId: string,
    actor: Actor,
    accepted: boolean,
    comment: string | null,
  ): Promise<Execution> {
    let continues = false;
    const execution = await this.decide(executionId, actor, (e, now) => {
      const pending = e.pending_acceptance;
      if (e.status !== 'waiting_acceptance' || !pending) throw wrongState(e, 'waiting_acceptance');
      const def = this.llmStep(e, pending.step_id);
      const state = stepState(e, def.id);
      const events: AnyEventDraft[] = [
        draft('acceptance_submitted', def.id, { accepted, comment, actor: actor.id, revision: pending.revision }),
      ];
      let next = withDecision(
        { ...e, pending_acceptance: null },
        makeDecision({ type: 'acceptance', stepId: def.id, actor: actor.id, at: now, accepted, comment }),
      );
      if (accepted) {
        next = withStep(transition(next, 'running', now), def.id, {
          status: 'completed',
          output: pending.output,
          completed_at: now,
          error: null,
        });
        next = { ...next, completed_steps: [...next.completed_steps, def.id] };
        events.push(
          draft('step_completed', def.id, {
            output: pending.output,
            attempts: state.attempts,
            revision: state.revision,
            usage: state.usage,
          }),
        );
        continues = true;
        return { execution: next, events };
      }
      if (def.on_reject === 'revise' && pending.revision < def.max_revisions) {
        // The rejected output stays on the step: it is `previous_output` of the revision.
        next = withStep(transition(next, 'running', now), def.id, {
          status: 'pending',
          revision: state.revision + 1,
          attempts: 0,
          output: pending.output,
          error: null,
        });
        continues = true;
        return { execution: next, events };
      }
      const error =
        def.on_reject === 'revise'
          ? `REVISIONS_EXHAUSTED: step ${def.id} was rejected after ${def.max_revisions} revision(s)${comment ? `: ${comment}` : ''}`
          : `REJECTED: step ${def.id} was rejected by ${actor.id}${comment ? `: ${comment}` : ''}`;
      next = withStep(transition(next, 'failed', now), def.id, { status: 'failed', error });
      next = { ...next, error };
      events.push(
        draft('step_failed', def.id, { error, attempt: state.attempts, will_retry: false, retry_in_ms: null }),
        draft('execution_failed', def.id, { error }),
      );
      return { execution: next, events };
    });
    if (continues) this.schedule(executionId, true);
    return execution;
  }

  async submitClarification(executionId: string, actor: Actor, answers: Record<string, string>): Promise<Execution> {
    const execution = await this.decide(executionId, actor, (e, now) => {
      const pending = e.pending_clarification;
      if (e.status !== 'waiting_clarification' || !pending) throw wrongState(e, 'waiting_clarification');
      const known = new Set(pending.questions.map((q) => q.id));
      const unknown = Object.keys(answers).filter((id) => !known.has(id));
      if (unknown.length > 0) {
        throw new DomainError('VALIDATION_ERROR', `Unknown question id(s): ${unknown.join(', ')}`, {
          unknown_questions: unknown,
        });
      }
      const notText = Object.keys(answers).filter((id) => typeof answers[id] !== 'string');
      if (notText.length > 0) {
        throw new DomainError('VALIDATION_ERROR', `Answers must be strings: ${notText.join(', ')}`, {
          errors: notText.map((id) => ({ path: `/answers/${id}`, message: 'must be string' })),
        });
      }
      const missing = pending.questions
        .filter((q) => q.required && (answers[q.id] === undefined || answers[q.id]!.trim() === ''))
        .map((q) => q.id);
      if (missing.length > 0) {
        throw new DomainError('MISSING_ANSWERS', `Required question(s) not answered: ${missing.join(', ')}`, {
          missing,
        });
      }
      const def = this.stepDef(e, pending.step_id);
      const given = { ...answers };
      let next = withDecision(
        transition({ ...e, pending_clarification: null }, 'running', now),
        makeDecision({ type: 'clarification', stepId: def.id, actor: actor.id, at: now, answers: given }),
      );
      const events: AnyEventDraft[] = [draft('clarification_submitted', def.id, { answers: given, actor: actor.id })];
      if (def.type === 'clarification') {
        next = withStep(next, def.id, { status: 'completed', output: given, completed_at: now, error: null });
        next = { ...next, completed_steps: [...next.completed_steps, def.id] };
        events.push(draft('step_completed', def.id, { output: given, attempts: 0, revision: 0, usage: null }));
      } else {
        // The model asked: it runs again with the answers, as a fresh round of attempts.
        next = withStep(next, def.id, { status: 'pending', attempts: 0, error: null });
      }
      return { execution: next, events };
    });
    this.schedule(executionId, true);
    return execution;
  }

  async recover(): Promise<void> {
    const running = await this.store.idsByStatus(['running']);
    const pending = await this.store.idsByStatus(['pending']);
    for (const id of running) this.schedule(id, false);
    for (const id of pending) this.schedule(id, false);
    if (running.length + pending.length > 0) {
      this.logger.info({ running: running.length, pending: pending.length }, 'recovering executions');
    }
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const run of this.runs.values()) run.controller.abort(new Error('shutdown'));
    await this.idle();
    await this.locks.drain();
  }

  // ---------------------------------------------------------------- plumbing

  private now(): string {
    return this.clock().toISOString();
  }

  /**
   * Creation times strictly increase within the process, so "newest first" is the order in which
   * executions were started even when several start in the same millisecond.
   */
  private creationTime(): string {
    const ms = Math.max(this.clock().getTime(), this.lastCreatedMs + 1);
    this.lastCreatedMs = ms;
    return new Date(ms).toISOString();
  }

  private assertAccepting(): void {
    if (this.stopping) throw new DomainError('SERVICE_UNAVAILABLE', 'The service is shutting down');
  }

  private assertLlmAvailable(): void {
    if (!isGuarded(this.llm)) return;
    const a = this.llm.availability();
    if (a.open) {
      throw new DomainError(
        'LLM_UNAVAILABLE',
        'The LLM provider is unavailable after repeated failures; try again later',
        { retry_after_seconds: a.retryAfterSeconds },
        a.retryAfterSeconds ?? undefined,
      );
    }
  }

  private stepDef(execution: Execution, stepId: string): StepDefinition {
    const def = execution.definition.steps.find((s) => s.id === stepId);
    if (!def) throw new Error(`Execution ${execution.execution_id} has no step ${stepId} in its definition`);
    return def;
  }

  private llmStep(execution: Execution, stepId: string): LlmStepDefinition {
    const def = this.stepDef(execution, stepId);
    if (def.type !== 'llm') throw new Error(`Step ${stepId} is not an llm step`);
    return def;
  }

  /**
   * The one write path: under the execution's lock, read, change (or not: null), write state and
   * events together, then publish.
   */
  private mutate(
    executionId: string,
    fn: (current: Execution, now: string) => Change | null,
  ): Promise<Execution | null> {
    return this.locks.run(executionId, async () => {
      const current = await this.store.get(executionId);
      if (!current) throw notFound(executionId);
      const now = this.now();
      const change = fn(current, now);
      if (!change) return null;
      const { execution, events } = appendEvents({ ...change.execution, updated_at: now }, change.events, now);
      await this.store.save(execution, events);
      const run = this.runs.get(executionId);
      if (run) run.lastSeq = execution.last_seq;
      for (const event of events) {
        this.logger.debug({ execution_id: executionId, seq: event.seq, event_type: event.event_type }, 'event');
        this.bus.publish(event);
      }
      if (execution.status !== current.status) {
        const level = execution.status === 'failed' || execution.status === 'paused' ? 'warn' : 'info';
        this.logger[level](
          { execution_id: executionId, from: current.status, to: execution.status, error: execution.error },
          `execution ${execution.status}`,
        );
      }
      return execution;
    });
  }

  /** A human decision: visibility first (404), then the change. */
  private async decide(
    executionId: string,
    actor: Actor,
    fn: (current: Execution, now: string) => Change,
  ): Promise<Execution> {
    this.assertAccepting();
    const existing = await this.store.get(executionId);
    if (!existing || !isVisibleTo(existing, actor)) throw notFound(executionId);
    const result = await this.mutate(executionId, (current, now) => {
      if (!isVisibleTo(current, actor)) throw notFound(executionId);
      return fn(current, now);
    });
    return result!;
  }

  private schedule(executionId: string, front: boolean): void {
    if (this.stopping) return;
    const existing = this.runs.get(executionId);
    if (existing) {
      existing.again = true;
      return;
    }
    const run: Run = {
      controller: new AbortController(),
      again: false,
      front,
      done: Promise.resolve(),
      lastSeq: 0,
      conversation: null,
    };
    this.runs.set(executionId, run);
    run.done = this.drive(executionId, run).catch((err: unknown) => {
      this.logger.error({ err, execution_id: executionId }, 'execution driver crashed');
    });
  }

  /** Drives one execution until it parks (gate, pause, terminal) or the engine stops. */
  private async drive(executionId: string, run: Run): Promise<void> {
    try {
      await this.slots.acquire({ signal: run.controller.signal, front: run.front });
    } catch {
      this.runs.delete(executionId);
      return;
    }
    try {
      for (;;) {
        let next: Next;
        try {
          next = await this.advance(executionId, run);
        } catch (err) {
          next = await this.onDriverError(executionId, run, err);
        }
        if (next === 'continue' && !this.stopping && !run.controller.signal.aborted) continue;
        if (run.again && !this.stopping) {
          run.again = false;
          if (run.controller.signal.aborted) run.controller = new AbortController();
          continue;
        }
        break;
      }
    } finally {
      // Synchronous with the last `again` check: a later schedule() starts a new driver.
      this.runs.delete(executionId);
      this.slots.release();
    }
  }

  private async onDriverError(executionId: string, run: Run, err: unknown): Promise<Next> {
    if (err instanceof AbortedError || run.controller.signal.aborted || this.stopping) return 'stop';
    this.logger.error({ err, execution_id: executionId }, 'execution step crashed');
    try {
      const message = `INTERNAL_ERROR: ${errorMessage(err)}`;
      await this.mutate(executionId, (e, now) =>
        e.status === 'running' || e.status === 'pending'
          ? {
              execution: { ...transition(e, 'failed', now), error: message },
              events: [draft('execution_failed', e.current_step_id, { error: message })],
            }
          : null,
      );
    } catch (second) {
      this.logger.error({ err: second, execution_id: executionId }, 'could not record the failure');
    }
    return 'stop';
  }

  /** One unit of work; returns whether the driver should go on. */
  private async advance(executionId: string, run: Run): Promise<Next> {
    const execution = await this.store.get(executionId);
    if (!execution) return 'stop';
    run.lastSeq = execution.last_seq;
    switch (execution.status) {
      case 'pending': // started by the first step's write (see `begin`)
      case 'running':
        return this.runNextStep(execution, run);
      case 'waiting_acceptance':
      case 'waiting_clarification':
      case 'paused':
      case 'completed':
      case 'failed':
      case 'cancelled':
        return 'stop';
      default:
        return assertNever(execution.status, 'execution status');
    }
  }

  private async runNextStep(execution: Execution, run: Run): Promise<Next> {
    const index = nextStepIndex(execution);
    if (index === null) {
      await this.mutate(execution.execution_id, (e, now) =>
        e.status !== 'running' || nextStepIndex(e) !== null
          ? null
          : {
              execution: transition(e, 'completed', now),
              events: [draft('execution_completed', null, { completed_steps: [...e.completed_steps] })],
            },
      );
      return 'stop';
    }
    const def = execution.definition.steps[index]!;
    if (def.type === 'clarification') {
      await this.openClarification(execution.execution_id, def);
      return 'stop';
    }
    return this.runLlmStep(execution, def, run);
  }

  /**
   * A pending execution starts (pending -> running, `execution_started`) in the same durable write
   * as the first thing its first step records: one fsync fewer per execution.
   */
  private begin(e: Execution, now: string, change: (e: Execution) => Change | null): Change | null {
    if (e.status !== 'pending') return change(e);
    const result = change(transition(e, 'running', now));
    if (!result) return null;
    const started = draft('execution_started', null, {
      workflow_id: e.workflow_id,
      workflow_version: e.workflow_version,
      project_id: e.project_id,
    });
    return { execution: result.execution, events: [started, ...result.events] };
  }

  private async openClarification(executionId: string, def: ClarificationStepDefinition): Promise<void> {
    await this.mutate(executionId, (before, now) =>
      this.begin(before, now, (e) => {
        if (e.status !== 'running' || stepState(e, def.id).status === 'completed') return null;
        const pending = { step_id: def.id, questions: def.questions.map((q) => ({ ...q })), requested_at: now };
        let next = withStep(e, def.id, { status: 'waiting_clarification', started_at: now, error: null });
        next = {
          ...transition(next, 'waiting_clarification', now),
          current_step_id: def.id,
          pending_clarification: pending,
        };
        return {
          execution: next,
          events: [
            draft('step_started', def.id, { step_name: def.name, step_type: 'clarification', attempt: 0, revision: 0 }),
            draft('waiting_clarification', def.id, { pending_clarification: pending }),
          ],
        };
      }),
    );
  }

  // ---------------------------------------------------------------- llm steps

  private async runLlmStep(execution: Execution, def: LlmStepDefinition, run: Run): Promise<Next> {
    const id = execution.execution_id;
    const state = stepState(execution, def.id);
    const { revision } = state;
    const unchanged = (e: Execution, attempts: number): boolean => {
      const s = stepState(e, def.id);
      // `pending` only before the first write of the first step, which `begin` turns into running.
      return (
        (e.status === 'running' || e.status === 'pending') &&
        s.status !== 'completed' &&
        s.attempts === attempts &&
        s.revision === revision
      );
    };

    if (state.attempts >= def.max_attempts) {
      // Only after a crash: the last allowed attempt was in flight. Never exceed max_attempts.
      const error = `LLM_UNAVAILABLE: step ${def.id} used all ${def.max_attempts} attempts (the last one was interrupted)`;
      await this.mutate(id, (e, now) =>
        unchanged(e, state.attempts)
          ? this.begin(e, now, (b) => this.pauseChange(b, def, state.attempts, error, now))
          : null,
      );
      return 'stop';
    }

    let messages: ChatMessage[];
    try {
      messages = this.buildMessages(execution, def);
    } catch (err) {
      const error = `TEMPLATE_ERROR: step ${def.id}: ${errorMessage(err)}`;
      await this.mutate(id, (e, now) =>
        unchanged(e, state.attempts)
          ? this.begin(e, now, (b) => this.failChange(b, def, state.attempts, error, now))
          : null,
      );
      return 'stop';
    }
    if (run.conversation?.stepId === def.id && run.conversation.revision === revision) {
      messages.push(...run.conversation.messages);
    } else {
      run.conversation = null;
    }

    const attempt = state.attempts + 1;
    // Persisted before the call: a crash mid-call still counts the attempt.
    const started = await this.mutate(id, (before, now) => {
      if (!unchanged(before, state.attempts)) return null;
      return this.begin(before, now, (e) => {
        const s = stepState(e, def.id);
        const next = withStep(e, def.id, {
          status: 'running',
          attempts: attempt,
          started_at: s.started_at ?? now,
          completed_at: null,
          error: null,
        });
        return {
          execution: { ...next, current_step_id: def.id },
          events: [draft('step_started', def.id, { step_name: def.name, step_type: 'llm', attempt, revision })],
        };
      });
    });
    if (!started) return 'continue';

    const result = await this.callModel(started, def, attempt, messages, run);
    if (result.kind === 'aborted') return 'stop';

    if (result.kind === 'error') {
      const { error } = result;
      if (error.retryable && attempt < def.max_attempts) {
        const delay = backoffDelay(attempt, this.options.retry, error.retryAfterMs, this.random);
        const recorded = await this.mutate(id, (e) => {
          if (!unchanged(e, attempt)) return null;
          return {
            execution: withStep(e, def.id, { error: error.message }),
            events: [
              draft('step_failed', def.id, { error: error.message, attempt, will_retry: true, retry_in_ms: delay }),
            ],
          };
        });
        if (!recorded) return 'continue';
        try {
          await sleep(delay, run.controller.signal);
        } catch {
          return 'stop';
        }
        return 'continue';
      }
      const message = error.retryable
        ? `LLM_UNAVAILABLE: step ${def.id}: ${error.message} (after ${attempt} attempt(s))`
        : `LLM_ERROR: step ${def.id}: ${error.message}`;
      await this.mutate(id, (e, now) => {
        if (!unchanged(e, attempt)) return null;
        return error.retryable
          ? this.pauseChange(e, def, attempt, message, now)
          : this.failChange(e, def, attempt, message, now);
      });
      return 'stop';
    }

    const { response } = result;
    const reply = interpretReply(response.text, def.output_schema, this.schemas, def.may_request_clarification);
    const withUsage = (e: Execution): Execution => ({
      ...withStep(e, def.id, { usage: addUsage(stepState(e, def.id).usage, response.usage) }),
      usage: addUsage(e.usage, response.usage),
    });

    switch (reply.kind) {
      case 'questions': {
        run.conversation = null;
        await this.mutate(id, (e, now) => {
          if (!unchanged(e, attempt)) return null;
          const pending = { step_id: def.id, questions: reply.questions, requested_at: now };
          const next = withStep(withUsage(e), def.id, { status: 'waiting_clarification' });
          return {
            execution: { ...transition(next, 'waiting_clarification', now), pending_clarification: pending },
            events: [draft('waiting_clarification', def.id, { pending_clarification: pending })],
          };
        });
        return 'stop';
      }
      case 'output': {
        run.conversation = null;
        const output = reply.value;
        if (def.requires_acceptance) {
          await this.mutate(id, (e, now) => {
            if (!unchanged(e, attempt)) return null;
            const pending = { step_id: def.id, output, revision, requested_at: now };
            const next = withStep(withUsage(e), def.id, { status: 'waiting_acceptance', output, error: null });
            return {
              execution: { ...transition(next, 'waiting_acceptance', now), pending_acceptance: pending },
              events: [draft('waiting_acceptance', def.id, { pending_acceptance: pending })],
            };
          });
          return 'stop';
        }
        const done = await this.mutate(id, (e, now) => {
          if (!unchanged(e, attempt)) return null;
          const stepped = withStep(withUsage(e), def.id, {
            status: 'completed',
            output,
            completed_at: now,
            error: null,
          });
          let next: Execution = { ...stepped, completed_steps: [...stepped.completed_steps, def.id] };
          const events: AnyEventDraft[] = [
            draft('step_completed', def.id, {
              output,
              attempts: attempt,
              revision,
              usage: stepState(next, def.id).usage,
            }),
          ];
          // The last step: complete the execution in the same durable write (one fsync fewer).
          if (nextStepIndex(next) === null) {
            next = transition(next, 'completed', now);
            events.push(draft('execution_completed', null, { completed_steps: [...next.completed_steps] }));
          }
          return { execution: next, events };
        });
        return done ? 'continue' : 'stop';
      }
      case 'invalid': {
        const problems = reply.problems.slice(0, 20);
        const error = `INVALID_OUTPUT: step ${def.id}: ${problems.join('; ')}`;
        if (attempt < def.max_attempts) {
          const critique: ChatMessage[] = [
            { role: 'assistant', content: response.text },
            {
              role: 'user',
              content:
                `Your reply was rejected because it does not satisfy the required JSON Schema:\n` +
                problems.map((p) => `- ${p}`).join('\n') +
                `\nReply again with only a JSON object that fixes these errors.`,
            },
          ];
          const base =
            run.conversation?.stepId === def.id && run.conversation.revision === revision
              ? run.conversation.messages
              : [];
          run.conversation = { stepId: def.id, revision, messages: [...base, ...critique] };
          const recorded = await this.mutate(id, (e) => {
            if (!unchanged(e, attempt)) return null;
            return {
              execution: withStep(withUsage(e), def.id, { error }),
              events: [draft('step_failed', def.id, { error, attempt, will_retry: true, retry_in_ms: 0 })],
            };
          });
          return recorded ? 'continue' : 'stop';
        }
        run.conversation = null;
        const final = `${error} (after ${attempt} attempt(s))`;
        await this.mutate(id, (e, now) =>
          unchanged(e, attempt) ? this.failChange(withUsage(e), def, attempt, final, now) : null,
        );
        return 'stop';
      }
    }
  }

  private failChange(e: Execution, def: StepDefinition, attempt: number, error: string, now: string): Change {
    const next = withStep(transition(e, 'failed', now), def.id, { status: 'failed', error });
    return {
      execution: { ...next, error, current_step_id: def.id },
      events: [
        draft('step_failed', def.id, { error, attempt, will_retry: false, retry_in_ms: null }),
        draft('execution_failed', def.id, { error }),
      ],
    };
  }

  private pauseChange(e: Execution, def: StepDefinition, attempt: number, error: string, now: string): Change {
    const next = withStep(transition(e, 'paused', now), def.id, { status: 'failed', error });
    return {
      execution: { ...next, error, current_step_id: def.id },
      events: [
        draft('step_failed', def.id, { error, attempt, will_retry: false, retry_in_ms: null }),
        draft('execution_paused', def.id, { error }),
      ],
    };
  }

  /** What the prompt sees: earlier steps' outputs and answers, and on a revision the critique. */
  private templateVars(execution: Execution, def: LlmStepDefinition): Record<string, unknown> {
    const steps: Record<string, { output: unknown; answers: Record<string, string> }> = {};
    for (const [i, s] of execution.definition.steps.entries()) {
      if (s.id === def.id) break;
      const state = execution.steps[i]!;
      steps[s.id] = {
        output: state.output,
        answers:
          s.type === 'clarification'
            ? ((state.output as Record<string, string> | null) ?? answersFor(execution, s.id))
            : answersFor(execution, s.id),
      };
    }
    const vars: Record<string, unknown> = {
      project_id: execution.project_id,
      context: execution.initial_context,
      steps,
    };
    const state = stepState(execution, def.id);
    if (state.revision > 0) {
      const rejection = latestRejection(execution, def.id);
      vars.feedback = rejection?.comment || '(the reviewer gave no comment)';
      vars.previous_output = state.output;
    }
    return vars;
  }

  private buildMessages(execution: Execution, def: LlmStepDefinition): ChatMessage[] {
    const vars = this.templateVars(execution, def);
    const instructions = [
      'Reply with a single JSON object and nothing else. It must satisfy this JSON Schema:',
      JSON.stringify(def.output_schema),
    ];
    if (def.may_request_clarification) {
      instructions.push(
        'If you cannot do the task well without more information from the user, reply instead with ' +
          '{"questions": [{"id": "short_snake_case_id", "text": "your question", "required": true}]}.',
      );
    }
    const system = [def.system ? this.templates.render(def.system, vars) : null, instructions.join('\n')]
      .filter((s): s is string => s !== null)
      .join('\n\n');
    const messages: ChatMessage[] = [
      { role: 'system', content: system },
      { role: 'user', content: this.templates.render(def.prompt, vars) },
    ];
    const answers = answersFor(execution, def.id);
    if (Object.keys(answers).length > 0) {
      messages.push({
        role: 'user',
        content:
          `Answers to your clarification questions:\n${JSON.stringify(answers, null, 2)}\n` +
          'Use them to complete the task.',
      });
    }
    return messages;
  }

  private async callModel(
    execution: Execution,
    def: LlmStepDefinition,
    attempt: number,
    messages: ChatMessage[],
    run: Run,
  ): Promise<CallResult> {
    const runSignal = run.controller.signal;
    try {
      await this.llmSlots.acquire({ signal: runSignal });
    } catch {
      return { kind: 'aborted' };
    }
    const timeoutMs = def.timeout_ms ?? this.options.llmTimeoutMs;
    const call = new AbortController();
    const onRunAbort = (): void => call.abort(runSignal.reason);
    runSignal.addEventListener('abort', onRunAbort, { once: true });
    let timedOut = false;
    // The provider is told `timeoutMs` and owns the deadline: it reports a timeout as a retryable
    // failure, which the circuit breaker counts. This timer is only a backstop for providers that
    // ignore it; firing at the same moment it would win the race and turn every timeout into a
    // caller abort, which the breaker (rightly) does not count.
    const timer = setTimeout(() => {
      timedOut = true;
      call.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs + TIMEOUT_BACKSTOP_GRACE_MS);
    const progress = new ProgressBatcher(this.options.progressIntervalMs, (delta) => {
      this.bus.publish(
        progressEvent(
          { execution_id: execution.execution_id, last_seq: run.lastSeq },
          def.id,
          { delta, attempt },
          this.now(),
        ),
      );
    });
    const startedAt = performance.now();
    const report = (info: Pick<LlmCallInfo, 'outcome' | 'errorKind' | 'usage' | 'model'>): void => {
      try {
        this.observer.onLlmCall?.({
          provider: this.llm.name,
          durationMs: performance.now() - startedAt,
          executionId: execution.execution_id,
          workflowId: execution.workflow_id,
          stepId: def.id,
          attempt,
          ...info,
        });
      } catch (err) {
        this.logger.warn({ err }, 'onLlmCall observer threw');
      }
    };
    try {
      const response = await this.llm.complete({
        executionId: execution.execution_id,
        stepId: def.id,
        attempt,
        messages,
        outputSchema: def.output_schema,
        schemaName: def.id,
        mayRequestClarification: def.may_request_clarification,
        timeoutMs,
        signal: call.signal,
        onDelta: (delta) => progress.push(delta),
      });
      progress.flush();
      report({ outcome: 'ok', errorKind: null, usage: response.usage, model: response.model });
      return { kind: 'response', response };
    } catch (err) {
      progress.discard();
      if (runSignal.aborted) {
        report({ outcome: 'aborted', errorKind: 'aborted', usage: null, model: null });
        return { kind: 'aborted' };
      }
      let error: LlmError;
      if (timedOut) error = new LlmError(`model call timed out after ${timeoutMs} ms`, true, 'timeout');
      else if (err instanceof LlmError) error = err;
      // Not the provider's own error type: most likely transport trouble, so retry, then pause.
      else error = new LlmError(errorMessage(err), true, 'network');
      report({ outcome: timedOut ? 'timeout' : 'error', errorKind: error.kind, usage: null, model: null });
      this.logger.warn(
        {
          execution_id: execution.execution_id,
          step_id: def.id,
          attempt,
          kind: error.kind,
          retryable: error.retryable,
          err: error.message,
        },
        'model call failed',
      );
      return { kind: 'error', error };
    } finally {
      clearTimeout(timer);
      runSignal.removeEventListener('abort', onRunAbort);
      this.llmSlots.release();
    }
  }
}
