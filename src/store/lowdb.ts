/**
 * The durable adapter: one lowdb document per execution (its state and its events) under
 * `<DATA_DIR>/executions/<id>.json`, written through `DurableJsonFile` (fsync + rename + dir
 * fsync). Saving one execution costs the same whether 10 or 50,000 are stored; start-up reads
 * only each file's head line into a compact index; full records are read on demand and kept in
 * a small LRU.
 */
import { mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Low } from 'lowdb';
import type { AnyExecutionEvent, Execution, ExecutionStatus } from '../domain/types.js';
import { silentLogger, type Logger } from '../domain/logger.js';
import { ExecutionIndex, indexEntryOf } from './execution-index.js';
import { DirSyncer, DurableJsonFile, writeFileDurably } from './durable-file.js';
import { isExpired } from './memory.js';
import type {
  ExecutionIndexEntry,
  ExecutionPage,
  ExecutionQuery,
  ExecutionStore,
  IdempotencyRecord,
  IdempotencyStore,
} from './port.js';
import { freezeShared } from './immutable.js';
import { assertAppendable, eventsAfter, SAFE_ID, type StoredRecord } from './records.js';
import { CorruptRecordError, parseRecord, readRecordHead, serializeRecord } from './record-file.js';

export interface LowdbStoreOptions {
  /** DATA_DIR; executions live in `<dataDir>/executions`. */
  dataDir: string;
  logger?: Logger;
  /** Full records kept in memory (most recently used). Default 500. */
  cacheSize?: number;
  clock?: () => Date;
}

export interface LoadStats {
  loaded: number;
  corrupt: string[];
  ms: number;
}

const RECORD_SUFFIX = '.json';

function corruptName(path: string, now: Date): string {
  return `${path}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
}

export class LowdbExecutionStore implements ExecutionStore {
  readonly dir: string;
  private readonly logger: Logger;
  private readonly cacheSize: number;
  private readonly clock: () => Date;
  private readonly index = new ExecutionIndex();
  /** LRU of open documents: Map keeps insertion order, the first key is the least recent. */
  private readonly cache = new Map<string, Low<StoredRecord>>();
  /** Per-execution chain: disk reads and writes of one record never interleave. */
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly dirSync: DirSyncer;
  private initialized = false;
  /** The probe in flight: concurrent readiness checks share it (one probe file per process). */
  private probing: Promise<boolean> | undefined;
  loadStats: LoadStats = { loaded: 0, corrupt: [], ms: 0 };

  constructor(options: LowdbStoreOptions) {
    this.dir = join(options.dataDir, 'executions');
    this.logger = options.logger ?? silentLogger;
    this.cacheSize = Math.max(1, options.cacheSize ?? 500);
    this.clock = options.clock ?? (() => new Date());
    this.dirSync = new DirSyncer(this.dir);
  }

  async init(): Promise<void> {
    if (this.initialized) return;
    const started = performance.now();
    await mkdir(this.dir, { recursive: true });
    await this.dirSync.open();
    const names = await readdir(this.dir);
    const entries: ExecutionIndexEntry[] = [];
    const corrupt: string[] = [];
    for (const name of names) {
      if (!name.endsWith(RECORD_SUFFIX)) continue;
      const id = name.slice(0, -RECORD_SUFFIX.length);
      const path = join(this.dir, name);
      try {
        if (!SAFE_ID.test(id)) throw new CorruptRecordError('file name is not an execution id');
        entries.push(readRecordHead(path, id));
      } catch (err) {
        if (err instanceof CorruptRecordError) corrupt.push(await this.setAside(path, err.message));
        else {
          // Unreadable rather than malformed (permissions, a directory): leave it exactly as it is.
          this.logger.warn({ file: path, err }, 'unreadable execution file skipped');
          corrupt.push(path);
        }
      }
    }
    this.index.load(entries);
    this.initialized = true;
    this.loadStats = { loaded: entries.length, corrupt, ms: performance.now() - started };
    this.logger.info(
      { dir: this.dir, executions: entries.length, corrupt: corrupt.length, ms: Math.round(this.loadStats.ms) },
      'execution store loaded',
    );
  }

  /** Renames an unreadable file out of the way (never overwrites or deletes it) and says so. */
  private async setAside(path: string, reason: string): Promise<string> {
    const target = corruptName(path, this.clock());
    try {
      await rename(path, target);
      this.logger.warn({ file: path, moved_to: target, reason }, 'unreadable execution file set aside');
      return target;
    } catch (err) {
      this.logger.warn({ file: path, reason, err }, 'unreadable execution file skipped (could not rename it)');
      return path;
    }
  }

  private pathOf(id: string): string {
    return join(this.dir, `${id}${RECORD_SUFFIX}`);
  }

  private document(id: string): Low<StoredRecord> {
    return new Low<StoredRecord>(
      new DurableJsonFile<StoredRecord>(this.pathOf(id), this.dirSync, {
        parse: (text) => parseRecord(text, id),
        stringify: serializeRecord,
      }),
      // Low needs a default; it is replaced by read() or by the first write.
      { execution: null as unknown as Execution, events: [] },
    );
  }

  private withChain<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(id) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const tail = result.catch(() => undefined);
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
    return result;
  }

  private remember(id: string, doc: Low<StoredRecord>): void {
    this.cache.delete(id);
    this.cache.set(id, doc);
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }

  /** The record of `id` from the cache or disk; null when unknown or found unreadable. Call in the chain. */
  private async load(id: string): Promise<Low<StoredRecord> | null> {
    const cached = this.cache.get(id);
    if (cached) {
      this.remember(id, cached);
      return cached;
    }
    if (!this.index.has(id)) return null;
    const doc = this.document(id);
    try {
      await doc.read();
    } catch (err) {
      if (!(err instanceof CorruptRecordError)) throw err;
      await this.setAside(this.pathOf(id), err.message);
      this.index.remove(id);
      return null;
    }
    if (!doc.data.execution) {
      this.index.remove(id);
      return null;
    }
    doc.data = freezeShared(doc.data);
    this.remember(id, doc);
    return doc;
  }

  private async read(id: string): Promise<StoredRecord | null> {
    this.assertReady();
    if (!SAFE_ID.test(id) || !this.index.has(id)) return null;
    const cached = this.cache.get(id);
    if (cached) {
      this.remember(id, cached);
      return cached.data;
    }
    const doc = await this.withChain(id, () => this.load(id));
    return doc ? doc.data : null;
  }

  async create(execution: Execution, events: readonly AnyExecutionEvent[]): Promise<void> {
    this.assertReady();
    const id = execution.execution_id;
    if (!SAFE_ID.test(id)) throw new Error(`Unsafe execution id ${JSON.stringify(id)}`);
    await this.withChain(id, async () => {
      if (this.index.has(id)) throw new Error(`Execution ${id} already exists`);
      assertAppendable(0, execution, events);
      const doc = this.document(id);
      const record: StoredRecord = freezeShared({ execution, events: [...events] });
      await doc.adapter.write(record);
      doc.data = record;
      this.index.upsert(indexEntryOf(execution));
      this.remember(id, doc);
    });
  }

  async save(execution: Execution, appendedEvents: readonly AnyExecutionEvent[]): Promise<void> {
    this.assertReady();
    const id = execution.execution_id;
    await this.withChain(id, async () => {
      const doc = SAFE_ID.test(id) ? await this.load(id) : null;
      if (!doc) throw new Error(`Execution ${id} does not exist`);
      const previous = doc.data;
      assertAppendable(previous.execution.last_seq, execution, appendedEvents);
      const next: StoredRecord = freezeShared({ execution, events: [...previous.events, ...appendedEvents] });
      // Readers keep seeing the previous version until the new one is durable.
      await doc.adapter.write(next);
      doc.data = next;
      this.index.upsert(indexEntryOf(execution));
    });
  }

  async get(executionId: string): Promise<Execution | null> {
    const record = await this.read(executionId);
    return record ? record.execution : null;
  }

  async list(query: ExecutionQuery): Promise<ExecutionPage> {
    this.assertReady();
    const { ids, nextCursor } = this.index.page(query);
    const items: Execution[] = [];
    for (const id of ids) {
      const record = await this.read(id);
      if (record) items.push(record.execution);
    }
    return { items, nextCursor };
  }

  async events(executionId: string, afterSeq: number, limit: number): Promise<AnyExecutionEvent[]> {
    const record = await this.read(executionId);
    return record ? eventsAfter(record.events, afterSeq, limit) : [];
  }

  async idsByStatus(statuses: readonly ExecutionStatus[]): Promise<string[]> {
    this.assertReady();
    return this.index.idsByStatus(statuses);
  }

  countByStatus(): Record<ExecutionStatus, number> {
    return this.index.countByStatus();
  }

  isWritable(): Promise<boolean> {
    this.probing ??= this.probe().finally(() => (this.probing = undefined));
    return this.probing;
  }

  private async probe(): Promise<boolean> {
    const probe = join(this.dir, `.probe-${process.pid}`);
    try {
      await writeFileDurably(probe, 'ok', this.dirSync);
      await unlink(probe);
      return true;
    } catch (err) {
      this.logger.warn({ err, dir: this.dir }, 'execution store is not writable');
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.chains.values()]);
    await this.dirSync.close();
    this.cache.clear();
  }

  private assertReady(): void {
    if (!this.initialized) throw new Error('LowdbExecutionStore.init() was not awaited');
  }
}

export interface FileIdempotencyStoreOptions {
  dataDir: string;
  /** Records older than this are ignored. Default 24 h. */
  ttlMs?: number;
  logger?: Logger;
  clock?: () => Date;
}

/** Idempotency records as one durable file each under `<dataDir>/idempotency/`, named by hash. */
export class FileIdempotencyStore implements IdempotencyStore {
  readonly dir: string;
  private readonly dirSync: DirSyncer;
  private readonly logger: Logger;
  private readonly ttlMs: number;
  private readonly clock: () => Date;

  constructor(options: FileIdempotencyStoreOptions) {
    this.dir = join(options.dataDir, 'idempotency');
    this.dirSync = new DirSyncer(this.dir);
    this.logger = options.logger ?? silentLogger;
    this.ttlMs = options.ttlMs ?? 24 * 60 * 60 * 1000;
    this.clock = options.clock ?? (() => new Date());
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.dirSync.open();
  }

  private document(scopeKey: string): Low<IdempotencyRecord | null> {
    const name = createHash('sha256').update(scopeKey).digest('hex');
    return new Low<IdempotencyRecord | null>(new DurableJsonFile(join(this.dir, `${name}.json`), this.dirSync), null);
  }

  async get(scopeKey: string): Promise<IdempotencyRecord | null> {
    const doc = this.document(scopeKey);
    try {
      await doc.read();
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      const file = (doc.adapter as DurableJsonFile<unknown>).filename;
      const target = corruptName(file, this.clock());
      await rename(file, target).catch(() => undefined);
      this.logger.warn({ file, moved_to: target, err }, 'unreadable idempotency record set aside');
      return null;
    }
    const record = doc.data;
    if (!record || typeof record !== 'object' || typeof record.body_hash !== 'string') return null;
    return isExpired(record, this.ttlMs, this.clock) ? null : record;
  }

  async put(scopeKey: string, record: IdempotencyRecord): Promise<void> {
    const doc = this.document(scopeKey);
    doc.data = structuredClone(record);
    await doc.write();
  }

  async close(): Promise<void> {
    await this.dirSync.close();
  }
}
