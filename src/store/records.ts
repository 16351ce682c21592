/** Checks shared by the adapters, so a bug upstream cannot write a gap into an event log. */
import type { AnyExecutionEvent, Execution } from '../domain/types.js';

export interface StoredRecord {
  execution: Execution;
  events: AnyExecutionEvent[];
}

/** Ids end up in file names: allow only safe tokens (UUIDs and test ids). */
export const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

export function assertAppendable(
  previousLastSeq: number,
  execution: Execution,
  appended: readonly AnyExecutionEvent[],
): void {
  let seq = previousLastSeq;
  for (const e of appended) {
    if (e.execution_id !== execution.execution_id || e.seq !== seq + 1) {
      throw new Error(
        `Event ${e.event_type} of ${e.execution_id} has seq ${e.seq}, expected ${seq + 1} for ${execution.execution_id}`,
      );
    }
    seq = e.seq;
  }
  if (execution.last_seq !== seq) {
    throw new Error(`Execution ${execution.execution_id} has last_seq ${execution.last_seq}, expected ${seq}`);
  }
}

/** Binary search for the first event with seq > afterSeq (events are in seq order). */
export function eventsAfter(
  events: readonly AnyExecutionEvent[],
  afterSeq: number,
  limit: number,
): AnyExecutionEvent[] {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.seq <= afterSeq) lo = mid + 1;
    else hi = mid;
  }
  // Stored events are frozen snapshots (see immutable.ts): handing them out is safe.
  return events.slice(lo, lo + Math.max(0, limit));
}
