/**
 * The one transition table of the execution lifecycle (PRODUCT §3). Every status change goes
 * through `transition`; nothing else assigns `Execution.status`.
 */
import { DomainError } from './errors.js';
import type { Execution, ExecutionStatus } from './types.js';
import { assertNever } from './assert-never.js';

export const TRANSITIONS: Readonly<Record<ExecutionStatus, readonly ExecutionStatus[]>> = {
  pending: ['running', 'cancelled'],
  running: ['waiting_acceptance', 'waiting_clarification', 'paused', 'completed', 'failed', 'cancelled'],
  waiting_acceptance: ['running', 'failed', 'cancelled'],
  waiting_clarification: ['running', 'cancelled'],
  paused: ['running', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(status: ExecutionStatus): boolean {
  switch (status) {
    case 'completed':
    case 'failed':
    case 'cancelled':
      return true;
    case 'pending':
    case 'running':
    case 'waiting_acceptance':
    case 'waiting_clarification':
    case 'paused':
      return false;
    default:
      return assertNever(status, 'execution status');
  }
}

/**
 * Returns a copy of `execution` in status `to`, with the timestamps that go with it.
 * @throws DomainError INVALID_STATE_TRANSITION when the table does not allow it.
 */
export function transition(execution: Execution, to: ExecutionStatus, now: string): Execution {
  const from = execution.status;
  if (!canTransition(from, to)) {
    throw new DomainError(
      'INVALID_STATE_TRANSITION',
      `Execution ${execution.execution_id} cannot go from ${from} to ${to}`,
      { from, to },
    );
  }
  const next: Execution = { ...execution, status: to, updated_at: now };
  switch (to) {
    case 'running':
      next.started_at = execution.started_at ?? now;
      break;
    case 'completed':
    case 'failed':
    case 'cancelled':
      next.completed_at = now;
      next.current_step_id = to === 'completed' ? null : execution.current_step_id;
      break;
    case 'pending':
    case 'waiting_acceptance':
    case 'waiting_clarification':
    case 'paused':
      break;
    default:
      return assertNever(to, 'execution status');
  }
  return next;
}
