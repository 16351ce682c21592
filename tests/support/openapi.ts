/**
 * openapi.yaml as data for tests: an ajv instance that knows every component schema, and a walk
 * over every example in the document.
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

export const ROOT = path.resolve(__dirname, '..', '..');
export const OPENAPI_ID = 'openapi.yaml';

type Json = Record<string, unknown>;

export function loadOpenApi(file = path.join(ROOT, 'openapi.yaml')): Json {
  return YAML.parse(fs.readFileSync(file, 'utf8')) as Json;
}

/** ajv (draft 2020-12, the OpenAPI 3.1 dialect) with the document registered as `openapi.yaml`. */
export function createSpecAjv(doc: Json = loadOpenApi()): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: OPENAPI_ID });
  return ajv;
}

export function componentValidator(ajv: Ajv2020, name: string): ValidateFunction {
  const validate = ajv.getSchema(`${OPENAPI_ID}#/components/schemas/${name}`);
  if (!validate) throw new Error(`No schema components/schemas/${name}`);
  return validate;
}

/** Resolves a local `#/...` JSON pointer. */
export function resolvePointer(doc: Json, ref: string): unknown {
  return ref
    .replace(/^#\//, '')
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node as Json)[key], doc);
}

function deref<T>(doc: Json, node: unknown): T {
  let cur: unknown = node;
  while (cur && typeof cur === 'object' && '$ref' in (cur as Json)) {
    cur = resolvePointer(doc, (cur as Json).$ref as string);
  }
  return cur as T;
}

export interface FoundExample {
  where: string;
  /** JSON pointer to the schema, usable as `openapi.yaml#<pointer>`. */
  schemaPointer: string;
  value: unknown;
}

/**
 * Every media-type example (request bodies and responses, inline or by $ref) and every parameter
 * example, with the schema it must satisfy.
 */
export function collectExamples(doc: Json): FoundExample[] {
  const found: FoundExample[] = [];
  const visitContent = (content: Json | undefined, pointer: string, where: string): void => {
    for (const [mediaType, media] of Object.entries(content ?? {})) {
      const m = media as Json;
      const mp = `${pointer}/content/${mediaType.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      for (const [name, ex] of Object.entries((m.examples as Json | undefined) ?? {})) {
        found.push({
          where: `${where} ${mediaType} example "${name}"`,
          schemaPointer: `${mp}/schema`,
          value: deref<Json>(doc, ex).value,
        });
      }
      if ('example' in m)
        found.push({ where: `${where} ${mediaType} example`, schemaPointer: `${mp}/schema`, value: m.example });
    }
  };
  const paths = doc.paths as Record<string, Json>;
  for (const [p, item] of Object.entries(paths)) {
    const ep = `#/paths/${p.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const operation = op as Json;
      const opPointer = `${ep}/${method}`;
      if (operation.requestBody) {
        const rbRef = (operation.requestBody as Json).$ref as string | undefined;
        visitContent(
          deref<Json>(doc, operation.requestBody).content as Json,
          rbRef ?? `${opPointer}/requestBody`,
          `${method.toUpperCase()} ${p} request`,
        );
      }
      for (const [status, response] of Object.entries(operation.responses as Json)) {
        const ref = (response as Json).$ref as string | undefined;
        visitContent(
          deref<Json>(doc, response).content as Json,
          ref ?? `${opPointer}/responses/${status}`,
          `${method.toUpperCase()} ${p} ${status}`,
        );
      }
    }
  }
  const parameters = ((doc.components as Json).parameters ?? {}) as Json;
  for (const [name, param] of Object.entries(parameters)) {
    const pm = param as Json;
    if ('example' in pm)
      found.push({
        where: `parameter ${name}`,
        schemaPointer: `#/components/parameters/${name}/schema`,
        value: pm.example,
      });
  }
  return found;
}
