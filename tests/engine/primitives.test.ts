import { backoffDelay, KeyedMutex, Semaphore, sleep } from '../../src/engine/concurrency.js';
import { ProgressBatcher } from '../../src/engine/progress.js';
import { parseJsonText } from '../../src/engine/output.js';

describe('engine primitives', () => {
  it('batches deltas into at most one emission per interval and flushes the rest on demand', () => {
    jest.useFakeTimers();
    try {
      let now = 0;
      const emitted: string[] = [];
      const batcher = new ProgressBatcher(
        50,
        (d) => emitted.push(d),
        () => now,
      );
      batcher.push('a'); // first delta goes out at once
      batcher.push('b');
      batcher.push('c');
      expect(emitted).toEqual(['a']);
      now = 50;
      jest.advanceTimersByTime(50);
      expect(emitted).toEqual(['a', 'bc']);
      batcher.push('d');
      batcher.flush(); // before step_completed
      expect(emitted).toEqual(['a', 'bc', 'd']);
      batcher.push('e');
      batcher.discard();
      jest.advanceTimersByTime(100);
      expect(emitted).toEqual(['a', 'bc', 'd']);
    } finally {
      jest.useRealTimers();
    }
  });

  it('computes full-jitter exponential backoff, capped, and honours a longer Retry-After', () => {
    const opts = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(1, opts, undefined, () => 0.999)).toBe(99);
    expect(backoffDelay(3, opts, undefined, () => 0.5)).toBe(200);
    expect(backoffDelay(10, opts, undefined, () => 0.999)).toBe(999);
    expect(backoffDelay(1, opts, undefined, () => 0)).toBe(0);
    expect(backoffDelay(1, opts, 5000, () => 0.5)).toBe(5000);
    expect(backoffDelay(4, opts, 10, () => 0.5)).toBe(400);
  });

  it('serves semaphore waiters in FIFO order, lets `front` jump the queue, and drops aborted waiters', async () => {
    const sem = new Semaphore(1);
    const order: string[] = [];
    await sem.acquire();
    const controller = new AbortController();
    const a = sem.acquire().then(() => order.push('a'));
    const b = sem.acquire({ signal: controller.signal }).then(
      () => order.push('b'),
      () => order.push('b aborted'),
    );
    const c = sem.acquire({ front: true }).then(() => order.push('c'));
    controller.abort();
    await b;
    expect(sem.waiting).toBe(2);
    sem.release();
    await c;
    sem.release();
    await a;
    sem.release();
    expect(order).toEqual(['b aborted', 'c', 'a']);
    expect(sem.active).toBe(0);
  });

  it('runs tasks of one key one at a time in call order, other keys in parallel, and survives failures', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    const task =
      (name: string, ms: number, fail = false) =>
      async () => {
        log.push(`${name}+`);
        await sleep(ms);
        log.push(`${name}-`);
        if (fail) throw new Error(name);
        return name;
      };
    const results = await Promise.allSettled([
      mutex.run('x', task('x1', 20, true)),
      mutex.run('x', task('x2', 1)),
      mutex.run('y', task('y1', 1)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(log.indexOf('x2+')).toBeGreaterThan(log.indexOf('x1-'));
    expect(log.indexOf('y1-')).toBeLessThan(log.indexOf('x1-'));
    await mutex.drain();
    expect(mutex.size).toBe(0);
  });

  it('reads model JSON with or without a fence and explains what is wrong otherwise', () => {
    expect(parseJsonText('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonText('```json\n{"a":1}\n```')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonText('```\n[1]\n```')).toEqual({ ok: true, value: [1] });
    expect(parseJsonText('Here you go: {"a":1}')).toMatchObject({
      ok: false,
      error: expect.stringContaining('not valid JSON'),
    });
  });
});
