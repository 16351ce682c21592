/**
 * One Ajv instance for user-supplied schemas (input_schema, output_schema), with formats and
 * every error reported. Compiled validators are cached by the schema's canonical JSON, so
 * executions that carry an older copy of a definition validate without recompiling.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { createHash } from 'node:crypto';

export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
  addFormats(ajv);
  return ajv;
}

/** JSON with object keys sorted, so equal values always serialize the same way. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface SchemaProblem {
  /** JSON Pointer into the validated value ('' for the root). */
  path: string;
  message: string;
}

export function describeErrors(errors: readonly ErrorObject[] | null | undefined): SchemaProblem[] {
  return (errors ?? []).map((e) => {
    const missing = e.keyword === 'required' ? (e.params as { missingProperty?: string }).missingProperty : undefined;
    const extra =
      e.keyword === 'additionalProperties'
        ? (e.params as { additionalProperty?: string }).additionalProperty
        : undefined;
    if (missing !== undefined) return { path: `${e.instancePath}/${missing}`, message: 'is required' };
    if (extra !== undefined) return { path: `${e.instancePath}/${extra}`, message: 'is not allowed' };
    return { path: e.instancePath, message: e.message ?? 'is invalid' };
  });
}

export class SchemaCache {
  private readonly ajv = createAjv();
  private readonly validators = new Map<string, ValidateFunction>();

  /** @throws Error when the schema does not compile */
  validator(schema: object): ValidateFunction {
    const key = canonicalJson(schema);
    let fn = this.validators.get(key);
    if (!fn) {
      fn = this.ajv.compile(schema);
      this.validators.set(key, fn);
    }
    return fn;
  }

  validate(schema: object, value: unknown): SchemaProblem[] {
    const fn = this.validator(schema);
    return fn(value) ? [] : describeErrors(fn.errors);
  }
}
