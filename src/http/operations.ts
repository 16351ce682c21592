/**
 * Handler types derived from generated/openapi.ts: a handler of `getExecution` can only return
 * a status code and body that openapi.yaml lists for `getExecution`, or `tsc` fails.
 */
import type { operations } from '../../generated/openapi.js';
import type { Actor } from '../engine/api.js';

export type OperationId = keyof operations;
type Op<O extends OperationId> = operations[O];

type ParamsOf<O extends OperationId, K extends 'path' | 'query' | 'header'> = Op<O>['parameters'] extends {
  [P in K]?: infer T;
}
  ? NonNullable<T>
  : never;

type BodyOf<O extends OperationId> =
  Op<O> extends { requestBody: { content: { 'application/json': infer B } } }
    ? B
    : Op<O> extends { requestBody?: { content: { 'application/json': infer B } } }
      ? B | undefined
      : undefined;

type Responses<O extends OperationId> = Op<O>['responses'];
type ContentOf<R> = R extends { content: infer C } ? C[keyof C] : undefined;

export type OperationResult<O extends OperationId> = {
  [S in keyof Responses<O>]: {
    status: S;
    body: ContentOf<Responses<O>[S]>;
    /** `json` unless the operation's content type is text (then body is sent as-is). */
    contentType?: string;
    headers?: Record<string, string>;
  };
}[keyof Responses<O>];

export interface OperationInput<O extends OperationId> {
  path: ParamsOf<O, 'path'>;
  query: ParamsOf<O, 'query'>;
  body: BodyOf<O>;
  actor: Actor;
  requestId: string;
}

export type OperationHandler<O extends OperationId> = (input: OperationInput<O>) => Promise<OperationResult<O>>;

/** One handler per operationId; the app mounts each at the path and method the spec gives. */
export type OperationHandlers = { [O in OperationId]: OperationHandler<O> };
