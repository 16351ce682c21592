/**
 * The on-disk format of one execution: a single JSON document whose first line is a small head
 * (format version, index entry, byte length of the rest), so start-up reads only the head of each
 * file and still notices a truncated one.
 *
 *   {"head":{"v":1,"body_bytes":N,"index":{...}},
 *   "execution":{...},"events":[...]}
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../domain/types.js';
import { indexEntryOf } from './execution-index.js';
import type { ExecutionIndexEntry } from './port.js';
import type { StoredRecord } from './records.js';

const FORMAT_VERSION = 1;
const HEAD_PREFIX = '{"head":';

export class CorruptRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CorruptRecordError';
  }
}

export function serializeRecord(record: StoredRecord): string {
  const body = `"execution":${JSON.stringify(record.execution)},"events":${JSON.stringify(record.events)}}`;
  const head = {
    v: FORMAT_VERSION,
    body_bytes: Buffer.byteLength(body, 'utf8'),
    index: indexEntryOf(record.execution),
  };
  // JSON.stringify escapes newlines inside strings, so this is the file's first newline.
  return `${HEAD_PREFIX}${JSON.stringify(head)},\n${body}`;
}

export function parseRecord(text: string, expectedId?: string): StoredRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CorruptRecordError(`not valid JSON: ${(err as Error).message}`);
  }
  const doc = parsed as { head?: { v?: unknown }; execution?: { execution_id?: unknown }; events?: unknown };
  if (typeof doc !== 'object' || doc === null || doc.head?.v !== FORMAT_VERSION) {
    throw new CorruptRecordError('missing or unknown head');
  }
  if (typeof doc.execution !== 'object' || doc.execution === null || !Array.isArray(doc.events)) {
    throw new CorruptRecordError('missing execution or events');
  }
  if (expectedId !== undefined && doc.execution.execution_id !== expectedId) {
    throw new CorruptRecordError(`holds execution ${String(doc.execution.execution_id)}, expected ${expectedId}`);
  }
  return { execution: doc.execution, events: doc.events } as StoredRecord;
}

const STATUSES = new Set<string>(EXECUTION_STATUSES);

function isIndexEntry(v: unknown): v is ExecutionIndexEntry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e.execution_id === 'string' &&
    typeof e.status === 'string' &&
    STATUSES.has(e.status) &&
    typeof e.workflow_id === 'string' &&
    typeof e.project_id === 'string' &&
    typeof e.created_by === 'string' &&
    typeof e.created_at === 'string' &&
    typeof e.updated_at === 'string'
  );
}

const headBuffer = Buffer.alloc(64 * 1024);

/**
 * Reads the index entry of one record file from its first line, synchronously (start-up only:
 * one open/read/fstat/close per file is far cheaper than parsing every record).
 * @throws CorruptRecordError
 */
export function readRecordHead(path: string, expectedId: string): ExecutionIndexEntry {
  const fd = openSync(path, 'r');
  try {
    const bytes = readSync(fd, headBuffer, 0, headBuffer.length, 0);
    const newline = headBuffer.subarray(0, bytes).indexOf(0x0a);
    if (newline < 0) throw new CorruptRecordError('no head line');
    const line = headBuffer.toString('utf8', 0, newline);
    if (!line.startsWith(HEAD_PREFIX) || !line.endsWith(',')) throw new CorruptRecordError('malformed head line');
    let head: { v?: unknown; body_bytes?: unknown; index?: unknown };
    try {
      head = JSON.parse(line.slice(HEAD_PREFIX.length, -1)) as typeof head;
    } catch {
      throw new CorruptRecordError('head is not valid JSON');
    }
    if (head.v !== FORMAT_VERSION || typeof head.body_bytes !== 'number' || !isIndexEntry(head.index)) {
      throw new CorruptRecordError('head has unknown version or fields');
    }
    if (head.index.execution_id !== expectedId) throw new CorruptRecordError('head names another execution');
    const size = fstatSync(fd).size;
    if (size !== newline + 1 + head.body_bytes) {
      throw new CorruptRecordError(`size ${size} does not match head (${newline + 1 + head.body_bytes}): truncated?`);
    }
    return {
      execution_id: head.index.execution_id,
      status: head.index.status as ExecutionStatus,
      workflow_id: head.index.workflow_id,
      project_id: head.index.project_id,
      created_by: head.index.created_by,
      created_at: head.index.created_at,
      updated_at: head.index.updated_at,
    };
  } finally {
    closeSync(fd);
  }
}
