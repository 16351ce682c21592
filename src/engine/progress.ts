/**
 * Batches a step's streamed deltas into `step_progress` events: at most one per interval, and
 * whatever is buffered is flushed before the step's outcome is recorded.
 */
export class ProgressBatcher {
  private buffer = '';
  private lastEmit = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly emit: (delta: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  push(delta: string): void {
    if (delta === '') return;
    this.buffer += delta;
    if (this.timer) return;
    const wait = this.lastEmit + this.intervalMs - this.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.buffer === '') return;
    const delta = this.buffer;
    this.buffer = '';
    this.lastEmit = this.now();
    this.emit(delta);
  }

  discard(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.buffer = '';
  }
}
