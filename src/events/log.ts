/**
 * The per-execution event log: lifecycle events get the next `seq` of their execution and are
 * stored with the state change that produced them (one store write for both).
 */
import type { AnyExecutionEvent, EventData, EventType, Execution, ExecutionEvent } from '../domain/types.js';

/** The event types that are persisted (everything except `snapshot` and `step_progress`). */
export type PersistedEventType = Exclude<EventType, 'snapshot' | 'step_progress'>;

export interface EventDraft<T extends PersistedEventType = PersistedEventType> {
  event_type: T;
  step_id: string | null;
  data: EventData[T];
}

export type AnyEventDraft = { [T in PersistedEventType]: EventDraft<T> }[PersistedEventType];

export function draft<T extends PersistedEventType>(
  eventType: T,
  stepId: string | null,
  data: EventData[T],
): EventDraft<T> {
  return { event_type: eventType, step_id: stepId, data };
}

/**
 * Stamps `drafts` with consecutive seqs after `execution.last_seq` and returns the events and
 * the execution with its `last_seq` advanced. Pure.
 */
export function appendEvents(
  execution: Execution,
  drafts: readonly AnyEventDraft[],
  timestamp: string,
): { execution: Execution; events: AnyExecutionEvent[] } {
  let seq = execution.last_seq;
  const events = drafts.map(
    (d) =>
      ({
        event_type: d.event_type,
        execution_id: execution.execution_id,
        seq: ++seq,
        step_id: d.step_id,
        timestamp,
        data: d.data,
      }) as AnyExecutionEvent,
  );
  return { execution: { ...execution, last_seq: seq }, events };
}

/** A `step_progress` event: published, never stored; its seq is the last persisted one. */
export function progressEvent(
  execution: Pick<Execution, 'execution_id' | 'last_seq'>,
  stepId: string,
  data: EventData['step_progress'],
  timestamp: string,
): ExecutionEvent<'step_progress'> {
  return {
    event_type: 'step_progress',
    execution_id: execution.execution_id,
    seq: execution.last_seq,
    step_id: stepId,
    timestamp,
    data,
  };
}
