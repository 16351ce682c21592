import type { ExecutionStore } from '../../src/store/port.js';
import { MemoryExecutionStore } from '../../src/store/memory.js';
import { LowdbExecutionStore } from '../../src/store/lowdb.js';
import { appendEvents, draft } from '../../src/events/log.js';
import { buildExecution, withStartEvents } from '../support/factories.js';
import { removeTempDirs, tempDir } from '../support/temp-dir.js';

afterAll(removeTempDirs);

const adapters: [string, () => Promise<ExecutionStore>][] = [
  ['memory', async () => new MemoryExecutionStore()],
  ['lowdb', async () => new LowdbExecutionStore({ dataDir: await tempDir('hitl-store-'), cacheSize: 2 })],
];

describe.each(adapters)('ExecutionStore contract: %s', (_, make) => {
  let store: ExecutionStore;
  beforeEach(async () => {
    store = await make();
    await store.init();
  });
  afterEach(async () => {
    await store.close();
  });

  it('when an execution is created and saved, then get returns the latest state as an immutable snapshot, never a live reference', async () => {
    const { execution, events } = withStartEvents(buildExecution());
    await store.create(execution, events);
    const copy = await store.get(execution.execution_id);
    expect(copy).toEqual(execution);
    // A reader cannot change stored state by accident: writes to the snapshot throw.
    expect(() => {
      copy!.status = 'failed';
    }).toThrow(TypeError);
    expect(() => {
      copy!.steps[0]!.attempts = 99;
    }).toThrow(TypeError);
    expect(() => (copy!.decisions as unknown[]).push({})).toThrow(TypeError);
    // Nor can the writer, by changing the object it passed in after the save.
    execution.steps[0]!.attempts = 42;
    expect((await store.get(execution.execution_id))!.status).toBe('running');
    expect((await store.get(execution.execution_id))!.steps[0]!.attempts).toBe(0);
    execution.steps[0]!.attempts = 0;

    const next = appendEvents(
      { ...execution, status: 'completed', updated_at: '2026-02-01T00:00:00.000Z' },
      [draft('execution_completed', null, { completed_steps: ['only'] })],
      '2026-02-01T00:00:00.000Z',
    );
    await store.save(next.execution, next.events);
    expect((await store.get(execution.execution_id))!.status).toBe('completed');
    expect(await store.events(execution.execution_id, 0, 10)).toEqual([...events, ...next.events]);
  });

  it('when events are asked after a seq, then only later ones come, in order, up to the limit', async () => {
    const { execution, events } = withStartEvents(buildExecution());
    await store.create(execution, events);
    expect((await store.events(execution.execution_id, 1, 10)).map((e) => e.seq)).toEqual([2]);
    expect((await store.events(execution.execution_id, 0, 1)).map((e) => e.seq)).toEqual([1]);
    expect(await store.events(execution.execution_id, 2, 10)).toEqual([]);
    expect(await store.events('unknown', 0, 10)).toEqual([]);
  });

  it('when appended events would leave a gap or repeat a seq, then save refuses and nothing changes', async () => {
    const { execution, events } = withStartEvents(buildExecution());
    await store.create(execution, events);
    const gap = appendEvents(
      { ...execution, last_seq: 3 },
      [draft('execution_failed', null, { error: 'x' })],
      execution.created_at,
    );
    await expect(store.save(gap.execution, gap.events)).rejects.toThrow(/expected 3/);
    await expect(store.save({ ...execution, last_seq: 5 }, [])).rejects.toThrow(/last_seq/);
    expect(await store.get(execution.execution_id)).toEqual(execution);
  });

  it('when an id already exists, then create refuses; when it does not, save refuses', async () => {
    const e = buildExecution();
    await store.create(e, []);
    await expect(store.create(e, [])).rejects.toThrow(/already exists/);
    await expect(store.save(buildExecution(), [])).rejects.toThrow(/does not exist/);
    expect(await store.get('does-not-exist')).toBeNull();
    expect(await store.get('../../etc/passwd')).toBeNull();
  });

  it('when listing, then items are newest first, filtered, paged by an opaque cursor, and counts and recovery ids follow status', async () => {
    const made = [];
    for (let i = 0; i < 6; i++) {
      const e = buildExecution({
        workflow_id: i % 2 ? 'a' : 'b',
        project_id: i < 3 ? 'p1' : 'p2',
        created_by: i === 5 ? 'bob' : 'alice',
        status: i === 0 ? 'running' : i === 1 ? 'paused' : 'pending',
      });
      await store.create(e, []);
      made.push(e.execution_id);
    }
    const newestFirst = [...made].reverse();
    const page1 = await store.list({ limit: 4 });
    expect(page1.items.map((e) => e.execution_id)).toEqual(newestFirst.slice(0, 4));
    expect(page1.nextCursor).toEqual(expect.any(String));
    const page2 = await store.list({ limit: 4, cursor: page1.nextCursor! });
    expect(page2).toEqual({ items: expect.any(Array), nextCursor: null });
    expect(page2.items.map((e) => e.execution_id)).toEqual(newestFirst.slice(4));
    expect(
      (await store.list({ limit: 10, workflowId: 'a', projectId: 'p2' })).items.map((e) => e.execution_id),
    ).toEqual([made[5], made[3]]);
    expect((await store.list({ limit: 10, createdBy: 'bob' })).items.map((e) => e.execution_id)).toEqual([made[5]]);
    expect((await store.list({ limit: 10, status: ['running', 'paused'] })).items.map((e) => e.execution_id)).toEqual([
      made[1],
      made[0],
    ]);
    expect((await store.list({ limit: 1000 })).items).toHaveLength(6);
    await expect(store.list({ limit: 5, cursor: '%%%' })).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });

    expect(store.countByStatus()).toEqual({
      pending: 4,
      running: 1,
      waiting_acceptance: 0,
      waiting_clarification: 0,
      paused: 1,
      completed: 0,
      failed: 0,
      cancelled: 0,
    });
    expect(await store.idsByStatus(['pending'])).toEqual(made.slice(2));
    expect(await store.isWritable()).toBe(true);
  });

  it('when readiness is probed many times at once, then every probe says writable', async () => {
    expect(await Promise.all(Array.from({ length: 8 }, () => store.isWritable()))).toEqual(Array(8).fill(true));
    expect(await store.isWritable()).toBe(true);
  });

  it('when many saves of one execution race, then each is applied in order and none is lost', async () => {
    const { execution, events } = withStartEvents(buildExecution());
    await store.create(execution, events);
    let current = execution;
    const saves = [];
    for (let i = 0; i < 20; i++) {
      const next = appendEvents(
        current,
        [draft('step_failed', 'only', { error: `e${i}`, attempt: 1, will_retry: true, retry_in_ms: 0 })],
        current.created_at,
      );
      current = next.execution;
      saves.push(store.save(next.execution, next.events));
    }
    await Promise.all(saves);
    expect((await store.events(execution.execution_id, 0, 100)).map((e) => e.seq)).toEqual(
      Array.from({ length: 22 }, (_, i) => i + 1),
    );
  });
});
