/** GET /executions: cursor pages, newest first, that neither skip nor repeat while executions are created. */
import { startTestService, type ExecutionBody, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
  svc.fake.script(
    'summarize',
    Array.from({ length: 200 }, () => ({ kind: 'hang' as const })),
  );
});
afterAll(async () => {
  await svc.stop();
  await removeTempDirs();
});

const start = (i: number) =>
  svc
    .http()
    .post('/api/v1/workflows/quick-summary/start')
    .send({ project_id: `page-${i}`, initial_context: { text: `t${i}` } })
    .expect(202);

async function page(
  cursor: string | null,
  limit: number,
): Promise<{ items: ExecutionBody[]; next_cursor: string | null }> {
  const q = new URLSearchParams({ limit: String(limit), ...(cursor ? { cursor } : {}) });
  return (await svc.http().get(`/api/v1/executions?${q}`).expect(200)).body as {
    items: ExecutionBody[];
    next_cursor: string | null;
  };
}

describe('pagination', () => {
  it('when pages are walked while new executions keep being created, then every earlier execution is seen exactly once, in order', async () => {
    const created: string[] = [];
    for (let i = 0; i < 25; i++) created.push((await start(i)).body.execution_id as string);

    const seen: string[] = [];
    let cursor: string | null = null;
    let n = 100;
    do {
      const p = await page(cursor, 7);
      seen.push(...p.items.map((e) => e.execution_id));
      cursor = p.next_cursor;
      // New executions arrive between pages: they are newer than the cursor and must not shift it.
      await start(n++);
      await start(n++);
    } while (cursor);

    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...created].reverse());
  });

  it('when limit is out of bounds or the cursor is not ours, then 400', async () => {
    await svc.http().get('/api/v1/executions?limit=101').expect(400);
    await svc.http().get('/api/v1/executions?limit=0').expect(400);
    const bad = await svc.http().get('/api/v1/executions?cursor=bm90LWEtY3Vyc29y').expect(400);
    expect(bad.body.error_code).toBe('VALIDATION_ERROR');
  });

  it('when no limit is given, then 20 come back', async () => {
    const p = await page(null, 20);
    const d = (await svc.http().get('/api/v1/executions').expect(200)).body as { items: unknown[] };
    expect(d.items).toHaveLength(20);
    expect(p.items).toHaveLength(20);
  });
});
