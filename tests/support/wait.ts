/** Polling waits for background work (the engine runs executions on its own). */
import type { Actor, WorkflowEngine } from '../../src/engine/api.js';
import type { Execution, ExecutionStatus } from '../../src/domain/types.js';

export const ADMIN: Actor = { id: 'anonymous', admin: true };

export async function waitFor<T>(
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function waitForStatus(
  engine: WorkflowEngine,
  executionId: string,
  status: ExecutionStatus | ExecutionStatus[],
  timeoutMs = 5000,
): Promise<Execution> {
  const wanted = Array.isArray(status) ? status : [status];
  let last: ExecutionStatus | undefined;
  try {
    return await waitFor(
      async () => {
        const e = await engine.get(executionId, ADMIN);
        last = e.status;
        return wanted.includes(e.status) ? e : null;
      },
      `${executionId} to be ${wanted.join('|')}`,
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message} (last status: ${last})`);
  }
}
