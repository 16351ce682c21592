/**
 * `Idempotency-Key` on every POST: the same key from the same user with the same request returns
 * the first (successful) response again, also after a restart; the same key with another request
 * is a 409. Requests with one key are serialised, so two concurrent retries do the work once.
 */
import { DomainError } from '../domain/errors.js';
import { canonicalJson, sha256Hex } from '../engine/schemas.js';
import { idempotencyScopeKey, type IdempotencyStore } from '../store/port.js';

export interface StoredResult {
  status: number | string;
  body: unknown;
  headers?: Record<string, string>;
}

export class Idempotency {
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: IdempotencyStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async run<R extends StoredResult>(
    request: { key: string | undefined; user: string; method: string; path: string; body: unknown },
    work: () => Promise<R>,
  ): Promise<R & { replayed?: boolean }> {
    if (request.key === undefined) return work();
    const scope = idempotencyScopeKey(request.user, request.key);
    const previous = this.inFlight.get(scope) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.once(scope, request, work));
    this.inFlight.set(scope, mine);
    try {
      return await mine;
    } finally {
      if (this.inFlight.get(scope) === mine) this.inFlight.delete(scope);
    }
  }

  private async once<R extends StoredResult>(
    scope: string,
    request: { key: string | undefined; user: string; method: string; path: string; body: unknown },
    work: () => Promise<R>,
  ): Promise<R & { replayed?: boolean }> {
    const bodyHash = sha256Hex(`${request.method} ${request.path}\n${canonicalJson(request.body ?? null)}`);
    const stored = await this.store.get(scope);
    if (stored) {
      if (stored.body_hash !== bodyHash) {
        throw new DomainError('IDEMPOTENCY_KEY_REUSED', 'Idempotency-Key was already used with a different request', {
          idempotency_key: request.key,
        });
      }
      return { status: stored.status, body: stored.body, headers: stored.headers, replayed: true } as R & {
        replayed: boolean;
      };
    }
    const result = await work();
    // Only successes are kept: an error (a 503 while the model is down, say) must be retryable.
    const status = Number(result.status);
    if (status >= 200 && status < 300) {
      await this.store.put(scope, {
        key: request.key!,
        user: request.user,
        method: request.method,
        path: request.path,
        body_hash: bodyHash,
        status,
        headers: result.headers ?? {},
        body: result.body,
        created_at: this.now().toISOString(),
      });
    }
    return result;
  }
}
