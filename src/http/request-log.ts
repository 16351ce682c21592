/**
 * Request logging and request ids, shared by the Express app and the read fast lane so that both
 * write the same log line (pino-http) and answer with the same `X-Request-ID`.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Logger as PinoLogger } from 'pino';
import { pinoHttp } from 'pino-http';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const OPERATION = Symbol('operationId');

type Res = ServerResponse & { [OPERATION]?: string };

/** The client's `X-Request-ID` when it is 1-128 of `[A-Za-z0-9._:-]`, else a new UUID. */
export function requestIdFor(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

export function setOperationId(res: ServerResponse, operationId: string): void {
  (res as Res)[OPERATION] = operationId;
}

export function operationIdOf(res: ServerResponse): string | undefined {
  return (res as Res)[OPERATION];
}

/** Headers never written to a log as they are. */
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'cookie', 'proxy-authorization'];

function redactedHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  let out = headers;
  for (const name of CREDENTIAL_HEADERS) {
    if (headers[name] === undefined) continue;
    if (out === headers) out = { ...headers };
    out[name] = '[redacted]';
  }
  return out;
}

/** What pino-std-serializers makes of a request (Express's `originalUrl` already as `url`). */
interface SerializedRequest {
  id: unknown;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  remoteAddress: string;
  remotePort: number;
}

export type RequestLog = (req: IncomingMessage, res: ServerResponse, next?: () => void) => void;

/**
 * One line per request at `info` (none for `/healthz` and `/metrics`): request id, method, url,
 * headers with credentials redacted, status, response time and the operationId. `req.id` must be
 * set before this runs.
 */
export function createRequestLog(logger: PinoLogger): RequestLog {
  // `val` is the line's own fresh object (pino-http builds it per line).
  const withOperation = (res: ServerResponse, val: Record<string, unknown>): object => {
    const operation = operationIdOf(res);
    if (operation !== undefined) val.operation = operation;
    return val;
  };
  return pinoHttp({
    // The serializers below decide what a request line holds, credentials included, so the
    // service logger's wildcard redaction (about 5% of a read's CPU) gives way to exact paths
    // for the one thing they do not shape: an error logged through `req.log`.
    logger: logger.child(
      {},
      {
        redact: {
          paths: ['err.authorization', 'err["x-api-key"]', 'err.apiKey', 'err.api_key', 'err.headers.authorization'],
          censor: '[redacted]',
        },
      },
    ),
    serializers: {
      // The same fields from Express and from the fast lane; credentials replaced, not logged.
      req: (req: SerializedRequest) => ({
        id: req.id,
        method: req.method,
        url: req.url,
        headers: redactedHeaders(req.headers),
        remoteAddress: req.remoteAddress,
        remotePort: req.remotePort,
      }),
    },
    customSuccessObject: (_req, res, val: Record<string, unknown>) => withOperation(res, val),
    customErrorObject: (_req, res, _err, val: Record<string, unknown>) => withOperation(res, val),
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
  }) as RequestLog;
}
