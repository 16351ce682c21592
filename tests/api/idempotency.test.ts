/** PRODUCT §4: Idempotency-Key on every POST, kept across a restart. */
import { startTestService, type TestService } from '../support/service-harness';
import { removeTempDirs, tempDir } from '../support/temp-dir';

afterAll(removeTempDirs);

describe('Idempotency-Key', () => {
  let svc: TestService;
  afterEach(async () => {
    await svc?.stop();
  });

  const start = (key: string, body: object) =>
    svc.http().post('/api/v1/workflows/quick-summary/start').set('Idempotency-Key', key).send(body);

  it('when the same request is retried with the same key, then the first response comes back and only one execution exists', async () => {
    svc = await startTestService();
    const body = { project_id: 'p', initial_context: { text: 'hello' } };
    const first = await start('key-1', body).expect(202);
    const again = await start('key-1', { initial_context: { text: 'hello' }, project_id: 'p' }).expect(202);
    expect(again.body).toEqual(first.body);
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const list = await svc.http().get('/api/v1/executions').expect(200);
    expect(list.body.items).toHaveLength(1);
  });

  it('when the same key comes with another body, then 409 IDEMPOTENCY_KEY_REUSED', async () => {
    svc = await startTestService();
    await start('key-2', { project_id: 'p', initial_context: { text: 'one' } }).expect(202);
    const res = await start('key-2', { project_id: 'p', initial_context: { text: 'two' } }).expect(409);
    expect(res.body.error_code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('when concurrent retries carry the same key, then the work is done once', async () => {
    svc = await startTestService();
    const body = { project_id: 'p', initial_context: { text: 'race' } };
    const results = await Promise.all(Array.from({ length: 5 }, () => start('key-3', body)));
    expect(new Set(results.map((r) => r.body.execution_id as string)).size).toBe(1);
    expect(results.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
  });

  it('when the key is reused on a decision endpoint, then the decision is not taken twice', async () => {
    svc = await startTestService();
    svc.fake.script('summarize', [{ kind: 'hang' }]);
    const id = (await start('key-4', { project_id: 'p', initial_context: { text: 'x' } }).expect(202)).body
      .execution_id as string;
    await svc.waitForStatus(id, 'running');
    const a = await svc.http().post(`/api/v1/executions/${id}/cancel`).set('Idempotency-Key', 'cancel-1').expect(200);
    const b = await svc.http().post(`/api/v1/executions/${id}/cancel`).set('Idempotency-Key', 'cancel-1').expect(200);
    expect(b.body).toEqual(a.body);
    // Without the key the second cancel is a real (refused) transition.
    await svc.http().post(`/api/v1/executions/${id}/cancel`).expect(400);
  });

  it('when the server restarts, then a retried request still gets the first response', async () => {
    const dataDir = await tempDir('hitl-idem-');
    svc = await startTestService({ dataDir });
    const body = { project_id: 'p', initial_context: { text: 'durable' } };
    const first = await start('key-5', body).expect(202);
    await svc.stop();
    svc = await startTestService({ dataDir });
    const again = await start('key-5', body).expect(202);
    expect(again.body.execution_id).toBe(first.body.execution_id);
    await start('key-5', { ...body, project_id: 'other' }).expect(409);
  });

  it('when a malformed key is sent, then 400', async () => {
    svc = await startTestService();
    await start('has space', { project_id: 'p', initial_context: { text: 'x' } }).expect(400);
  });
});
