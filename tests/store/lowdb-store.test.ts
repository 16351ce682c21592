import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LowdbExecutionStore } from '../../src/store/lowdb.js';
import { appendEvents, draft } from '../../src/events/log.js';
import { buildExecution, withStartEvents } from '../support/factories.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { removeTempDirs, tempDir } from '../support/temp-dir.js';

afterAll(removeTempDirs);

async function openStore(dataDir: string, logger = new RecordingLogger()) {
  const store = new LowdbExecutionStore({ dataDir, logger, cacheSize: 1 });
  await store.init();
  return { store, logger };
}

describe('the lowdb execution store', () => {
  it('when a record is read back from disk, then it is an immutable snapshot too', async () => {
    const dataDir = await tempDir();
    const first = await openStore(dataDir);
    const a = withStartEvents(buildExecution());
    await first.store.create(a.execution, a.events);
    await first.store.close();
    const { store } = await openStore(dataDir);
    const loaded = await store.get(a.execution.execution_id);
    expect(loaded).toEqual(a.execution);
    expect(Object.isFrozen(loaded) && Object.isFrozen(loaded!.steps[0])).toBe(true);
    const [event] = await store.events(a.execution.execution_id, 0, 1);
    expect(Object.isFrozen(event)).toBe(true);
    await store.close();
  });

  it('when reopened, then every execution and event is there, read from one file per execution', async () => {
    const dataDir = await tempDir();
    const { store } = await openStore(dataDir);
    const a = withStartEvents(buildExecution());
    const b = withStartEvents(buildExecution({ project_id: 'other' }));
    await store.create(a.execution, a.events);
    await store.create(b.execution, b.events);
    const done = appendEvents(
      { ...a.execution, status: 'completed' },
      [draft('execution_completed', null, { completed_steps: ['only'] })],
      a.execution.created_at,
    );
    await store.save(done.execution, done.events);
    await store.close();

    expect((await readdir(join(dataDir, 'executions'))).sort()).toEqual(
      [`${a.execution.execution_id}.json`, `${b.execution.execution_id}.json`].sort(),
    );
    // Each file is one plain JSON document (a person can read it with jq).
    const onDisk = JSON.parse(await readFile(join(dataDir, 'executions', `${a.execution.execution_id}.json`), 'utf8'));
    expect(onDisk.execution.status).toBe('completed');
    expect(onDisk.events).toHaveLength(3);

    const { store: reopened } = await openStore(dataDir);
    expect(reopened.loadStats).toMatchObject({ loaded: 2, corrupt: [] });
    expect(await reopened.get(a.execution.execution_id)).toEqual(done.execution);
    expect(await reopened.events(a.execution.execution_id, 0, 10)).toEqual([...a.events, ...done.events]);
    expect(await reopened.get(b.execution.execution_id)).toEqual(b.execution);
    expect(reopened.countByStatus()).toMatchObject({ running: 1, completed: 1 });
    await reopened.close();
  });

  it('when files are unparseable, truncated or misnamed at start-up, then they are set aside (never deleted), logged, and the rest loads', async () => {
    const dataDir = await tempDir();
    const { store } = await openStore(dataDir);
    const good = buildExecution();
    const truncated = buildExecution();
    await store.create(good, []);
    await store.create(truncated, []);
    await store.close();
    const dir = join(dataDir, 'executions');
    await writeFile(join(dir, 'not-json.json'), 'this is not json');
    const original = await readFile(join(dir, `${truncated.execution_id}.json`), 'utf8');
    await truncate(join(dir, `${truncated.execution_id}.json`), original.length - 10);
    await writeFile(join(dir, 'leftover.json.123.4.tmp'), 'half a write');

    const { store: reopened, logger } = await openStore(dataDir);
    expect(reopened.loadStats.loaded).toBe(1);
    expect(reopened.loadStats.corrupt).toHaveLength(2);
    expect(await reopened.get(good.execution_id)).toEqual(good);
    expect(await reopened.get(truncated.execution_id)).toBeNull();
    const warned = logger.at('warn').map((w) => (w.obj as { file: string }).file);
    expect(warned.sort()).toEqual([join(dir, 'not-json.json'), join(dir, `${truncated.execution_id}.json`)].sort());
    const files = await readdir(dir);
    expect(files).toContain('leftover.json.123.4.tmp');
    const setAside = files.filter((f) => f.includes('.corrupt-'));
    expect(setAside).toHaveLength(2);
    const keptNotJson = setAside.find((f) => f.startsWith('not-json.json'))!;
    expect(await readFile(join(dir, keptNotJson), 'utf8')).toBe('this is not json');
    const keptTruncated = setAside.find((f) => f.startsWith(truncated.execution_id))!;
    expect(await readFile(join(dir, keptTruncated), 'utf8')).toBe(original.slice(0, -10));

    // A new execution can be written next to them; nothing overwrites the set-aside files.
    await reopened.create(buildExecution(), []);
    await reopened.close();
  });

  it('when a file goes bad after start-up, then reading it sets it aside instead of failing every time', async () => {
    const dataDir = await tempDir();
    const { store, logger } = await openStore(dataDir);
    const a = buildExecution();
    const b = buildExecution();
    await store.create(a, []);
    await store.create(b, []); // evicts a from the one-record cache
    const file = join(dataDir, 'executions', `${a.execution_id}.json`);
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace('"execution":', '"execution":{{'));
    expect(await store.get(a.execution_id)).toBeNull();
    expect(logger.at('warn')).toHaveLength(1);
    expect(
      (await readdir(join(dataDir, 'executions'))).some((f) => f.startsWith(`${a.execution_id}.json.corrupt-`)),
    ).toBe(true);
    await store.close();
  });

  it('when a write fails, then the previous version stays readable and the error reaches the caller', async () => {
    const dataDir = await tempDir();
    const { store } = await openStore(dataDir);
    const { execution, events } = withStartEvents(buildExecution());
    await store.create(execution, events);
    const next = appendEvents(
      { ...execution, status: 'completed' },
      [draft('execution_completed', null, { completed_steps: [] })],
      execution.created_at,
    );
    // A circular value cannot be serialized: the write fails before touching the file.
    const broken = { ...next.execution, initial_context: {} as Record<string, unknown> };
    broken.initial_context.self = broken.initial_context;
    await expect(store.save(broken, next.events)).rejects.toThrow();
    expect(await store.get(execution.execution_id)).toEqual(execution);
    await store.close();
    const { store: reopened } = await openStore(dataDir);
    expect(await reopened.get(execution.execution_id)).toEqual(execution);
    await reopened.close();
  });
});

describe('the lowdb execution store with an unreadable entry', () => {
  it('when an entry cannot be read at all (a directory named like a record), then it is left untouched, logged, and the rest loads', async () => {
    const dataDir = await tempDir();
    const { store } = await openStore(dataDir);
    const good = buildExecution();
    await store.create(good, []);
    await store.close();
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dataDir, 'executions', 'odd.json'));
    const { store: reopened, logger } = await openStore(dataDir);
    expect(await reopened.get(good.execution_id)).toEqual(good);
    expect(logger.at('warn').map((w) => (w.obj as { file: string }).file)).toEqual([
      join(dataDir, 'executions', 'odd.json'),
    ]);
    expect(await readdir(join(dataDir, 'executions'))).toContain('odd.json');
    await reopened.close();
  });
});
