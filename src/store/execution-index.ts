/**
 * The compact in-memory index both adapters keep: one small entry per execution, ordered by
 * (created_at, execution_id), answering list/recovery/metrics queries without reading records.
 */
import { EXECUTION_STATUSES, type Execution, type ExecutionStatus } from '../domain/types.js';
import type { ExecutionIndexEntry, ExecutionQuery } from './port.js';
import { decodeCursor, encodeCursor, type CursorPosition } from './cursor.js';

export const MAX_PAGE_SIZE = 100;

export function indexEntryOf(e: Execution): ExecutionIndexEntry {
  return {
    execution_id: e.execution_id,
    status: e.status,
    workflow_id: e.workflow_id,
    project_id: e.project_id,
    created_by: e.created_by,
    created_at: e.created_at,
    updated_at: e.updated_at,
  };
}

function compare(a: CursorPosition, b: CursorPosition): number {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
  if (a.execution_id !== b.execution_id) return a.execution_id < b.execution_id ? -1 : 1;
  return 0;
}

export class ExecutionIndex {
  /** Ascending by (created_at, execution_id). New executions almost always append. */
  private readonly sorted: ExecutionIndexEntry[] = [];
  private readonly byId = new Map<string, ExecutionIndexEntry>();

  get size(): number {
    return this.byId.size;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get(id: string): ExecutionIndexEntry | undefined {
    return this.byId.get(id);
  }

  /** Adds or updates an entry (created_at never changes for an id). */
  upsert(entry: ExecutionIndexEntry): void {
    const existing = this.byId.get(entry.execution_id);
    if (existing) {
      existing.status = entry.status;
      existing.updated_at = entry.updated_at;
      return;
    }
    const copy = { ...entry };
    this.byId.set(copy.execution_id, copy);
    const last = this.sorted[this.sorted.length - 1];
    if (!last || compare(last, copy) < 0) this.sorted.push(copy);
    else this.sorted.splice(this.lowerBound(copy), 0, copy);
  }

  remove(id: string): void {
    const entry = this.byId.get(id);
    if (!entry) return;
    this.byId.delete(id);
    const i = this.lowerBound(entry);
    if (this.sorted[i] === entry) this.sorted.splice(i, 1);
  }

  /** Bulk load: append unsorted, then sort once. */
  load(entries: Iterable<ExecutionIndexEntry>): void {
    for (const e of entries) {
      if (this.byId.has(e.execution_id)) continue;
      const copy = { ...e };
      this.byId.set(copy.execution_id, copy);
      this.sorted.push(copy);
    }
    this.sorted.sort(compare);
  }

  /** First index whose entry is >= pos. */
  private lowerBound(pos: CursorPosition): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(this.sorted[mid]!, pos) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Ids of one page, newest first, and the cursor of the next page. The cursor encodes the
   * position of the last item, so executions created meanwhile (newer) never shift a page.
   */
  page(query: ExecutionQuery): { ids: string[]; nextCursor: string | null } {
    const limit = Math.min(Math.max(Math.trunc(query.limit) || 1, 1), MAX_PAGE_SIZE);
    const statuses = query.status && query.status.length > 0 ? new Set(query.status) : null;
    const start = query.cursor !== undefined ? this.lowerBound(decodeCursor(query.cursor)) - 1 : this.sorted.length - 1;
    const picked: ExecutionIndexEntry[] = [];
    let more = false;
    for (let i = start; i >= 0; i--) {
      const e = this.sorted[i]!;
      if (statuses && !statuses.has(e.status)) continue;
      if (query.workflowId !== undefined && e.workflow_id !== query.workflowId) continue;
      if (query.projectId !== undefined && e.project_id !== query.projectId) continue;
      if (query.createdBy !== undefined && e.created_by !== query.createdBy) continue;
      if (picked.length === limit) {
        more = true;
        break;
      }
      picked.push(e);
    }
    const last = picked[picked.length - 1];
    return { ids: picked.map((e) => e.execution_id), nextCursor: more && last ? encodeCursor(last) : null };
  }

  idsByStatus(statuses: readonly ExecutionStatus[]): string[] {
    const wanted = new Set(statuses);
    return this.sorted.filter((e) => wanted.has(e.status)).map((e) => e.execution_id);
  }

  countByStatus(): Record<ExecutionStatus, number> {
    const counts = Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0])) as Record<ExecutionStatus, number>;
    for (const e of this.sorted) counts[e.status]++;
    return counts;
  }
}
