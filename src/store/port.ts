/**
 * Persistence ports. The engine depends on these only; adapters: memory (tests, dev) and lowdb
 * (one durable file per execution under DATA_DIR).
 */
import type { AnyExecutionEvent, Execution, ExecutionStatus } from '../domain/types.js';

/** What the store keeps in memory for every execution (the full record is read on demand). */
export interface ExecutionIndexEntry {
  execution_id: string;
  status: ExecutionStatus;
  workflow_id: string;
  project_id: string;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface ExecutionQuery {
  status?: readonly ExecutionStatus[];
  workflowId?: string;
  projectId?: string;
  createdBy?: string;
  /** 1..100; clamped. */
  limit: number;
  /** Opaque cursor from a previous page. @throws DomainError VALIDATION_ERROR when malformed */
  cursor?: string;
}

export interface ExecutionPage {
  /** Newest first (created_at, then execution_id, both descending). Immutable snapshots. */
  items: Execution[];
  nextCursor: string | null;
}

export interface ExecutionStore {
  /** Loads the index. Must be called (and awaited) once before anything else. */
  init(): Promise<void>;
  /** Persists a new execution with its first events. @throws when the id exists */
  create(execution: Execution, events: readonly AnyExecutionEvent[]): Promise<void>;
  /**
   * Persists the execution's new state together with the events it appended (their seqs follow
   * the stored ones), atomically and durably before it resolves.
   */
  save(execution: Execution, appendedEvents: readonly AnyExecutionEvent[]): Promise<void>;
  /** The stored execution as an immutable (deep-frozen) snapshot, never a live reference; or null. */
  get(executionId: string): Promise<Execution | null>;
  list(query: ExecutionQuery): Promise<ExecutionPage>;
  /** Stored events with seq > afterSeq, in seq order, at most `limit`. */
  events(executionId: string, afterSeq: number, limit: number): Promise<AnyExecutionEvent[]>;
  /** Ids in the given statuses, oldest first (for recovery). */
  idsByStatus(statuses: readonly ExecutionStatus[]): Promise<string[]>;
  /** Counts per status (for metrics); cheap. */
  countByStatus(): Record<ExecutionStatus, number>;
  /** Whether a write can succeed right now (for readiness). */
  isWritable(): Promise<boolean>;
  close(): Promise<void>;
}

/** A response kept for an `Idempotency-Key` so a retried request gets it again. */
export interface IdempotencyRecord {
  key: string;
  user: string;
  method: string;
  path: string;
  /** sha256 of the canonical request body: another body with the same key is a 409. */
  body_hash: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
  created_at: string;
}

export interface IdempotencyStore {
  init(): Promise<void>;
  /** The record stored under `scopeKey` (see `idempotencyScopeKey`), or null (also when expired). */
  get(scopeKey: string): Promise<IdempotencyRecord | null>;
  /** Stores durably before it resolves; a later put under the same scope key replaces it. */
  put(scopeKey: string, record: IdempotencyRecord): Promise<void>;
  close(): Promise<void>;
}

/** Keys are scoped per user: two users may use the same key independently. */
export function idempotencyScopeKey(user: string, key: string): string {
  return `${user}\u0000${key}`;
}
