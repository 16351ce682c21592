/**
 * Property: whatever bodies, path parameters, query strings and headers are thrown at any
 * operation, the service never answers 5xx, and every error is an ErrorResponse.
 */
import fc from 'fast-check';
import { loadSpecs, operationsOf } from '../../src/http/spec';
import { componentValidator, createSpecAjv } from '../support/openapi';
import { startTestService, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';

let svc: TestService;
let knownId: string;
beforeAll(async () => {
  svc = await startTestService({ env: { BODY_LIMIT: '4kb' } });
  knownId = (
    await svc
      .http()
      .post('/api/v1/workflows/project-brief/start')
      .send({ project_id: 'f', initial_context: { idea: 'fuzz' } })
      .expect(202)
  ).body.execution_id as string;
  await svc.waitForStatus(knownId, 'waiting_clarification');
});
afterAll(async () => {
  await svc.stop();
  await removeTempDirs();
});

const ajv = createSpecAjv();
const isErrorResponse = componentValidator(ajv, 'ErrorResponse');
const ops = operationsOf(loadSpecs().openapi);

/** Path segments: encoded arbitrary strings, or raw bytes that are already (mal)encoded. */
const pathValue = fc.oneof(
  fc
    .constantFrom('quick-summary', 'project-brief', 'nope', '9b2e1d40-0c8a-4f51-b3a2-5d6e7f809a1b', '..', 'A', '')
    .map(encodeURIComponent),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.uuid(),
  fc.constantFrom('%', '%E0%A4%A', '%00', '..%2F..%2Fetc', '%ZZ', 'a%2Fb', '9B2E1D40-0C8A-4F51-B3A2-5D6E7F809A1B'),
);
const jsonBody = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.record({ project_id: fc.anything(), initial_context: fc.anything() }, { requiredKeys: [] }),
  fc.record({ accepted: fc.anything(), comment: fc.anything() }, { requiredKeys: [] }),
  fc.record(
    { answers: fc.dictionary(fc.string({ maxLength: 70 }), fc.anything({ maxDepth: 1 })) },
    { requiredKeys: [] },
  ),
);
const rawBody = fc.oneof(
  jsonBody.map((v) => JSON.stringify(v) ?? 'null'),
  fc.string({ maxLength: 200 }),
  fc.constant('x'.repeat(5000)),
);
const query = fc.dictionary(
  fc.constantFrom('status', 'limit', 'cursor', 'workflow_id', 'project_id', 'after_seq', 'x', 'status[]'),
  fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.integer().map(String),
    fc.constantFrom('running', '-1', '1e9', '101', 'NaN'),
  ),
);
const headers = fc.record(
  {
    'Content-Type': fc.constantFrom(
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=latin1',
      'multipart/form-data',
      '',
    ),
    'Idempotency-Key': fc.string({ maxLength: 300 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    'X-Request-ID': fc.string({ maxLength: 200 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    Accept: fc.constantFrom('application/json', 'text/html', '*/*', 'application/xml'),
  },
  { requiredKeys: [] },
);

describe('fuzzing every operation', () => {
  it('when arbitrary bad input is sent, then never a 5xx and every error is an ErrorResponse', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ops),
        pathValue,
        fc.boolean(),
        query,
        headers,
        rawBody,
        async (op, value, useKnown, q, h, body) => {
          const p = op.path.replace('{workflow_id}', value).replace('{execution_id}', useKnown ? knownId : value);
          const qs = new URLSearchParams(q).toString();
          let req = svc.http()[op.method](`${p}${qs ? `?${qs}` : ''}`);
          for (const [k, v] of Object.entries(h)) if (v !== '') req = req.set(k, v);
          const res = op.method === 'post' ? await req.send(body) : await req;
          if (res.status >= 500) throw new Error(`${op.method.toUpperCase()} ${p}?${qs} -> ${res.status} ${res.text}`);
          if (res.status >= 400 && !isErrorResponse(res.body))
            throw new Error(`not an ErrorResponse: ${res.status} ${res.text}`);
        },
      ),
      { numRuns: 400 },
    );
  }, 60_000);
});
