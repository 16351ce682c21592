/** In-memory adapters: same semantics as the durable ones (immutable snapshots), nothing on disk. */
import type { AnyExecutionEvent, Execution, ExecutionStatus } from '../domain/types.js';
import { ExecutionIndex, indexEntryOf } from './execution-index.js';
import type { ExecutionPage, ExecutionQuery, ExecutionStore, IdempotencyRecord, IdempotencyStore } from './port.js';
import { freezeShared } from './immutable.js';
import { assertAppendable, eventsAfter, type StoredRecord } from './records.js';

export class MemoryExecutionStore implements ExecutionStore {
  private readonly records = new Map<string, StoredRecord>();
  private readonly index = new ExecutionIndex();

  async init(): Promise<void> {}

  async create(execution: Execution, events: readonly AnyExecutionEvent[]): Promise<void> {
    if (this.records.has(execution.execution_id)) {
      throw new Error(`Execution ${execution.execution_id} already exists`);
    }
    assertAppendable(0, execution, events);
    this.records.set(execution.execution_id, freezeShared({ execution, events: [...events] }));
    this.index.upsert(indexEntryOf(execution));
  }

  async save(execution: Execution, appendedEvents: readonly AnyExecutionEvent[]): Promise<void> {
    const current = this.records.get(execution.execution_id);
    if (!current) throw new Error(`Execution ${execution.execution_id} does not exist`);
    assertAppendable(current.execution.last_seq, execution, appendedEvents);
    this.records.set(
      execution.execution_id,
      freezeShared({ execution, events: [...current.events, ...appendedEvents] }),
    );
    this.index.upsert(indexEntryOf(execution));
  }

  async get(executionId: string): Promise<Execution | null> {
    const record = this.records.get(executionId);
    return record ? record.execution : null;
  }

  async list(query: ExecutionQuery): Promise<ExecutionPage> {
    const { ids, nextCursor } = this.index.page(query);
    return { items: ids.map((id) => this.records.get(id)!.execution), nextCursor };
  }

  async events(executionId: string, afterSeq: number, limit: number): Promise<AnyExecutionEvent[]> {
    const record = this.records.get(executionId);
    return record ? eventsAfter(record.events, afterSeq, limit) : [];
  }

  async idsByStatus(statuses: readonly ExecutionStatus[]): Promise<string[]> {
    return this.index.idsByStatus(statuses);
  }

  countByStatus(): Record<ExecutionStatus, number> {
    return this.index.countByStatus();
  }

  async isWritable(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, IdempotencyRecord>();

  constructor(private readonly options: { ttlMs?: number; clock?: () => Date } = {}) {}

  async init(): Promise<void> {}

  async get(scopeKey: string): Promise<IdempotencyRecord | null> {
    const record = this.records.get(scopeKey);
    if (!record) return null;
    if (isExpired(record, this.options.ttlMs, this.options.clock)) {
      this.records.delete(scopeKey);
      return null;
    }
    return structuredClone(record);
  }

  async put(scopeKey: string, record: IdempotencyRecord): Promise<void> {
    this.records.set(scopeKey, structuredClone(record));
  }

  async close(): Promise<void> {}
}

export function isExpired(
  record: IdempotencyRecord,
  ttlMs: number | undefined,
  clock: (() => Date) | undefined,
): boolean {
  if (ttlMs === undefined) return false;
  const created = Date.parse(record.created_at);
  return Number.isFinite(created) && (clock ?? (() => new Date()))().getTime() - created > ttlMs;
}
