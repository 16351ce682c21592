/**
 * A lowdb adapter that makes each write durable: write a temp file, fsync it, rename it over the
 * target, fsync the directory, and only then resolve. A crash at any point leaves either the
 * previous version or the new one, never a torn file. (lowdb's own TextFile renames but never
 * fsyncs.)
 */
import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import type { Adapter } from 'lowdb';

/**
 * fsyncs one directory, coalescing concurrent requests: a caller that renamed a file waits for a
 * sync that started after its rename, and many concurrent savers share one sync.
 */
export class DirSyncer {
  private handle: FileHandle | null = null;
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(readonly dir: string) {}

  async open(): Promise<void> {
    this.handle ??= await open(this.dir, 'r');
  }

  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.doSync().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    this.next ??= this.running.then(
      () => this.restart(),
      () => this.restart(),
    );
    return this.next;
  }

  private restart(): Promise<void> {
    this.next = null;
    return this.sync();
  }

  private async doSync(): Promise<void> {
    if (this.handle) {
      await this.handle.sync();
      return;
    }
    const h = await open(this.dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  }

  async close(): Promise<void> {
    await this.running?.catch(() => undefined);
    await this.next?.catch(() => undefined);
    const h = this.handle;
    this.handle = null;
    await h?.close();
  }
}

let tempCounter = 0;

/** Replaces `path` with `text` durably (see the module comment). */
export async function writeFileDurably(path: string, text: string, dir: DirSyncer): Promise<void> {
  const temp = `${path}.${process.pid}.${++tempCounter}.tmp`;
  const handle = await open(temp, 'w', 0o644);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await dir.sync();
}

export interface DurableFileFormat<T> {
  parse(text: string): T;
  stringify(data: T): string;
}

export class DurableJsonFile<T> implements Adapter<T> {
  constructor(
    readonly filename: string,
    private readonly dir: DirSyncer,
    private readonly format: DurableFileFormat<T> = {
      parse: (text) => JSON.parse(text) as T,
      stringify: (data) => JSON.stringify(data),
    },
  ) {}

  /** null when the file does not exist; throws when it exists but cannot be parsed. */
  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.filename, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return this.format.parse(text);
  }

  write(data: T): Promise<void> {
    return writeFileDurably(this.filename, this.format.stringify(data), this.dir);
  }
}
