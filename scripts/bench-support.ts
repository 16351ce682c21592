/** What the HTTP and end-to-end benchmarks share: free ports and server processes to load. */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..');

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => res(port));
    });
  });
}

export interface ServerProcess {
  proc: ChildProcess;
  url: string;
  /** SIGTERM (graceful) unless `signal` says otherwise; resolves when the process has exited. */
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

async function waitUntilUp(url: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url, { headers })).status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${url}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts `command args` with PORT set (and `$PORT` in args replaced) and waits until `probePath`
 * answers below 500.
 */
export async function startProcess(
  command: string,
  args: string[],
  env: Record<string, string>,
  probePath: string,
  headers: Record<string, string> = {},
): Promise<ServerProcess> {
  const port = await freePort();
  const proc = spawn(
    command,
    args.map((a) => a.replace('$PORT', String(port))),
    {
      cwd: ROOT,
      env: { ...process.env, ...env, PORT: String(port) },
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true,
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntilUp(url + probePath, headers, 60_000);
  return {
    proc,
    url,
    stop: (signal = 'SIGTERM') =>
      new Promise<void>((res) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return res();
        proc.once('exit', () => res());
        process.kill(-proc.pid!, signal);
      }),
  };
}

/**
 * The compiled service (`npm start` runs `dist/src/server.js`) with production settings.
 * BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles it (written at exit).
 */
export function startServer(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return startProcess(
    process.execPath,
    [...nodeArgs, join(ROOT, 'dist/src/server.js')],
    { LOG_LEVEL: 'info', NODE_ENV: 'production', HOST: '127.0.0.1', DATA_DIR: dataDir, ...env },
    '/readyz',
  );
}
