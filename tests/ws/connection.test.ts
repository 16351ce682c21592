/**
 * Who may connect, and what a connection that cannot be served gets (PRODUCT §5 and §6,
 * asyncapi.yaml `x-close-codes`): a close with the contract's code and a reason, and nothing left
 * behind on the server. Auth runs against a second service with AUTH_MODE=api-key: the key as
 * `?access_token=` or a header, 4401 without a valid one, and another user's execution is a 4404
 * unless the caller is an admin.
 */
import { randomUUID } from 'node:crypto';
import { CLOSE_CODES } from '../../generated/asyncapi';
import { startTestService, type TestService } from '../support/service-harness';
import { removeTempDirs } from '../support/temp-dir';
import { waitFor } from '../support/wait';
import { MessageValidator, WsClients, type ConnectOptions } from '../support/ws-client';
import { briefWaitingForAnswers } from '../support/flows';

const ALICE = 'key-alice-123';
const BOB = 'key-bob-4567';
const ADMIN = 'key-admin-89';

let svc: TestService;
let clients: WsClients;
let keyed: TestService;
let keyedClients: WsClients;
let aliceExecution: string;

beforeAll(async () => {
  const [service, keyedService, validator] = await Promise.all([
    startTestService(),
    startTestService({ env: { AUTH_MODE: 'api-key', API_KEYS: `${ALICE}:alice,${BOB}:bob,${ADMIN}:root:admin` } }),
    MessageValidator.load(),
  ]);
  svc = service;
  keyed = keyedService;
  clients = new WsClients(validator, () => svc.url);
  keyedClients = new WsClients(validator, () => keyed.url);
  aliceExecution = await briefWaitingForAnswers(keyed, { Authorization: `Bearer ${ALICE}` });
});
afterEach(() => {
  expect([...clients.takeViolations(), ...keyedClients.takeViolations()]).toEqual([]);
});
afterAll(async () => {
  await Promise.all([clients.closeAll(), keyedClients.closeAll()]);
  await Promise.all([svc.stop(), keyed.stop()]);
  await removeTempDirs();
});

async function expectNothingHeld(): Promise<void> {
  await waitFor(() => svc.service.gateway.clientCount() === 0, 'the gateway to hold no client');
  expect(svc.service.gateway.channelCount()).toBe(0);
}

describe('connections that cannot be served', () => {
  it('test_websocket_invalid_execution_id: when the id is not a UUID, then the server closes with 4400 and a reason', async () => {
    for (const bad of ['not-a-uuid', '12345', '3f1c2a4e-8b5d-4e7f-9a10-2b3c4d5e6f7', '%E0%A4%A', 'x%2Fy']) {
      const client = await clients.open(bad);
      expect([bad, await client.waitForClose()]).toEqual([bad, CLOSE_CODES.BAD_REQUEST]);
      expect(client.messages).toEqual([]);
    }
    await expectNothingHeld();
  });

  it('when after_seq is not a non-negative integer, then the server closes with 4400', async () => {
    const id = await briefWaitingForAnswers(svc);
    for (const bad of ['-1', 'abc', '1.5', '', '1e3']) {
      const client = await clients.open(id, { afterSeq: bad });
      expect([bad, await client.waitForClose()]).toEqual([bad, CLOSE_CODES.BAD_REQUEST]);
      expect(client.messages).toEqual([]);
    }
    await expectNothingHeld();
  });

  it('when after_seq is beyond the last stored seq, then the server closes with 4400 saying so, instead of skipping events', async () => {
    const id = await briefWaitingForAnswers(svc);
    const client = await clients.open(id, { afterSeq: '999' });
    const closed = await client.waitForClose();
    expect(closed.code).toBe(CLOSE_CODES.BAD_REQUEST.code);
    expect(closed.reason).toMatch(/beyond the last stored seq/);
    expect(client.messages).toEqual([]);
    await expectNothingHeld();
  });

  it('test_websocket_execution_not_found: when no execution has the id, then the server closes with 4404 and holds nothing for it', async () => {
    const missing = randomUUID();
    const client = await clients.open(missing);

    expect(await client.waitForClose()).toEqual(CLOSE_CODES.NOT_FOUND);
    expect(client.messages).toEqual([]);
    await expectNothingHeld();
    expect(svc.service.engine.bus.listenerCount(missing)).toBe(0);
  });

  it('when the path is not an execution channel, then the upgrade is refused with 404', async () => {
    const base = svc.url.replace(/^http/, 'ws');
    await expect(clients.openUrl(`${base}/api/v1/ws/nothing-here`)).rejects.toThrow('HTTP 404');
    await expect(clients.openUrl(`${base}/api/v1/ws/executions/${randomUUID()}/more`)).rejects.toThrow('HTTP 404');
    // The server is still serving.
    await svc.http().get('/healthz').expect(200);
  });

  it('when a client sends a message, then the server closes with 1008 (the channel is server to client only)', async () => {
    const id = await briefWaitingForAnswers(svc);
    const client = await clients.open(id);
    await client.waitForEvent('snapshot');

    client.ws.send('hello');

    expect(await client.waitForClose()).toEqual(CLOSE_CODES.POLICY_VIOLATION);
    await expectNothingHeld();
  });

  it('when a client sends a message larger than maxPayload, then the server closes with 1009 and a reason', async () => {
    const id = await briefWaitingForAnswers(svc);
    const client = await clients.open(id);
    await client.waitForEvent('snapshot');

    client.ws.send('x'.repeat(64 * 1024));

    expect(await client.waitForClose()).toEqual(CLOSE_CODES.MESSAGE_TOO_BIG);
    await expectNothingHeld();
  });
});

describe('WebSocket auth (api-key)', () => {
  it('when no key is given, then the server closes with 4401 and sends nothing', async () => {
    const client = await keyedClients.open(aliceExecution);
    expect(await client.waitForClose()).toEqual(CLOSE_CODES.UNAUTHENTICATED);
    expect(client.messages).toEqual([]);
  });

  it('when a wrong key is given, then the server closes with 4401', async () => {
    const wrong: ConnectOptions[] = [
      { accessToken: 'key-nobody' },
      { headers: { Authorization: 'Bearer key-nobody' } },
      { headers: { 'X-API-Key': 'key-nobody' } },
    ];
    for (const opts of wrong) {
      const client = await keyedClients.open(aliceExecution, opts);
      expect(await client.waitForClose()).toEqual(CLOSE_CODES.UNAUTHENTICATED);
    }
  });

  it('when the owner gives the key as ?access_token=, Authorization or X-API-Key, then the stream opens with a snapshot', async () => {
    const ways: ConnectOptions[] = [
      { accessToken: ALICE },
      { headers: { Authorization: `Bearer ${ALICE}` } },
      { headers: { 'X-API-Key': ALICE } },
    ];
    for (const opts of ways) {
      const client = await keyedClients.open(aliceExecution, opts);
      const snapshot = await client.waitForEvent('snapshot');
      expect(snapshot.data.execution).toMatchObject({ execution_id: aliceExecution, created_by: 'alice' });
      await client.close();
    }
  });

  it("when another user asks for alice's execution, then the server closes with 4404, as for an unknown one", async () => {
    const client = await keyedClients.open(aliceExecution, { accessToken: BOB });
    expect(await client.waitForClose()).toEqual(CLOSE_CODES.NOT_FOUND);
    expect(client.messages).toEqual([]);
  });

  it("when an admin asks for alice's execution, then the stream opens", async () => {
    const client = await keyedClients.open(aliceExecution, { accessToken: ADMIN });
    expect((await client.waitForEvent('snapshot')).data.execution.created_by).toBe('alice');
    await client.close();
    await waitFor(() => keyed.service.gateway.clientCount() === 0, 'every client to be released');
    expect(keyed.service.gateway.channelCount()).toBe(0);
  });
});
