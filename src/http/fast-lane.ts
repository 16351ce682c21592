/**
 * The read fast lane: plain GET reads answered straight from node:http, in front of Express.
 *
 * Express 5 routing and express-openapi-validator cost about ten times what the read itself does
 * (see README, Performance). For the operations that qualify, the lane does the same work with
 * less machinery: it validates the request against the same openapi.yaml schemas (ajv, compiled
 * once), authenticates with the same hook, calls the same handler, and writes the same bytes,
 * headers, log line and metrics as the Express path would.
 *
 * It serves only the plain case and hands everything else to Express untouched, so every error,
 * redirect and edge case keeps one implementation:
 *  - operation: GET, no query or cookie parameters, 200 answers only `application/json`;
 *  - request: method GET, path of unreserved characters only (nothing to decode), no query string,
 *    no body, no `Origin` (CORS), no conditional headers (`If-None-Match`, `If-Modified-Since`);
 *  - outcome: parameters valid, caller authenticated, handler answered 200 with JSON and, when
 *    responses are validated, that body valid against the operation's response schema.
 * Anything else (a 400, 401 or 404 included) goes to Express, which re-runs the read-only handler
 * and answers as it always does. tests/api/fast-lane.test.ts holds the two paths to the same bytes.
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Actor } from '../engine/api.js';
import type { Authenticator } from './auth.js';
import type { OperationHandler, OperationHandlers, OperationId } from './operations.js';
import type { Metrics } from './metrics.js';
import { requestIdFor, setOperationId, type RequestLog } from './request-log.js';
import type { OpenApiDocument } from './spec.js';

export interface FastLaneDeps {
  openapi: OpenApiDocument;
  handlers: OperationHandlers;
  authenticate: Authenticator;
  requestLog: RequestLog;
  metrics: Pick<Metrics, 'observeHttp' | 'countFastLane'>;
  /** The Express app's ETag function (`app.get('etag fn')`), so both paths tag alike. */
  etag: ((body: Buffer, encoding?: BufferEncoding) => string) | undefined;
  validateResponses: boolean;
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
}

interface Route {
  operationId: OperationId;
  /** Literal segments as strings, parameters as `{ param }`. */
  segments: (string | { param: string })[];
  isPublic: boolean;
  headers: string[];
  validateParams: ValidateFunction;
  validateResponse: ValidateFunction | undefined;
  handler: OperationHandler<OperationId>;
}

type Json = Record<string, unknown>;

const SPEC_ID = 'openapi.yaml';
const PLAIN_PATH = /^[A-Za-z0-9._~/-]+$/;

const pointer = (...parts: string[]): string =>
  `${SPEC_ID}#/${parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;

function resolve(doc: Json, node: unknown): { value: Json; at: string | null } {
  const ref = (node as Json | undefined)?.$ref;
  if (typeof ref !== 'string') return { value: node as Json, at: null };
  const parts = ref.replace(/^#\//, '').split('/');
  const value = parts.reduce<unknown>((n, k) => (n as Json)[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  return { value: value as Json, at: `${SPEC_ID}${ref}` };
}

interface Candidate {
  path: string;
  operationId: OperationId;
  isPublic: boolean;
  params: { param: Parameter; schemaAt: string }[];
}

/** Every GET operation that qualifies (see the header comment), read from the spec. */
function qualifyingOperations(doc: Json): Candidate[] {
  const out: Candidate[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    const op = item.get as Json | undefined;
    if (!op) continue;
    const ok = (op.responses as Json)['200'];
    const content = ok ? Object.keys((resolve(doc, ok).value.content as Json | undefined) ?? {}) : [];
    if (content.length !== 1 || content[0] !== 'application/json') continue;

    // Path-level parameters first, then the operation's (which override by name and place).
    const where = new Map<string, { param: Parameter; schemaAt: string }>();
    const collect = (list: unknown, base: string[]): void => {
      ((list as unknown[] | undefined) ?? []).forEach((raw, i) => {
        const { value, at } = resolve(doc, raw);
        const param = value as unknown as Parameter;
        where.set(`${param.in}:${param.name}`, {
          param,
          schemaAt: at ? `${at}/schema` : pointer(...base, String(i), 'schema'),
        });
      });
    };
    collect(item.parameters, ['paths', path, 'parameters']);
    collect(op.parameters, ['paths', path, 'get', 'parameters']);
    const params = [...where.values()];
    if (params.some(({ param }) => param.in !== 'path' && param.in !== 'header')) continue;
    out.push({
      path,
      operationId: op.operationId as OperationId,
      isPublic: Array.isArray(op.security) && op.security.length === 0,
      params,
    });
  }
  return out;
}

function specAjv(doc: Json, options: { coerceTypes: boolean }): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, validateFormats: true, ...options });
  addFormats(ajv);
  ajv.addSchema({ ...structuredClone(doc), $id: SPEC_ID });
  return ajv;
}

/** The qualifying operations as routes, their validators compiled from the spec. */
function compileRoutes(deps: FastLaneDeps): Route[] {
  const doc = deps.openapi as unknown as Json;
  // Parameters are coerced, as express-openapi-validator coerces them; responses never are.
  const paramsAjv = specAjv(doc, { coerceTypes: true });
  const responseAjv = deps.validateResponses ? specAjv(doc, { coerceTypes: false }) : undefined;
  const key = (param: Parameter): string => (param.in === 'header' ? param.name.toLowerCase() : param.name);
  const routes = qualifyingOperations(doc).map(({ path, operationId, isPublic, params }): Route => {
    const group = (place: string): Json => {
      const mine = params.filter(({ param }) => param.in === place);
      return {
        type: 'object',
        properties: Object.fromEntries(mine.map(({ param, schemaAt }) => [key(param), { $ref: schemaAt }])),
        required: mine.filter(({ param }) => param.required).map(({ param }) => key(param)),
      };
    };
    return {
      operationId,
      segments: path.split('/').map((s) => (/^\{[^}]+\}$/.test(s) ? { param: s.slice(1, -1) } : s)),
      isPublic,
      headers: params.filter(({ param }) => param.in === 'header').map(({ param }) => key(param)),
      validateParams: paramsAjv.compile({
        type: 'object',
        properties: { path: group('path'), header: group('header') },
      }),
      validateResponse: responseAjv?.compile({
        $ref: pointer('paths', path, 'get', 'responses', '200', 'content', 'application/json', 'schema'),
      }),
      handler: deps.handlers[operationId] as OperationHandler<OperationId>,
    };
  });
  // As OpenAPI matches paths: a concrete segment before a template (`/a/b` before `/a/{x}`).
  const templated = (r: Route): number => r.segments.filter((seg) => typeof seg !== 'string').length;
  return routes.sort((a, b) => templated(a) - templated(b));
}

function match(routes: Route[], segments: string[]): { route: Route; path: Record<string, string> } | null {
  for (const route of routes) {
    if (route.segments.length !== segments.length) continue;
    const path: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < segments.length && ok; i++) {
      const want = route.segments[i]!;
      if (typeof want === 'string') ok = want === segments[i];
      else path[want.param] = segments[i]!;
    }
    if (ok) return { route, path };
  }
  return null;
}

/** Whether the request is plain enough for the lane (see the header comment). */
function plain(req: IncomingMessage): boolean {
  const h = req.headers;
  return (
    req.method === 'GET' &&
    PLAIN_PATH.test(req.url ?? '') &&
    h['content-length'] === undefined &&
    h['transfer-encoding'] === undefined &&
    h.origin === undefined &&
    h['if-none-match'] === undefined &&
    h['if-modified-since'] === undefined
  );
}

/** A request listener: the fast lane when it can, `fallback` (the Express app) otherwise. */
export function withFastLane(deps: FastLaneDeps, fallback: RequestListener): RequestListener {
  const routes = compileRoutes(deps);

  // A frozen body cannot change, so its bytes and ETag are computed once (stored executions are
  // deep-frozen snapshots, presented once each: see presenters.ts).
  const encoded = new WeakMap<object, { bytes: Buffer; etag: string | undefined }>();
  const encode = (body: unknown): { bytes: Buffer; etag: string | undefined } => {
    const cacheable = typeof body === 'object' && body !== null && Object.isFrozen(body);
    let hit = cacheable ? encoded.get(body) : undefined;
    if (!hit) {
      const bytes = Buffer.from(JSON.stringify(body), 'utf8');
      hit = { bytes, etag: deps.etag?.(bytes) };
      if (cacheable) encoded.set(body, hit);
    }
    return hit;
  };

  const serve = async (req: IncomingMessage, res: ServerResponse, route: Route, path: Json): Promise<boolean> => {
    const started = performance.now();
    const header: Json = {};
    for (const name of route.headers) if (req.headers[name] !== undefined) header[name] = req.headers[name];
    if (!route.validateParams({ path, header })) return false;
    let actor: Actor | null = null;
    if (!route.isPublic) {
      const { authorization } = req.headers;
      const apiKey = req.headers['x-api-key'];
      actor = deps.authenticate({ authorization, apiKey: typeof apiKey === 'string' ? apiKey : undefined });
      if (!actor) return false;
    }
    const requestId = requestIdFor(req);
    let result: { status: unknown; body: unknown; contentType?: string; headers?: Record<string, string> };
    try {
      result = await route.handler({ path, query: {}, body: undefined, actor, requestId } as never);
    } catch {
      return false; // Express answers it: the domain error, or a logged 500
    }
    if (result.status !== 200 || result.contentType !== undefined) return false;
    if (route.validateResponse && !route.validateResponse(result.body)) return false;

    const { bytes, etag } = encode(result.body);
    req.id = requestId;
    setOperationId(res, route.operationId);
    deps.requestLog(req, res);
    res.once('finish', () =>
      deps.metrics.observeHttp(route.operationId, 'GET', res.statusCode, (performance.now() - started) / 1000),
    );
    res.statusCode = 200;
    res.setHeader('X-Request-ID', requestId);
    for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, v);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', String(bytes.length));
    if (etag !== undefined) res.setHeader('ETag', etag);
    res.end(bytes);
    return true;
  };

  return (req, res) => {
    const found = plain(req) ? match(routes, req.url!.split('/')) : null;
    if (!found) {
      fallback(req, res);
      return;
    }
    const defer = (): void => {
      deps.metrics.countFastLane('deferred');
      fallback(req, res);
    };
    serve(req, res, found.route, found.path).then(
      (served) => (served ? deps.metrics.countFastLane('served') : defer()),
      () => {
        if (!res.headersSent) defer();
      },
    );
  };
}

/** The operations the lane serves (for tests and the README). */
export function fastLaneOperations(openapi: OpenApiDocument): string[] {
  return qualifyingOperations(openapi as unknown as Json).map((c) => c.operationId);
}
