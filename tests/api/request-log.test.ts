/** The request log line (src/http/request-log.ts): the request id in, credentials out. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createRequestLog, setOperationId } from '../../src/http/request-log';

async function logOne(
  onRequest: (req: http.IncomingMessage) => void,
  headers: Record<string, string>,
): Promise<string[]> {
  const lines: string[] = [];
  const log = createRequestLog(
    pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) })),
  );
  const server = http.createServer((req, res) => {
    req.id = 'log-7';
    log(req, res);
    setOperationId(res, 'getExecution');
    onRequest(req);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/x?y=1`, { headers });
    return lines;
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

describe('request log', () => {
  it('when a request carries credentials, then its line has the request id, url and operation, and no credential', async () => {
    const lines = await logOne(() => undefined, {
      authorization: 'Bearer secret-1',
      'x-api-key': 'secret-2',
      cookie: 'session=secret-3',
      'user-agent': 'probe/1',
    });
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({
      msg: 'request completed',
      operation: 'getExecution',
      req: {
        id: 'log-7',
        method: 'GET',
        url: '/api/v1/x?y=1',
        headers: {
          authorization: '[redacted]',
          'x-api-key': '[redacted]',
          cookie: '[redacted]',
          'user-agent': 'probe/1',
        },
      },
      res: { statusCode: 200 },
    });
    expect(lines[0]).not.toMatch(/secret-/);
  });

  it('when an error carrying credentials is logged through req.log, then they are redacted', async () => {
    const lines = await logOne(
      (req) =>
        req.log.error(
          {
            err: Object.assign(new Error('boom'), {
              apiKey: 'secret-4',
              headers: { authorization: 'Bearer secret-5' },
            }),
          },
          'failed',
        ),
      {},
    );
    const failed = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'failed');
    expect(failed.err).toMatchObject({
      message: 'boom',
      apiKey: '[redacted]',
      headers: { authorization: '[redacted]' },
    });
    expect(lines.join('')).not.toMatch(/secret-/);
  });
});
