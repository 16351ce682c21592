/**
 * The workflow registry: loads `<dir>/*.yaml`, validates each file against the definition
 * schema, fills defaults, checks ids, schemas and template references, and hashes each
 * definition. Any problem stops loading with a `DefinitionError` naming file and JSON path.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { Ajv } from 'ajv';
import { DomainError } from '../domain/errors.js';
import type {
  ClarificationStepDefinition,
  JsonSchema,
  LlmStepDefinition,
  StepDefinition,
  WorkflowDefinition,
} from '../domain/types.js';
import { DEFINITION_SCHEMA } from './definition-schema.js';
import { canonicalJson, createAjv, describeErrors, sha256Hex } from './schemas.js';
import { checkTemplate } from './templates.js';

export interface DefinitionProblem {
  file: string;
  /** JSON Pointer into the file's document, e.g. `/steps/1/prompt`. */
  path: string;
  message: string;
}

export class DefinitionError extends Error {
  constructor(readonly problems: DefinitionProblem[]) {
    super(problems.map((p) => `${p.file}: ${p.path || '/'}: ${p.message}`).join('\n'));
    this.name = 'DefinitionError';
  }
}

export const STEP_DEFAULTS = {
  requires_acceptance: false,
  on_reject: 'revise',
  max_revisions: 3,
  may_request_clarification: false,
  max_attempts: 3,
} as const;

export interface LoadedWorkflow {
  definition: WorkflowDefinition;
  /** sha256 of the canonical JSON of the definition (defaults filled). */
  hash: string;
  file: string;
}

const definitionValidator = new Ajv({ allErrors: true, discriminator: true, strict: true }).compile(DEFINITION_SCHEMA);

/** Validates a user-supplied JSON Schema by compiling it; returns the error or null. */
function schemaProblem(schema: unknown): string | null {
  try {
    createAjv().compile(schema as object);
    return null;
  } catch (err) {
    return `invalid JSON Schema: ${(err as Error).message}`;
  }
}

function normalizeStep(raw: Record<string, unknown>): StepDefinition {
  if (raw.type === 'clarification') {
    const questions = (raw.questions as { id: string; text: string; required?: boolean }[]).map((q) => ({
      id: q.id,
      text: q.text,
      required: q.required ?? true,
    }));
    const step: ClarificationStepDefinition = {
      id: raw.id as string,
      name: raw.name as string,
      type: 'clarification',
      questions,
    };
    return step;
  }
  const step: LlmStepDefinition = {
    id: raw.id as string,
    name: raw.name as string,
    type: 'llm',
    prompt: raw.prompt as string,
    output_schema: raw.output_schema as JsonSchema,
    requires_acceptance: (raw.requires_acceptance as boolean | undefined) ?? STEP_DEFAULTS.requires_acceptance,
    on_reject: (raw.on_reject as 'revise' | 'fail' | undefined) ?? STEP_DEFAULTS.on_reject,
    max_revisions: (raw.max_revisions as number | undefined) ?? STEP_DEFAULTS.max_revisions,
    may_request_clarification:
      (raw.may_request_clarification as boolean | undefined) ?? STEP_DEFAULTS.may_request_clarification,
    max_attempts: (raw.max_attempts as number | undefined) ?? STEP_DEFAULTS.max_attempts,
  };
  if (typeof raw.system === 'string') step.system = raw.system;
  if (typeof raw.timeout_ms === 'number') step.timeout_ms = raw.timeout_ms;
  return step;
}

/** Parses and checks one definition document. Returns the definition or the problems found. */
export function parseDefinition(file: string, text: string): LoadedWorkflow {
  const problems: DefinitionProblem[] = [];
  const fail = (path: string, message: string): void => {
    problems.push({ file, path, message });
  };
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const at = e.linePos?.[0];
      fail(
        '/',
        `YAML syntax error${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`,
      );
    }
    throw new DefinitionError(problems);
  }
  const raw: unknown = doc.toJS();
  if (!definitionValidator(raw as object)) {
    for (const p of describeErrors(definitionValidator.errors)) fail(p.path, p.message);
    throw new DefinitionError(problems);
  }
  const input = raw as unknown as Record<string, unknown> & { steps: Record<string, unknown>[] };
  const steps = input.steps.map(normalizeStep);
  const definition: WorkflowDefinition = {
    id: input.id as string,
    name: input.name as string,
    description: input.description as string,
    version: input.version as number,
    input_schema: (input.input_schema as JsonSchema | undefined) ?? null,
    steps,
  };

  if (definition.input_schema) {
    const problem = schemaProblem(definition.input_schema);
    if (problem) fail('/input_schema', problem);
  }
  const seen = new Map<string, number>();
  steps.forEach((step, i) => {
    const previous = seen.get(step.id);
    if (previous !== undefined) fail(`/steps/${i}/id`, `duplicate step id "${step.id}" (also /steps/${previous}/id)`);
    else seen.set(step.id, i);
    if (step.type === 'clarification') {
      const qids = new Set<string>();
      step.questions.forEach((q, j) => {
        if (qids.has(q.id)) fail(`/steps/${i}/questions/${j}/id`, `duplicate question id "${q.id}"`);
        qids.add(q.id);
      });
      return;
    }
    const problem = schemaProblem(step.output_schema);
    if (problem) fail(`/steps/${i}/output_schema`, problem);
    const scope = {
      earlierSteps: steps.slice(0, i),
      allStepIds: steps.map((s) => s.id),
      inputSchema: definition.input_schema,
    };
    for (const field of ['prompt', 'system'] as const) {
      const source = step[field];
      if (source === undefined) continue;
      for (const message of checkTemplate(source, scope)) fail(`/steps/${i}/${field}`, message);
    }
  });
  if (problems.length > 0) throw new DefinitionError(problems);
  return { definition, hash: hashDefinition(definition), file };
}

export function hashDefinition(definition: WorkflowDefinition): string {
  return sha256Hex(canonicalJson(definition));
}

export class WorkflowRegistry {
  private readonly byId: Map<string, LoadedWorkflow>;

  constructor(workflows: readonly LoadedWorkflow[]) {
    this.byId = new Map();
    const problems: DefinitionProblem[] = [];
    for (const w of workflows) {
      const other = this.byId.get(w.definition.id);
      if (other)
        problems.push({
          file: w.file,
          path: '/id',
          message: `duplicate workflow id "${w.definition.id}" (also in ${other.file})`,
        });
      else this.byId.set(w.definition.id, w);
    }
    if (problems.length > 0) throw new DefinitionError(problems);
  }

  /** Loads every `*.yaml`/`*.yml` file of `dir`, reporting the problems of all files at once. */
  static async load(dir: string): Promise<WorkflowRegistry> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
    } catch (err) {
      throw new DefinitionError([
        { file: dir, path: '/', message: `cannot read directory: ${(err as Error).message}` },
      ]);
    }
    const loaded: LoadedWorkflow[] = [];
    const problems: DefinitionProblem[] = [];
    for (const name of names) {
      const file = join(dir, name);
      try {
        loaded.push(parseDefinition(file, await readFile(file, 'utf8')));
      } catch (err) {
        if (err instanceof DefinitionError) problems.push(...err.problems);
        else throw err;
      }
    }
    if (problems.length > 0) throw new DefinitionError(problems);
    return new WorkflowRegistry(loaded);
  }

  /** For tests: definitions from in-memory YAML texts keyed by a file name. */
  static fromSources(sources: Record<string, string>): WorkflowRegistry {
    return new WorkflowRegistry(Object.entries(sources).map(([file, text]) => parseDefinition(file, text)));
  }

  /** Every definition, ordered by id. */
  list(): WorkflowDefinition[] {
    return [...this.byId.values()].map((w) => w.definition).sort((a, b) => a.id.localeCompare(b.id));
  }

  find(id: string): LoadedWorkflow | undefined {
    return this.byId.get(id);
  }

  /** @throws DomainError WORKFLOW_NOT_FOUND */
  get(id: string): LoadedWorkflow {
    const w = this.byId.get(id);
    if (!w) throw new DomainError('WORKFLOW_NOT_FOUND', `Workflow ${id} not found`, { workflow_id: id });
    return w;
  }

  get size(): number {
    return this.byId.size;
  }
}
