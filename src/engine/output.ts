/** Turning a model's text into a step output: JSON (fences tolerated), questions, or problems. */
import type { Question } from '../domain/types.js';
import type { SchemaCache, SchemaProblem } from './schemas.js';

export type ParsedOutput =
  | { kind: 'output'; value: unknown }
  | { kind: 'questions'; questions: Question[] }
  | { kind: 'invalid'; problems: string[] };

const FENCE = /^\s*```(?:json|JSON)?\s*\n?([\s\S]*?)\n?\s*```\s*$/;

export function parseJsonText(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  const fenced = FENCE.exec(text);
  const body = (fenced ? fenced[1]! : text).trim();
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch (err) {
    return { ok: false, error: `the reply is not valid JSON (${(err as Error).message})` };
  }
}

function asQuestions(value: unknown): Question[] | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== 'questions') return null;
  const list = (value as { questions: unknown }).questions;
  if (!Array.isArray(list) || list.length === 0 || list.length > 20) return null;
  const questions: Question[] = [];
  const ids = new Set<string>();
  for (const q of list) {
    if (typeof q !== 'object' || q === null) return null;
    const { id, text, required } = q as Record<string, unknown>;
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(id) || ids.has(id)) return null;
    if (typeof text !== 'string' || text.trim() === '') return null;
    if (required !== undefined && typeof required !== 'boolean') return null;
    ids.add(id);
    questions.push({ id, text, required: required ?? true });
  }
  return questions;
}

export function formatProblems(problems: readonly SchemaProblem[]): string[] {
  return problems.map((p) => `${p.path || '/'} ${p.message}`);
}

export function interpretReply(
  text: string,
  outputSchema: object,
  schemas: SchemaCache,
  mayRequestClarification: boolean,
): ParsedOutput {
  const parsed = parseJsonText(text);
  if (!parsed.ok) return { kind: 'invalid', problems: [parsed.error] };
  const problems = schemas.validate(outputSchema, parsed.value);
  if (problems.length === 0) return { kind: 'output', value: parsed.value };
  if (mayRequestClarification) {
    const questions = asQuestions(parsed.value);
    if (questions) return { kind: 'questions', questions };
  }
  return { kind: 'invalid', problems: formatProblems(problems) };
}
