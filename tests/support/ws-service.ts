/**
 * One service and its WebSocket clients for a test file: started before all tests, every message
 * every client received checked against asyncapi.yaml after each test, everything closed after all.
 */
import { startTestService, type TestService, type TestServiceOptions } from './service-harness.js';
import { removeTempDirs } from './temp-dir.js';
import { MessageValidator, WsClients } from './ws-client.js';

export interface WsTestEnv {
  svc: TestService;
  clients: WsClients;
  validator: MessageValidator;
}

/** Registers the hooks; the returned object is filled in once `beforeAll` has run. */
export function useWsTestService(options: TestServiceOptions = {}): WsTestEnv {
  const env = {} as WsTestEnv;
  beforeAll(async () => {
    const [svc, validator] = await Promise.all([startTestService(options), MessageValidator.load()]);
    Object.assign(env, { svc, validator, clients: new WsClients(validator, () => svc.url) });
  });
  afterEach(() => {
    expect(env.clients.takeViolations()).toEqual([]);
  });
  afterAll(async () => {
    await env.clients?.closeAll();
    await env.svc?.stop();
    await removeTempDirs();
  });
  return env;
}
