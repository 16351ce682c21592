import { EventBus } from '../../src/events/bus.js';
import { appendEvents, draft, progressEvent } from '../../src/events/log.js';
import type { AnyExecutionEvent } from '../../src/domain/types.js';
import { buildExecution } from '../support/factories.js';
import { RecordingLogger } from '../support/recording-logger.js';

describe('the event log and bus', () => {
  it('stamps events with the next seqs of their execution and advances last_seq', () => {
    const execution = { ...buildExecution(), last_seq: 4 };
    const { execution: next, events } = appendEvents(
      execution,
      [
        draft('step_started', 'only', { step_name: 'Only', step_type: 'llm', attempt: 1, revision: 0 }),
        draft('step_completed', 'only', { output: {}, attempts: 1, revision: 0, usage: null }),
      ],
      '2026-01-01T00:00:00.000Z',
    );
    expect(events.map((e) => [e.seq, e.event_type, e.execution_id])).toEqual([
      [5, 'step_started', execution.execution_id],
      [6, 'step_completed', execution.execution_id],
    ]);
    expect(next.last_seq).toBe(6);
    expect(execution.last_seq).toBe(4);
    expect(progressEvent(next, 'only', { delta: 'x', attempt: 1 }, 't').seq).toBe(6);
  });

  it('delivers to the execution subscribers and global ones; a throwing listener neither stops the others nor leaks', () => {
    const logger = new RecordingLogger();
    const bus = new EventBus(logger);
    const a: AnyExecutionEvent[] = [];
    const all: AnyExecutionEvent[] = [];
    const offBad = bus.subscribe('e1', () => {
      throw new Error('boom');
    });
    const offA = bus.subscribe('e1', (e) => a.push(e));
    const offAll = bus.subscribeAll((e) => all.push(e));
    const offTyped = bus.on('execution_failed', (e) => a.push(e));
    const event = progressEvent({ execution_id: 'e1', last_seq: 0 }, 's', { delta: 'd', attempt: 1 }, 't');
    bus.publish(event);
    bus.publish({ ...event, execution_id: 'e2' });
    expect(a).toEqual([event]);
    expect(all).toHaveLength(2);
    expect(logger.at('error')).toHaveLength(1);
    expect(bus.listenerCount('e1')).toBe(2);
    expect(bus.listenerCount()).toBe(4);
    offBad();
    offA();
    offA();
    offAll();
    offTyped();
    expect(bus.listenerCount('e1')).toBe(0);
    expect(bus.listenerCount()).toBe(0);
  });
});
