/** The two spec documents, read once: served as they are and used to mount routes. */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

export const PROJECT_ROOT = path.resolve(
  __dirname,
  '..',
  '..',
  ...(__dirname.includes(`${path.sep}dist${path.sep}`) ? ['..'] : []),
);

export interface SpecDocuments {
  openapiYaml: string;
  asyncapiYaml: string;
  openapi: OpenApiDocument;
}

export interface OpenApiOperation {
  operationId: string;
  security?: unknown[];
}

export interface OpenApiDocument {
  info: { title: string };
  paths: Record<string, Record<string, OpenApiOperation | unknown>>;
  [key: string]: unknown;
}

export const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

export function loadSpecs(root = PROJECT_ROOT): SpecDocuments {
  const openapiYaml = fs.readFileSync(path.join(root, 'openapi.yaml'), 'utf8');
  const asyncapiYaml = fs.readFileSync(path.join(root, 'asyncapi.yaml'), 'utf8');
  return { openapiYaml, asyncapiYaml, openapi: YAML.parse(openapiYaml) as OpenApiDocument };
}

export interface SpecOperation {
  method: (typeof HTTP_METHODS)[number];
  path: string;
  /** `/api/v1/executions/:execution_id` */
  expressPath: string;
  operationId: string;
  isPublic: boolean;
}

export function operationsOf(doc: OpenApiDocument): SpecOperation[] {
  const out: SpecOperation[] = [];
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) {
      const op = item[method] as OpenApiOperation | undefined;
      if (!op) continue;
      out.push({
        method,
        path: p,
        expressPath: p.replace(/\{([^}]+)\}/g, ':$1'),
        operationId: op.operationId,
        isPublic: Array.isArray(op.security) && op.security.length === 0,
      });
    }
  }
  return out;
}
