/**
 * What the real providers share about failing: a per-call abort controller that merges the
 * caller's cancel signal with the call's own deadline, and the mapping from HTTP outcomes to
 * `LlmError`. Retries are the engine's job, so a provider only has to say what happened and
 * whether trying again could help.
 */
import { LlmError } from './port.js';

/** Combines the caller's signal and a deadline into one signal handed to the SDK. */
export class CallControl {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private timedOut = false;
  private readonly onCallerAbort = (): void => this.controller.abort();

  constructor(
    private readonly callerSignal: AbortSignal,
    readonly timeoutMs: number,
  ) {
    if (callerSignal.aborted) this.controller.abort();
    else callerSignal.addEventListener('abort', this.onCallerAbort, { once: true });
    // The SDKs' own timeout stops at the response headers; this one also covers a stream that stalls.
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, timeoutMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The controller the SDK stream readers abort when they stop early. */
  get abortController(): AbortController {
    return this.controller;
  }

  /** Why the call was cut short (caller cancel wins over the deadline), or null if it was not. */
  interruption(): LlmError | null {
    if (this.callerSignal.aborted) return new LlmError('LLM call aborted by the caller', false, 'aborted');
    if (this.timedOut) return new LlmError(`LLM call timed out after ${this.timeoutMs} ms`, true, 'timeout');
    return null;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.callerSignal.removeEventListener('abort', this.onCallerAbort);
  }
}

/** An error an LLM HTTP API answered with: 408 and 429 and 5xx may pass, other 4xx will not. */
export function errorFromStatus(status: number, message: string, headers?: Headers | null): LlmError {
  const retryAfterMs = headers ? parseRetryAfter(headers) : undefined;
  if (status === 429) return new LlmError(message, true, 'rate_limited', retryAfterMs, status);
  if (status === 408) return new LlmError(message, true, 'timeout', retryAfterMs, status);
  if (status >= 500) return new LlmError(message, true, 'server', retryAfterMs, status);
  return new LlmError(message, false, 'client', undefined, status);
}

/**
 * Milliseconds to wait from `retry-after-ms` (OpenAI's extension) or `Retry-After` (seconds or an
 * HTTP-date); undefined when absent or unreadable.
 */
export function parseRetryAfter(headers: Headers, now: number = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms));
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A stream that the server cut off or garbled: worth another attempt, like a dropped connection. */
export function brokenStream(detail: string): LlmError {
  return new LlmError(`LLM response stream broken: ${detail}`, true, 'network');
}

export function describe(err: unknown): string {
  if (!isErrorLike(err)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return isErrorLike(cause) ? `${err.message} (${cause.message})` : err.message;
}

/** By name, not `instanceof`: `fetch` parses JSON in its own realm under some runtimes (Jest's vm). */
export function isSyntaxError(err: unknown): err is Error {
  return isErrorLike(err) && err.name === 'SyntaxError';
}

function isErrorLike(err: unknown): err is Error {
  return typeof err === 'object' && err !== null && typeof (err as Error).message === 'string';
}

/**
 * Runs one provider call under a CallControl: refuses at once when already cancelled, reports a
 * cancel or deadline that cut the call short even when the SDK returned quietly (both SDKs end an
 * aborted stream without an error), and maps every failure to an LlmError with `classify`.
 */
export async function controlledCall<T>(
  signal: AbortSignal,
  timeoutMs: number,
  classify: (err: unknown, call: CallControl) => LlmError,
  run: (call: CallControl) => Promise<T>,
): Promise<T> {
  const call = new CallControl(signal, timeoutMs);
  try {
    const early = call.interruption();
    if (early) throw early;
    const result = await run(call);
    const interrupted = call.interruption();
    if (interrupted) throw interrupted;
    return result;
  } catch (err) {
    throw classify(err, call);
  } finally {
    call.dispose();
  }
}
