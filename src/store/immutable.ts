/**
 * Stored records are immutable snapshots. Saving copies what the caller passed and deep-freezes
 * the copy, but shares every part that is already one of our frozen snapshots: the engine builds
 * each new version by spreading the previous one, so a save copies only what changed (a step, a
 * decision), not the whole execution with its definition. Readers get the snapshot itself; no
 * caller can mutate persisted state by accident (a write to it throws), and reads copy nothing.
 */
const snapshots = new WeakSet<object>();

export function freezeShared<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (snapshots.has(value)) return value;
  let copy: object;
  if (Array.isArray(value)) {
    copy = value.map((v: unknown) => freezeShared(v));
  } else {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = freezeShared(v);
    copy = out;
  }
  Object.freeze(copy);
  snapshots.add(copy);
  return copy as T;
}

/** True for values `freezeShared` produced (for tests). */
export function isSnapshot(value: unknown): boolean {
  return value !== null && typeof value === 'object' && snapshots.has(value);
}
