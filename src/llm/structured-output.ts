/**
 * How a step's output schema becomes a structured-output constraint, shared by the providers.
 *
 * Clarification: when a step may ask questions, the model must be allowed to answer either the
 * step's output or `{"questions": [...]}`. OpenAI's strict mode refuses `anyOf` at the root, so
 * the schema sent is an envelope `{"output": <output schema> | null, "questions": [...] | null}`
 * (every property required, `additionalProperties: false`), which stays strict-capable whenever
 * the output schema is. `unwrapEnvelope` turns the model's envelope back into what the engine
 * expects: the output JSON itself, or `{"questions": [...]}`.
 */
import type { JsonSchema } from '../domain/types.js';

/** One clarification question as the engine reads it. */
export const QUESTION_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'Short snake_case identifier of the question' },
    text: { type: 'string', description: 'The question for the person' },
    required: { type: 'boolean', description: 'Whether an answer is needed to continue' },
  },
  required: ['id', 'text', 'required'],
  additionalProperties: false,
};

export const QUESTIONS_SCHEMA: JsonSchema = {
  type: 'object',
  properties: { questions: { type: 'array', items: QUESTION_SCHEMA } },
  required: ['questions'],
  additionalProperties: false,
};

/** Schema names in `response_format` (and tool names) must match `^[a-zA-Z0-9_-]{1,64}$`. */
export function sanitizeSchemaName(name: string): string {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);
  return cleaned.length > 0 ? cleaned : 'output';
}

// Keywords OpenAI's strict mode is known to accept; anything else makes the schema non-strict.
const STRICT_KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'const',
  'anyOf',
  '$ref',
  '$defs',
  'definitions',
  'description',
  'title',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
]);

/**
 * True when OpenAI's strict structured outputs would take the schema as it is: the root is an
 * object (not `anyOf`), every object lists all its properties in `required` and sets
 * `additionalProperties: false`, and only supported keywords appear. Sending `strict: true` for
 * any other schema is a 400, so those go out with `strict: false` (the engine validates anyway).
 */
export function isStrictCompatible(schema: JsonSchema): boolean {
  if (!typeIncludes(schema, 'object') || 'anyOf' in schema) return false;
  return strictNode(schema);
}

const STRICT_FORMATS = new Set(['date-time', 'time', 'date', 'duration', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid']);

function strictNode(node: unknown): boolean {
  if (!isRecord(node)) return false;
  for (const key of Object.keys(node)) if (!STRICT_KEYWORDS.has(key)) return false;
  if (node.format !== undefined && !STRICT_FORMATS.has(String(node.format))) return false;
  const properties = node.properties;
  if (typeIncludes(node, 'object') || properties !== undefined) {
    if (node.additionalProperties !== false) return false;
    const props = properties === undefined ? {} : properties;
    if (!isRecord(props)) return false;
    const required = Array.isArray(node.required) ? node.required : [];
    if (!Object.keys(props).every((key) => required.includes(key))) return false;
    if (!Object.values(props).every(strictNode)) return false;
  }
  if (node.items !== undefined && !strictNode(node.items)) return false;
  if (node.anyOf !== undefined && !(Array.isArray(node.anyOf) && node.anyOf.every(strictNode))) return false;
  for (const defsKey of ['$defs', 'definitions'] as const) {
    const defs = node[defsKey];
    if (defs !== undefined && !(isRecord(defs) && Object.values(defs).every(strictNode))) return false;
  }
  return true;
}

/** The schema with the root-only annotation keywords that some servers reject removed. */
export function withoutMetaKeywords(schema: JsonSchema): JsonSchema {
  const { $schema: _schema, $id: _id, $comment: _comment, ...rest } = schema;
  return rest;
}

/**
 * Moves `schema` to `pointer` inside a new root: its `$defs`/`definitions` are returned to be
 * hoisted to that root (so `#/$defs/...` references keep working), and every other local `$ref`
 * (`#`, `#/properties/...`) is rewritten to point below `pointer`.
 */
export function relocate(schema: JsonSchema, pointer: string): { schema: JsonSchema; hoisted: JsonSchema } {
  const { $defs, definitions, ...body } = withoutMetaKeywords(schema);
  const hoisted: JsonSchema = {};
  if ($defs !== undefined) hoisted.$defs = rewriteRefs($defs, pointer);
  if (definitions !== undefined) hoisted.definitions = rewriteRefs(definitions, pointer);
  return { schema: rewriteRefs(body, pointer) as JsonSchema, hoisted };
}

function rewriteRefs(node: unknown, pointer: string): unknown {
  if (Array.isArray(node)) return node.map((item) => rewriteRefs(item, pointer));
  if (!isRecord(node)) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string' && value.startsWith('#') && !isHoistedRef(value)) {
      out[key] = `#${pointer}${value.slice(1)}`;
    } else {
      out[key] = rewriteRefs(value, pointer);
    }
  }
  return out;
}

function isHoistedRef(ref: string): boolean {
  return ref.startsWith('#/$defs/') || ref.startsWith('#/definitions/');
}

/** The envelope letting the model answer either the output or clarification questions. */
export function clarificationEnvelope(outputSchema: JsonSchema): { schema: JsonSchema; strict: boolean } {
  const { schema: inner, hoisted } = relocate(outputSchema, '/properties/output/anyOf/0');
  const schema: JsonSchema = {
    type: 'object',
    properties: {
      output: { anyOf: [inner, { type: 'null' }] },
      questions: { anyOf: [{ type: 'array', items: QUESTION_SCHEMA }, { type: 'null' }] },
    },
    required: ['output', 'questions'],
    additionalProperties: false,
    ...hoisted,
  };
  return { schema, strict: isStrictCompatible(schema) };
}

export const ENVELOPE_INSTRUCTIONS =
  'Reply with a JSON object with two fields, "output" and "questions". Normally put your answer in ' +
  '"output" and set "questions" to null. Only if you cannot produce the answer without more ' +
  'information from a person, set "output" to null and list your questions in "questions", each as ' +
  '{"id": "short_snake_case_id", "text": "the question", "required": true or false}.';

/**
 * The engine's view of an envelope answer: the output JSON, or `{"questions": [...]}`. Text that is
 * not an envelope (invalid JSON, a server that ignored the schema) is returned unchanged, so the
 * engine's validation reports the real problem.
 */
export function unwrapEnvelope(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (!isRecord(parsed)) return text;
  const keys = Object.keys(parsed);
  if (keys.length === 0 || !keys.every((key) => key === 'output' || key === 'questions')) return text;
  if (parsed.output !== undefined && parsed.output !== null) return JSON.stringify(parsed.output);
  if (Array.isArray(parsed.questions) && parsed.questions.length > 0) {
    return JSON.stringify({ questions: parsed.questions });
  }
  return JSON.stringify(parsed.output ?? null);
}

/** For servers that only take `json_object`: the schema (and the questions alternative) in words. */
export function jsonObjectInstructions(outputSchema: JsonSchema, mayRequestClarification: boolean): string {
  const lines = [
    'Reply with only a JSON object, no prose and no code fences, that conforms to this JSON Schema:',
    JSON.stringify(withoutMetaKeywords(outputSchema)),
  ];
  if (mayRequestClarification) {
    lines.push(
      'Only if you cannot produce it without more information from a person, reply instead with ' +
        '{"questions": [{"id": "short_snake_case_id", "text": "the question", "required": true}]}.',
    );
  }
  return lines.join('\n');
}

export function typeIncludes(schema: JsonSchema, type: string): boolean {
  const declared = schema.type;
  return declared === type || (Array.isArray(declared) && declared.includes(type));
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
