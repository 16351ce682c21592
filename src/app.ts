/**
 * buildApp(deps): the Express app, wired from openapi.yaml. It never listens; src/service.ts
 * does, through buildRequestListener(deps), which puts the read fast lane in front of it.
 * Order: request id -> log -> metrics -> CORS -> auth -> JSON body -> spec validator -> the
 * operation's handler -> ErrorResponse for anything that went wrong.
 */
import express, { type Request, type RequestHandler, type Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import type { Logger as PinoLogger } from 'pino';
import type { RequestListener } from 'node:http';
import { DomainError } from './domain/errors.js';
import type { Actor, WorkflowEngine } from './engine/api.js';
import type { IdempotencyStore } from './store/port.js';
import { type Authenticator } from './http/auth.js';
import { lazyDocsPage } from './http/docs.js';
import { errorHandler, routeNotFound, sendError } from './http/errors.js';
import { withFastLane, type FastLaneDeps } from './http/fast-lane.js';
import { createHandlers } from './http/handlers.js';
import { Idempotency } from './http/idempotency.js';
import type { Metrics } from './http/metrics.js';
import type { OperationHandler, OperationHandlers, OperationId } from './http/operations.js';
import { createRequestLog, requestIdFor, setOperationId, type RequestLog } from './http/request-log.js';
import { cacheValidatorRouteMatchers } from './http/route-matcher-cache.js';
import { loadSpecs, operationsOf, type SpecDocuments } from './http/spec.js';

export interface AppDeps {
  engine: WorkflowEngine;
  idempotencyStore: IdempotencyStore;
  authenticate: Authenticator;
  metrics: Metrics;
  logger: PinoLogger;
  bodyLimit: string;
  corsOrigins?: string[];
  /** Validate every response against openapi.yaml (tests: on; a drifting handler then 500s). */
  validateResponses?: boolean;
  specs?: SpecDocuments;
}

const requestId: RequestHandler = (req, res, next) => {
  const id = requestIdFor(req);
  req.id = id;
  res.locals.requestId = id;
  res.setHeader('X-Request-ID', id);
  next();
};

function cors(origins: string[]): RequestHandler {
  const any = origins.includes('*');
  return (req, res, next) => {
    const origin = req.get('Origin');
    if (origin && (any || origins.includes(origin))) {
      res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Expose-Headers', 'X-Request-ID, Location, Retry-After, Allow');
      if (req.method === 'OPTIONS' && req.get('Access-Control-Request-Method')) {
        res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
        res.setHeader(
          'Access-Control-Allow-Headers',
          'Authorization, X-API-Key, Content-Type, Idempotency-Key, X-Request-ID',
        );
        res.setHeader('Access-Control-Max-Age', '600');
        res.status(204).end();
        return;
      }
    }
    next();
  };
}

interface SendableResult {
  status: number | string;
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

function send(res: Response, result: SendableResult): void {
  for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, v);
  res.status(Number(result.status));
  if (result.contentType) res.type(result.contentType).send(result.body);
  else res.json(result.body);
}

/** The Express app alone: every operation, every error (supertest drives this in tests). */
export function buildApp(deps: AppDeps): express.Express {
  return assemble(deps).app;
}

/**
 * What the server listens with: the read fast lane (src/http/fast-lane.ts) in front of the
 * Express app, sharing its handlers, request log and ETag function.
 */
export function buildRequestListener(deps: AppDeps): RequestListener {
  const { app, handlers, requestLog, specs } = assemble(deps);
  return withFastLane(
    {
      openapi: specs.openapi,
      handlers,
      authenticate: deps.authenticate,
      requestLog,
      metrics: deps.metrics,
      etag: app.get('etag fn') as FastLaneDeps['etag'],
      validateResponses: deps.validateResponses ?? false,
    },
    app,
  );
}

function assemble(deps: AppDeps): {
  app: express.Express;
  handlers: OperationHandlers;
  requestLog: RequestLog;
  specs: SpecDocuments;
} {
  const specs = deps.specs ?? loadSpecs();
  const operations = operationsOf(specs.openapi);
  const handlers: OperationHandlers = createHandlers({
    engine: deps.engine,
    openapiYaml: specs.openapiYaml,
    asyncapiYaml: specs.asyncapiYaml,
    docsHtml: lazyDocsPage(specs.openapi, `${specs.openapi.info.title} API reference`),
    metricsText: () => deps.metrics.text(),
  });
  const idempotency = new Idempotency(deps.idempotencyStore);
  const publicPaths = new Set(operations.filter((o) => o.isPublic).map((o) => o.path));

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(requestId);
  const requestLog = createRequestLog(deps.logger);
  app.use(requestLog);
  app.use(deps.metrics.httpMiddleware);
  if (deps.corsOrigins && deps.corsOrigins.length > 0) app.use(cors(deps.corsOrigins));

  app.use((req, res, next) => {
    if (publicPaths.has(req.path)) {
      res.locals.actor = null;
      next();
      return;
    }
    const actor = deps.authenticate({ authorization: req.get('Authorization'), apiKey: req.get('X-API-Key') });
    if (!actor) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      sendError(
        res,
        new DomainError('UNAUTHENTICATED', 'A valid API key is required (Authorization Bearer or X-API-Key)'),
      );
      return;
    }
    res.locals.actor = actor;
    next();
  });

  app.use(express.json({ limit: deps.bodyLimit, strict: true }));
  cacheValidatorRouteMatchers();
  app.use(
    OpenApiValidator.middleware({
      apiSpec: structuredClone(specs.openapi) as never,
      // Bodies are never coerced (42 is not "42"); query, path and headers are, by the validator itself.
      validateRequests: { allowUnknownQueryParameters: false, coerceTypes: false },
      validateResponses: deps.validateResponses ? { removeAdditional: false } : false,
      validateSecurity: false,
      validateFormats: true,
      ignoreUndocumented: false,
    }),
  );

  for (const op of operations) {
    const handler = handlers[op.operationId as OperationId] as OperationHandler<OperationId> | undefined;
    if (!handler) throw new Error(`openapi.yaml operation ${op.operationId} has no handler`);
    app[op.method](op.expressPath, async (req: Request, res: Response) => {
      setOperationId(res, op.operationId);
      const actor = res.locals.actor as Actor;
      const input = {
        path: req.params,
        query: req.query,
        body: req.body as unknown,
        actor,
        requestId: res.locals.requestId as string,
      } as unknown as Parameters<OperationHandler<OperationId>>[0];
      const run = (): Promise<SendableResult> => handler(input) as Promise<SendableResult>;
      if (op.method !== 'post') return send(res, await run());
      const result = await idempotency.run(
        { key: req.get('Idempotency-Key'), user: actor.id, method: op.method, path: req.path, body: req.body },
        run,
      );
      if (result.replayed) res.setHeader('Idempotent-Replayed', 'true');
      send(res, result);
    });
  }

  app.use(routeNotFound);
  app.use(errorHandler({ bodyLimit: deps.bodyLimit }));
  return { app, handlers, requestLog, specs };
}
