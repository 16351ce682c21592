/**
 * A typed in-process event bus. The engine publishes a persisted event only after the store
 * write that holds it has resolved, so a subscriber never sees an event that could be lost.
 */
import type { AnyExecutionEvent, EventType, ExecutionEvent } from '../domain/types.js';
import { silentLogger, type Logger } from '../domain/logger.js';

export type ExecutionEventListener = (event: AnyExecutionEvent) => void;

export class EventBus {
  private readonly byExecution = new Map<string, Set<ExecutionEventListener>>();
  private readonly everything = new Set<ExecutionEventListener>();

  constructor(private readonly logger: Logger = silentLogger) {}

  /** Listens to one execution's events. Returns the unsubscribe function (idempotent). */
  subscribe(executionId: string, listener: ExecutionEventListener): () => void {
    let set = this.byExecution.get(executionId);
    if (!set) {
      set = new Set();
      this.byExecution.set(executionId, set);
    }
    // Wrapped so the same function can subscribe twice and unsubscribe each independently.
    const entry: ExecutionEventListener = (e) => listener(e);
    set.add(entry);
    return () => {
      const current = this.byExecution.get(executionId);
      if (!current) return;
      current.delete(entry);
      if (current.size === 0) this.byExecution.delete(executionId);
    };
  }

  /** Listens to every execution's events (metrics, audit). */
  subscribeAll(listener: ExecutionEventListener): () => void {
    const entry: ExecutionEventListener = (e) => listener(e);
    this.everything.add(entry);
    return () => {
      this.everything.delete(entry);
    };
  }

  /** Listens to one event type of every execution, typed by that type. */
  on<T extends EventType>(eventType: T, listener: (event: ExecutionEvent<T>) => void): () => void {
    return this.subscribeAll((e) => {
      if (e.event_type === eventType) listener(e as ExecutionEvent<T>);
    });
  }

  publish(event: AnyExecutionEvent): void {
    const targets = [...(this.byExecution.get(event.execution_id) ?? []), ...this.everything];
    for (const listener of targets) {
      try {
        listener(event);
      } catch (err) {
        // One faulty subscriber must not starve the others or break the engine.
        this.logger.error(
          { err, execution_id: event.execution_id, event_type: event.event_type },
          'event listener threw',
        );
      }
    }
  }

  /** Listeners of one execution, or of all executions plus global ones when no id is given. */
  listenerCount(executionId?: string): number {
    if (executionId !== undefined) return this.byExecution.get(executionId)?.size ?? 0;
    let n = this.everything.size;
    for (const set of this.byExecution.values()) n += set.size;
    return n;
  }
}
