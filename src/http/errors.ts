/**
 * Every error leaves as an `ErrorResponse` with the request id: the validator's, body-parser's,
 * the domain's and unexpected ones (500, logged with the stack, never sent).
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { components } from '../../generated/openapi.js';
import { DomainError, ERROR_CATALOG, type ErrorCode } from '../domain/errors.js';

export type ErrorResponse = components['schemas']['ErrorResponse'];

export function sendError(res: Response, err: DomainError): void {
  const body: ErrorResponse = {
    error_code: err.code,
    message: err.message,
    request_id: res.locals.requestId as string,
  };
  if (err.details !== undefined) body.details = err.details;
  if (err.retryAfterSeconds !== undefined)
    res.setHeader('Retry-After', String(Math.max(0, Math.ceil(err.retryAfterSeconds))));
  res.status(err.status).json(body);
}

interface ValidatorIssue {
  path?: string;
  message?: string;
  errorCode?: string;
}

interface HttpLikeError {
  status?: number;
  statusCode?: number;
  type?: string;
  errors?: ValidatorIssue[];
  headers?: Record<string, string>;
  message?: string;
  limit?: number;
}

function issues(err: HttpLikeError): { path: string; message: string }[] {
  return (err.errors ?? []).map((e) => ({
    // The validator says `/body/project_id` (ajv) or `.body.project_id` (older paths).
    path: (e.path ?? '').startsWith('/') ? (e.path ?? '') : `/${(e.path ?? '').replace(/^\./, '').replace(/\./g, '/')}`,
    message: e.message ?? 'invalid',
  }));
}

/** Maps an error thrown anywhere in the stack to a DomainError, or null for unexpected ones. */
export function toDomainError(error: unknown, method: string, path: string, bodyLimit: string): DomainError | null {
  if (error instanceof DomainError) return error;
  const err = (error ?? {}) as HttpLikeError;
  const status = err.status ?? err.statusCode;
  // body-parser
  if (err.type === 'entity.parse.failed')
    return new DomainError('VALIDATION_ERROR', 'Malformed JSON in request body', {
      errors: [{ path: '/body', message: err.message ?? 'malformed JSON' }],
    });
  if (err.type === 'entity.too.large')
    return new DomainError('PAYLOAD_TOO_LARGE', `Request body is larger than ${bodyLimit}`, { limit_bytes: err.limit });
  if (err.type === 'encoding.unsupported' || err.type === 'charset.unsupported')
    return new DomainError('UNSUPPORTED_MEDIA_TYPE', err.message ?? 'Unsupported encoding');
  if (err.type === 'request.aborted')
    return new DomainError('VALIDATION_ERROR', 'Request body was not received completely');
  // express-openapi-validator
  switch (status) {
    case 400:
      // The validator lists its problems; anything else that says 400 (a broken gzip body, say)
      // only has a message.
      return err.errors?.length
        ? new DomainError('VALIDATION_ERROR', 'Request validation failed', { errors: issues(err) })
        : new DomainError('VALIDATION_ERROR', `Bad request: ${err.message ?? 'unreadable request'}`);
    case 401:
      return new DomainError('UNAUTHENTICATED', 'A valid API key is required (Authorization Bearer or X-API-Key)');
    case 404:
      return new DomainError('ROUTE_NOT_FOUND', `No route for ${method} ${path}`);
    case 405:
      return new DomainError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, {
        allow: err.headers?.Allow ?? err.headers?.allow,
      });
    case 413:
      return new DomainError('PAYLOAD_TOO_LARGE', `Request body is larger than ${bodyLimit}`);
    case 415:
      return new DomainError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported Content-Type; send application/json', {
        errors: issues(err),
      });
    default:
      return null;
  }
}

export function errorHandler(opts: { bodyLimit: string }): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const mapped = toDomainError(error, req.method, req.path, opts.bodyLimit);
    if (res.headersSent) {
      req.log?.error({ err: error }, 'error after the response started');
      res.destroy();
      return;
    }
    if (mapped) {
      if (mapped.code === 'METHOD_NOT_ALLOWED' && typeof mapped.details?.allow === 'string')
        res.setHeader('Allow', mapped.details.allow);
      if (mapped.status >= 500) req.log?.error({ err: error }, mapped.message);
      sendError(res, mapped);
      return;
    }
    req.log?.error({ err: error }, 'unhandled error');
    sendError(res, new DomainError('INTERNAL_ERROR', 'Internal server error'));
  };
}

export const routeNotFound: RequestHandler = (req, res) => {
  sendError(res, new DomainError('ROUTE_NOT_FOUND', `No route for ${req.method} ${req.path}`));
};

/** The catalog's codes must be the spec's `ErrorResponse.error_code` enum (checked in tests). */
export const ERROR_CODES = Object.keys(ERROR_CATALOG) as ErrorCode[];
