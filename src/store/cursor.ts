/** Opaque list cursors: base64url of the (created_at, execution_id) of a page's last item. */
import { DomainError } from '../domain/errors.js';

export interface CursorPosition {
  created_at: string;
  execution_id: string;
}

export function encodeCursor(pos: CursorPosition): string {
  return Buffer.from(JSON.stringify([pos.created_at, pos.execution_id]), 'utf8').toString('base64url');
}

/** @throws DomainError VALIDATION_ERROR when the cursor was not made by `encodeCursor` */
export function decodeCursor(cursor: string): CursorPosition {
  const invalid = (): DomainError =>
    new DomainError('VALIDATION_ERROR', 'Malformed cursor', {
      errors: [{ path: 'cursor', message: 'malformed cursor' }],
    });
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    typeof parsed[0] !== 'string' ||
    typeof parsed[1] !== 'string' ||
    Number.isNaN(Date.parse(parsed[0])) ||
    parsed[1].length === 0
  ) {
    throw invalid();
  }
  return { created_at: parsed[0], execution_id: parsed[1] };
}
