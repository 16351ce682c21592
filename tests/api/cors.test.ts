/** CORS_ORIGINS: browsers on the listed origins may call the API; others get no CORS headers. */
import { startTestService, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { CORS_ORIGINS: 'https://app.example.com' } });
});
afterAll(async () => {
  await svc.stop();
  await removeTempDirs();
});

describe('CORS', () => {
  it('when an allowed origin calls, then the response allows it and exposes the useful headers', async () => {
    const res = await svc.http().get('/api/v1/workflows').set('Origin', 'https://app.example.com').expect(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(res.headers['access-control-expose-headers']).toMatch(/X-Request-ID/);
    expect(res.headers.vary).toMatch(/Origin/);
  });

  it('when an allowed origin sends a preflight, then 204 with the methods and headers the API takes', async () => {
    const res = await svc
      .http()
      .options('/api/v1/workflows/quick-summary/start')
      .set('Origin', 'https://app.example.com')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type, idempotency-key')
      .expect(204);
    expect(res.headers['access-control-allow-methods']).toMatch(/POST/);
    expect(res.headers['access-control-allow-headers']).toMatch(/Idempotency-Key/);
  });

  it('when another origin calls, then no CORS header is sent and its preflight is refused', async () => {
    const res = await svc.http().get('/api/v1/workflows').set('Origin', 'https://evil.example').expect(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const pre = await svc
      .http()
      .options('/api/v1/workflows/quick-summary/start')
      .set('Origin', 'https://evil.example')
      .set('Access-Control-Request-Method', 'POST');
    expect(pre.status).toBeGreaterThanOrEqual(400);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
  });
});
