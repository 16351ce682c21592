/**
 * The one catalog of error codes and their HTTP statuses. Domain code throws `DomainError`;
 * the HTTP layer maps it to an `ErrorResponse` with this status and never invents codes.
 */
export const ERROR_CATALOG = {
  VALIDATION_ERROR: 400,
  MISSING_ANSWERS: 400,
  INVALID_STATE_TRANSITION: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  WORKFLOW_NOT_FOUND: 404,
  EXECUTION_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  EXECUTION_ALREADY_RUNNING: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL_ERROR: 500,
  LLM_UNAVAILABLE: 503,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export class DomainError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    /** Seconds, for 503s: sent as `Retry-After`. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'DomainError';
    this.status = ERROR_CATALOG[code];
  }
}

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError;
