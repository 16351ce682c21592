/**
 * The schema plumbing the providers share: names, the strict-mode decision, the clarification
 * envelope (and its `$ref` relocation) and reading the envelope back.
 */
import { parseRetryAfter } from '../../src/llm/failures.js';
import {
  clarificationEnvelope,
  isStrictCompatible,
  sanitizeSchemaName,
  unwrapEnvelope,
} from '../../src/llm/structured-output.js';
import { SUMMARY_SCHEMA } from './llm-request.js';

describe('schema names', () => {
  it.each([
    ['summarize', 'summarize'],
    ['draft brief', 'draft_brief'],
    ['étape.1', '_tape_1'],
    ['', 'output'],
    ['x'.repeat(80), 'x'.repeat(64)],
  ])('%j becomes %j', (name, expected) => {
    expect(sanitizeSchemaName(name)).toBe(expected);
  });
});

describe('strict mode', () => {
  it('is used for a closed object whose properties are all required, nested ones too', () => {
    expect(isStrictCompatible(SUMMARY_SCHEMA)).toBe(true);
    expect(
      isStrictCompatible({
        type: 'object',
        properties: {
          tasks: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                title: { type: 'string' },
                hours: { type: ['number', 'null'] },
                due: { type: 'string', format: 'date' },
              },
              required: ['title', 'hours', 'due'],
              additionalProperties: false,
            },
          },
        },
        required: ['tasks'],
        additionalProperties: false,
      }),
    ).toBe(true);
  });

  it.each([
    ['an optional property', { ...SUMMARY_SCHEMA, required: ['summary'] }],
    ['open additional properties', { ...SUMMARY_SCHEMA, additionalProperties: true }],
    ['no additionalProperties', { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }],
    ['an unsupported keyword', { ...SUMMARY_SCHEMA, properties: { summary: { type: 'string', minLength: 1 } } }],
    ['a default', { ...SUMMARY_SCHEMA, properties: { summary: { type: 'string', default: '' } } }],
    ['a format strict mode lacks', { ...SUMMARY_SCHEMA, properties: { summary: { type: 'string', format: 'uri' } } }],
    ['a non-object root', { type: 'array', items: { type: 'string' } }],
    ['anyOf at the root', { type: 'object', anyOf: [SUMMARY_SCHEMA] }],
    [
      'a loose nested object',
      { type: 'object', properties: { meta: { type: 'object' } }, required: ['meta'], additionalProperties: false },
    ],
  ])('is not used with %s', (_label, schema) => {
    expect(isStrictCompatible(schema)).toBe(false);
  });
});

describe('the clarification envelope', () => {
  it('hoists $defs and rewrites other local references below output', () => {
    const tree = {
      type: 'object',
      properties: {
        name: { type: 'string' },
        children: { type: 'array', items: { $ref: '#' } },
        owner: { $ref: '#/$defs/person' },
      },
      required: ['name', 'children', 'owner'],
      additionalProperties: false,
      $defs: {
        person: {
          type: 'object',
          properties: { name: { $ref: '#/properties/name' } },
          required: ['name'],
          additionalProperties: false,
        },
      },
    };

    const { schema, strict } = clarificationEnvelope(tree);

    expect(strict).toBe(true);
    expect(schema.$defs).toEqual({
      person: {
        type: 'object',
        properties: { name: { $ref: '#/properties/output/anyOf/0/properties/name' } },
        required: ['name'],
        additionalProperties: false,
      },
    });
    const output = (schema.properties as Record<string, { anyOf: Array<Record<string, unknown>> }>).output!;
    expect(output.anyOf[0]!.properties).toEqual({
      name: { type: 'string' },
      children: { type: 'array', items: { $ref: '#/properties/output/anyOf/0' } },
      owner: { $ref: '#/$defs/person' },
    });
    expect(output.anyOf[1]).toEqual({ type: 'null' });
  });

  it('is not strict when the output schema is not', () => {
    expect(clarificationEnvelope({ type: 'object', properties: { a: { type: 'string' } } }).strict).toBe(false);
  });

  it.each([
    ['the output', '{"output":{"a":1},"questions":null}', '{"a":1}'],
    [
      'the output when both are given',
      '{"output":{"a":1},"questions":[{"id":"q","text":"?","required":true}]}',
      '{"a":1}',
    ],
    [
      'the questions',
      '{"output":null,"questions":[{"id":"q","text":"?","required":false}]}',
      '{"questions":[{"id":"q","text":"?","required":false}]}',
    ],
    ['null when neither is given', '{"output":null,"questions":[]}', 'null'],
    ['text that is not JSON unchanged', '{"output": {"a"', '{"output": {"a"'],
    ['JSON that is not an envelope unchanged', '{"summary":"s"}', '{"summary":"s"}'],
  ])('reads back %s', (_label, text, expected) => {
    expect(unwrapEnvelope(text)).toBe(expected);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');

  it.each([
    [{ 'retry-after': '5' }, 5000],
    [{ 'retry-after': '0.5' }, 500],
    [{ 'retry-after': 'Tue, 01 Jan 2030 00:00:20 GMT' }, 20_000],
    [{ 'retry-after': 'Mon, 31 Dec 2029 23:00:00 GMT' }, 0],
    [{ 'retry-after-ms': '1500', 'retry-after': '9' }, 1500],
    [{ 'retry-after': 'soon' }, undefined],
    [{}, undefined],
  ])('%j means %p ms', (headers, expected) => {
    expect(parseRetryAfter(new Headers(headers), now)).toBe(expected);
  });
});
