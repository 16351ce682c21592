import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileIdempotencyStore } from '../../src/store/lowdb.js';
import { MemoryIdempotencyStore } from '../../src/store/memory.js';
import { idempotencyScopeKey, type IdempotencyRecord, type IdempotencyStore } from '../../src/store/port.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { removeTempDirs, tempDir } from '../support/temp-dir.js';

afterAll(removeTempDirs);

const record = (overrides: Partial<IdempotencyRecord> = {}): IdempotencyRecord => ({
  key: 'k-1',
  user: 'alice',
  method: 'POST',
  path: '/api/v1/workflows/quick-summary/start',
  body_hash: 'abc',
  status: 202,
  headers: { location: '/api/v1/executions/x' },
  body: { execution_id: 'x', nested: { a: [1, 2] } },
  created_at: new Date().toISOString(),
  ...overrides,
});

describe.each([
  ['memory', async () => new MemoryIdempotencyStore({ ttlMs: 1000 })],
  ['file', async () => new FileIdempotencyStore({ dataDir: await tempDir(), ttlMs: 1000 })],
] as [string, () => Promise<IdempotencyStore>][])('IdempotencyStore contract: %s', (_, make) => {
  it('when a record is put, then get returns a copy under its scope key only, and expired records are gone', async () => {
    const store = await make();
    await store.init();
    const scope = idempotencyScopeKey('alice', 'k-1');
    expect(await store.get(scope)).toBeNull();
    await store.put(scope, record());
    const got = await store.get(scope);
    expect(got).toEqual(record({ created_at: got!.created_at }));
    (got!.body as { execution_id: string }).execution_id = 'changed';
    expect(((await store.get(scope))!.body as { execution_id: string }).execution_id).toBe('x');
    expect(await store.get(idempotencyScopeKey('bob', 'k-1'))).toBeNull();
    await store.put(
      idempotencyScopeKey('alice', 'old'),
      record({ created_at: new Date(Date.now() - 5000).toISOString() }),
    );
    expect(await store.get(idempotencyScopeKey('alice', 'old'))).toBeNull();
    await store.close();
  });
});

describe('the file idempotency store', () => {
  it('when reopened (a restart), then the records are still there', async () => {
    const dataDir = await tempDir();
    const first = new FileIdempotencyStore({ dataDir });
    await first.init();
    await first.put(idempotencyScopeKey('alice', 'k-1'), record());
    await first.close();

    const second = new FileIdempotencyStore({ dataDir });
    await second.init();
    expect(await second.get(idempotencyScopeKey('alice', 'k-1'))).toEqual(record({ created_at: expect.any(String) }));
    await second.close();
  });

  it('when a record file is corrupt, then it reads as absent and is set aside, not deleted', async () => {
    const dataDir = await tempDir();
    const logger = new RecordingLogger();
    const store = new FileIdempotencyStore({ dataDir, logger });
    await store.init();
    const scope = idempotencyScopeKey('alice', 'k-1');
    await store.put(scope, record());
    const [file] = await readdir(join(dataDir, 'idempotency'));
    await writeFile(join(dataDir, 'idempotency', file!), '{broken');
    expect(await store.get(scope)).toBeNull();
    expect(logger.at('warn')).toHaveLength(1);
    expect((await readdir(join(dataDir, 'idempotency')))[0]).toMatch(/\.corrupt-/);
    await store.close();
  });
});
