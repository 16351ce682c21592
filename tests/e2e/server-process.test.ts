/**
 * End to end, the way an operator and an integrator meet the service: the real server process
 * (`src/server.ts`, temp DATA_DIR, fake model with latency), driven by a client generated from
 * openapi.yaml (openapi-fetch), SIGKILLed in the middle of runs and started again. Every
 * execution must reach `completed` with no step lost and none run more often than allowed.
 */
import createClient from 'openapi-fetch';
import path from 'node:path';
import type { components, paths } from '../../generated/openapi';
import { freePort, spawnProcess, waitFor, type Spawned } from '../support/process';
import { ROOT } from '../support/openapi';
import { removeTempDirs, tempDir } from '../support/temp-dir';

type Execution = components['schemas']['ExecutionResponse'];
type Event = components['schemas']['ExecutionEvent'];

const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
let server: Spawned | undefined;

async function startServer(dataDir: string, port: number): Promise<Spawned> {
  const proc = spawnProcess(TSX, [path.join(ROOT, 'src/server.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      LLM_FAKE_DELAY_MS: '250',
      // A handler that drifts from openapi.yaml answers 500 here too, and the test sees it.
      VALIDATE_RESPONSES: 'true',
      NODE_ENV: 'production',
    },
  });
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
    20_000,
    `server on ${port}\n${proc.output()}`,
  );
  return proc;
}

afterEach(async () => {
  await server?.kill('SIGKILL');
});
afterAll(removeTempDirs);

describe('the server process', () => {
  it('when SIGKILLed mid-run and restarted, then every execution completes with each step run once and within its attempts', async () => {
    const dataDir = await tempDir('hitl-e2e-');
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const client = createClient<paths>({ baseUrl });
    server = await startServer(dataDir, port);

    const get = async (id: string): Promise<Execution> => {
      const { data, error } = await client.GET('/api/v1/executions/{execution_id}', {
        params: { path: { execution_id: id } },
      });
      if (error) throw new Error(JSON.stringify(error));
      return data;
    };

    // project-brief through its gates until task_breakdown is in flight
    const started = await client.POST('/api/v1/workflows/{workflow_id}/start', {
      params: { path: { workflow_id: 'project-brief' } },
      body: { project_id: 'e2e', initial_context: { idea: 'Crash-proof workflow service' } },
    });
    expect(started.response.status).toBe(202);
    const briefId = started.data!.execution_id;
    await waitFor(async () => (await get(briefId)).status === 'waiting_clarification', 10_000, 'clarification');
    const answered = await client.POST('/api/v1/executions/{execution_id}/clarification', {
      params: { path: { execution_id: briefId } },
      body: { answers: { audience: 'Operators' } },
    });
    expect(answered.response.status).toBe(200);
    await waitFor(async () => (await get(briefId)).status === 'waiting_acceptance', 10_000, 'acceptance');
    await client.POST('/api/v1/executions/{execution_id}/acceptance', {
      params: { path: { execution_id: briefId } },
      body: { accepted: true },
    });

    // and a batch of quick summaries, some of which are mid-step when the process dies
    const quick: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await client.POST('/api/v1/workflows/{workflow_id}/start', {
        params: { path: { workflow_id: 'quick-summary' } },
        body: { project_id: `q${i}`, initial_context: { text: `Text number ${i}` } },
      });
      quick.push(r.data!.execution_id);
    }
    await waitFor(
      async () => (await get(briefId)).current_step_id === 'task_breakdown',
      10_000,
      'task_breakdown in flight',
    );

    await server.kill('SIGKILL');
    server = await startServer(dataDir, port);

    for (const id of [briefId, ...quick]) {
      await waitFor(async () => (await get(id)).status === 'completed', 20_000, `${id} completed`);
      const exec = await get(id);
      const { data } = await client.GET('/api/v1/executions/{execution_id}/events', {
        params: { path: { execution_id: id }, query: { limit: 1000 } },
      });
      const events = data!.items as Event[];
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      for (const step of exec.steps) {
        expect([step.step_id, step.status]).toEqual([step.step_id, 'completed']);
        expect(step.attempts).toBeLessThanOrEqual(3);
        const completions = events.filter((e) => e.event_type === 'step_completed' && e.step_id === step.step_id);
        expect([step.step_id, completions.length]).toEqual([step.step_id, 1]);
      }
      expect(exec.completed_steps).toEqual(exec.steps.map((s) => s.step_id));
    }
    const brief = await get(briefId);
    expect(brief.decisions.map((d) => d.type)).toEqual(['clarification', 'acceptance']);
  }, 90_000);

  it('when SIGTERM arrives, then it exits 0 and a restart continues the running executions', async () => {
    const dataDir = await tempDir('hitl-e2e-term-');
    const port = await freePort();
    const client = createClient<paths>({ baseUrl: `http://127.0.0.1:${port}` });
    server = await startServer(dataDir, port);
    const r = await client.POST('/api/v1/workflows/{workflow_id}/start', {
      params: { path: { workflow_id: 'quick-summary' } },
      body: { project_id: 'term', initial_context: { text: 'graceful' } },
    });
    const id = r.data!.execution_id;
    const exited = new Promise<number | null>((resolve) => server!.child.once('exit', (code) => resolve(code)));
    process.kill(-server.child.pid!, 'SIGTERM');
    expect(await exited).toBe(0);
    server = await startServer(dataDir, port);
    await waitFor(
      async () =>
        (await client.GET('/api/v1/executions/{execution_id}', { params: { path: { execution_id: id } } })).data
          ?.status === 'completed',
      20_000,
      'completed after restart',
    );
  }, 60_000);

  it('when a variable is invalid, then start-up stops with a message naming it', async () => {
    const proc = spawnProcess(TSX, [path.join(ROOT, 'src/server.ts')], {
      cwd: ROOT,
      env: { ...process.env, PORT: 'eighty' },
    });
    const code = await new Promise<number | null>((resolve) => proc.child.once('exit', (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(proc.output()).toContain('PORT');
  }, 30_000);
});
