/**
 * Every example in openapi.yaml and asyncapi.yaml validates against its schema, so Prism mocks
 * and generated docs show data a real server could send.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { messageSchemas, parseAsyncApi, type MessageSchema } from '../../scripts/asyncapi';
import { EVENT_TYPES } from '../../src/domain/types';
import { collectExamples, createSpecAjv, loadOpenApi, OPENAPI_ID, resolvePointer } from '../support/openapi';

function invalidExamples(doc: Record<string, unknown>): string[] {
  const ajv = createSpecAjv(doc);
  const failures: string[] = [];
  for (const ex of collectExamples(doc)) {
    const validate = ajv.getSchema(`${OPENAPI_ID}${ex.schemaPointer}`);
    if (!validate) {
      failures.push(`${ex.where}: no schema at ${ex.schemaPointer}`);
      continue;
    }
    if (!validate(ex.value)) failures.push(`${ex.where}: ${ajv.errorsText(validate.errors)}`);
  }
  return failures;
}

describe('openapi.yaml examples', () => {
  const doc = loadOpenApi();

  it('when every named example is checked against its schema, then none fails', () => {
    expect(collectExamples(doc).length).toBeGreaterThan(40);
    expect(invalidExamples(doc)).toEqual([]);
  });

  it('when an example is broken, then the check reports it', () => {
    const broken = structuredClone(doc) as {
      components: { examples: Record<string, { value: Record<string, unknown> }> };
    };
    broken.components.examples.ExecutionPending!.value.status = 'bogus';
    const failures = invalidExamples(broken);
    expect(failures.some((f) => f.includes('example "pending"') && f.includes('status'))).toBe(true);
  });

  it('when any request or response has content, then it has at least one named example', () => {
    type Media = { examples?: Record<string, unknown> };
    type Op = {
      requestBody?: { content: Record<string, Media> };
      responses: Record<string, { $ref?: string; content?: Record<string, Media> }>;
    };
    const paths = doc.paths as Record<string, Record<string, Op>>;
    const without: string[] = [];
    for (const [p, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (typeof op !== 'object' || !('responses' in op)) continue;
        const check = (where: string, content: Record<string, Media> | undefined): void => {
          for (const [type, media] of Object.entries(content ?? {})) {
            if (Object.keys(media.examples ?? {}).length === 0) without.push(`${method} ${p} ${where} ${type}`);
          }
        };
        check('request', op.requestBody?.content);
        for (const [status, response] of Object.entries(op.responses)) {
          const r = response.$ref ? (resolvePointer(doc, response.$ref) as typeof response) : response;
          check(status, r.content);
        }
      }
    }
    expect(without).toEqual([]);
  });
});

describe('asyncapi.yaml examples', () => {
  let messages: Record<string, MessageSchema>;

  beforeAll(async () => {
    const { document, errors } = await parseAsyncApi();
    expect(errors).toEqual([]);
    messages = messageSchemas(document!);
  });

  it('when the document is parsed, then there is one message per event type the service emits', () => {
    expect(Object.keys(messages).sort()).toEqual([...EVENT_TYPES].sort());
  });

  it('when each message example is checked against its payload schema, then all pass and name their own type', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    for (const [name, message] of Object.entries(messages)) {
      expect(message.examples.length).toBeGreaterThan(0);
      const validate = ajv.compile(message.payload);
      for (const example of message.examples) {
        const ok = validate(example);
        if (!ok) throw new Error(`${name}: ${ajv.errorsText(validate.errors)}`);
        expect((example as { event_type: string }).event_type).toBe(name);
      }
      // A payload of another type must not pass: the schemas really discriminate.
      const other = name === 'snapshot' ? messages.step_started! : messages.snapshot!;
      expect(validate(other.examples[0])).toBe(false);
    }
  });
});
