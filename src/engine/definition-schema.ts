/** The JSON Schema every workflow definition file must satisfy (before defaults are filled). */
export const STEP_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
export const WORKFLOW_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,63}$';

const jsonSchemaObject = { type: 'object' } as const;

const llmStep = {
  type: 'object',
  required: ['id', 'name', 'type', 'prompt', 'output_schema'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: STEP_ID_PATTERN },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string' },
    type: { const: 'llm' },
    prompt: { type: 'string', minLength: 1 },
    system: { type: 'string', minLength: 1 },
    output_schema: jsonSchemaObject,
    requires_acceptance: { type: 'boolean' },
    on_reject: { enum: ['revise', 'fail'] },
    max_revisions: { type: 'integer', minimum: 0, maximum: 100 },
    may_request_clarification: { type: 'boolean' },
    max_attempts: { type: 'integer', minimum: 1, maximum: 20 },
    timeout_ms: { type: 'integer', minimum: 1, maximum: 3_600_000 },
  },
} as const;

const clarificationStep = {
  type: 'object',
  required: ['id', 'name', 'type', 'questions'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: STEP_ID_PATTERN },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string' },
    type: { const: 'clarification' },
    questions: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      items: {
        type: 'object',
        required: ['id', 'text'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', pattern: STEP_ID_PATTERN },
          text: { type: 'string', minLength: 1 },
          required: { type: 'boolean' },
        },
      },
    },
  },
} as const;

export const DEFINITION_SCHEMA = {
  type: 'object',
  required: ['id', 'name', 'description', 'version', 'steps'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: WORKFLOW_ID_PATTERN },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string' },
    version: { type: 'integer', minimum: 1 },
    input_schema: jsonSchemaObject,
    steps: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      items: {
        type: 'object',
        required: ['type'],
        properties: { type: { enum: ['llm', 'clarification'] } },
        discriminator: { propertyName: 'type' },
        oneOf: [llmStep, clarificationStep],
      },
    },
  },
} as const;
