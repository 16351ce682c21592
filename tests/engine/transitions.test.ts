import { DomainError } from '../../src/domain/errors.js';
import { createExecution } from '../../src/domain/execution.js';
import { canTransition, isTerminal, transition, TRANSITIONS } from '../../src/domain/transitions.js';
import { EXECUTION_STATUSES, TERMINAL_STATUSES, type ExecutionStatus } from '../../src/domain/types.js';
import { SAMPLE_DEFINITION } from '../support/factories.js';

/** PRODUCT §3, written out independently of the code under test. */
const ALLOWED: Record<ExecutionStatus, ExecutionStatus[]> = {
  pending: ['running', 'cancelled'],
  running: ['waiting_acceptance', 'waiting_clarification', 'paused', 'completed', 'failed', 'cancelled'],
  waiting_acceptance: ['running', 'failed', 'cancelled'],
  waiting_clarification: ['running', 'cancelled'],
  paused: ['running', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
};

const base = createExecution({
  id: 'e1',
  definition: SAMPLE_DEFINITION,
  definitionHash: 'h',
  projectId: 'p',
  initialContext: {},
  createdBy: 'u',
  now: '2026-01-01T00:00:00.000Z',
});

describe('the transition table', () => {
  it('has exactly the transitions of PRODUCT §3', () => {
    expect(TRANSITIONS).toEqual(ALLOWED);
  });

  const pairs = EXECUTION_STATUSES.flatMap((from) => EXECUTION_STATUSES.map((to) => [from, to] as const));
  it.each(pairs)('%s -> %s is allowed only when the table says so', (from, to) => {
    const execution = { ...base, status: from };
    const later = '2026-01-02T00:00:00.000Z';
    if (ALLOWED[from].includes(to)) {
      expect(canTransition(from, to)).toBe(true);
      const next = transition(execution, to, later);
      expect(next.status).toBe(to);
      expect(next.updated_at).toBe(later);
      expect(execution.status).toBe(from); // pure: the input is untouched
      if (isTerminal(to)) expect(next.completed_at).toBe(later);
      if (to === 'running') expect(next.started_at).toBe(later);
    } else {
      expect(canTransition(from, to)).toBe(false);
      let thrown: unknown;
      try {
        transition(execution, to, later);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(DomainError);
      expect(thrown).toMatchObject({ code: 'INVALID_STATE_TRANSITION', status: 400, details: { from, to } });
    }
  });

  it('marks exactly completed, failed and cancelled as terminal, with no way out', () => {
    expect(EXECUTION_STATUSES.filter(isTerminal)).toEqual([...TERMINAL_STATUSES]);
    for (const s of TERMINAL_STATUSES) expect(TRANSITIONS[s]).toEqual([]);
  });

  it('keeps the first started_at when an execution runs again', () => {
    const running = transition(base, 'running', '2026-01-02T00:00:00.000Z');
    const paused = transition(running, 'paused', '2026-01-03T00:00:00.000Z');
    expect(transition(paused, 'running', '2026-01-04T00:00:00.000Z').started_at).toBe('2026-01-02T00:00:00.000Z');
  });
});

describe('a new execution', () => {
  it('is pending with every step pending, nullable fields null and zero usage', () => {
    expect(base).toMatchObject({
      status: 'pending',
      current_step_id: null,
      completed_steps: [],
      pending_acceptance: null,
      pending_clarification: null,
      decisions: [],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      started_at: null,
      completed_at: null,
      error: null,
      last_seq: 0,
      steps: [
        {
          step_id: 'only',
          status: 'pending',
          attempts: 0,
          revision: 0,
          output: null,
          started_at: null,
          completed_at: null,
          error: null,
          usage: null,
        },
      ],
    });
  });
});
