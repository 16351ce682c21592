/**
 * `npm run demo` (scripts/demo.ts) against the real service, whose model is the OpenAI-compatible
 * provider talking to a loopback chat-completions server: it must drive project-brief to the end
 * and print the timeline, and it must fail loudly (non-zero exit) when anything goes wrong.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { DEMO_ANSWERS, DEMO_REJECTION, DemoError, runDemo } from '../../scripts/demo.js';
import type { RecordedRequest } from '../support/fake-openai-server.js';
import { freePort } from '../support/process.js';
import { TASKS, brief, startLlmService, type LlmService, type SentBody } from './harness.js';

const ROOT = path.resolve(__dirname, '..', '..');

let svc: LlmService;
beforeAll(async () => {
  svc = await startLlmService();
});
afterEach(() => svc.reset());
afterAll(async () => {
  await svc.stop();
});

/** Answers each step by the schema it was sent, streamed in small chunks. */
function modelByStep(record: RecordedRequest) {
  const body = record.body as SentBody;
  const step = body.response_format.json_schema?.name;
  const revision = body.messages.some((m) => m.content.includes(DEMO_REJECTION)) ? 2 : 1;
  const text = JSON.stringify(step === 'task_breakdown' ? TASKS : brief(`Decision log, draft ${revision}`));
  return { type: 'reply' as const, chunks: text.match(/.{1,12}/g)!, chunkDelayMs: 2 };
}

function capture(): { out: { write: (s: string) => void }; text: () => string } {
  let text = '';
  return { out: { write: (s: string) => void (text += s) }, text: () => text };
}

describe('npm run demo', () => {
  it('when the server is up, then it answers the clarification, rejects the first draft, accepts the second and prints the timeline and outputs', async () => {
    svc.model.setDefault(modelByStep);
    const { out, text } = capture();

    const result = await runDemo({ apiUrl: svc.service.url, out, timeoutMs: 15_000 });

    const execution = await svc.get(result.executionId);
    expect(execution.status).toBe('completed');
    expect(result.outputs).toEqual({
      clarify_goals: DEMO_ANSWERS,
      draft_brief: brief('Decision log, draft 2'),
      task_breakdown: TASKS,
    });
    expect(execution.decisions).toEqual([
      expect.objectContaining({ type: 'clarification', answers: DEMO_ANSWERS }),
      expect.objectContaining({ type: 'acceptance', accepted: false, comment: DEMO_REJECTION }),
      expect.objectContaining({ type: 'acceptance', accepted: true }),
    ]);
    // The reviewer's comment reached the model.
    expect(svc.model.requests).toHaveLength(3);
    expect(JSON.stringify(svc.model.requests[1]!.body)).toContain(DEMO_REJECTION);

    const printed = text();
    for (const expected of [
      `Execution ${result.executionId}`,
      'execution started',
      'Clarify goals',
      'Product teams of 5-20 people',
      'Draft the project brief',
      'chars streamed',
      'revision 0 waits for review: "Decision log, draft 1"',
      `rejects: "${DEMO_REJECTION}"`,
      'revision 1 waits for review: "Decision log, draft 2"',
      'accepts',
      'Break the brief into tasks',
      'completed (1 attempt(s), 18 tokens): 1 task(s)',
      'execution completed',
      'Final outputs',
      '"title": "Decision log, draft 2"',
      '"estimate_days": 2',
      'Tokens: 33 prompt + 21 completion = 54',
      'Decisions: clarification, acceptance (rejected), acceptance',
    ]) {
      expect(printed).toContain(expected);
    }
    // Every timeline line starts with the elapsed time.
    const timeline = printed.split('\n').filter((l) => /^\s+\+\d+\.\d\ds /.test(l));
    expect(timeline.length).toBeGreaterThan(15);
  });

  it('when the server requires an API key, then the demo sends API_KEY on HTTP and WebSocket, and a wrong key is a clear 401', async () => {
    const secured = await startLlmService({ env: { AUTH_MODE: 'api-key', API_KEYS: 'demo-key-123:alice' } });
    try {
      secured.model.setDefault(modelByStep);

      const wrong = runDemo({ apiUrl: secured.service.url, apiKey: 'not-the-key', out: capture().out });
      await expect(wrong).rejects.toThrow(DemoError);
      await expect(wrong).rejects.toThrow(/answered 401 UNAUTHENTICATED/);

      const result = await runDemo({ apiUrl: secured.service.url, apiKey: 'demo-key-123', out: capture().out });
      const execution = (
        await secured.http().get(`/api/v1/executions/${result.executionId}`).set('Authorization', 'Bearer demo-key-123')
      ).body as { status: string; created_by: string };
      expect(execution).toMatchObject({ status: 'completed', created_by: 'alice' });
    } finally {
      await secured.stop();
    }
  });

  it('when the model fails for good, then the demo stops with the execution error', async () => {
    svc.model.setDefault({ type: 'status', status: 401 });

    await expect(runDemo({ apiUrl: svc.service.url, out: capture().out })).rejects.toThrow(
      /the execution failed: LLM_ERROR: step draft_brief/,
    );
  });

  it('when the model stays unavailable, then the demo stops with the pause and leaves the execution paused, to be resumed', async () => {
    svc.model.setDefault({ type: 'status', status: 503 });
    const { out, text } = capture();

    await expect(runDemo({ apiUrl: svc.service.url, out })).rejects.toThrow(
      /the execution paused: LLM_UNAVAILABLE: step draft_brief: .*POST \/api\/v1\/executions\/[0-9a-f-]{36}\/resume/,
    );
    const id = /Execution ([0-9a-f-]{36})/.exec(text())![1]!;
    expect((await svc.get(id)).status).toBe('paused');
    expect(text()).toContain('(retrying in');
  });

  it('when nothing happens for too long, then the demo times out naming what it waited for, and cancels its execution', async () => {
    svc.model.setDefault({ type: 'hang' });
    const { out, text } = capture();

    await expect(runDemo({ apiUrl: svc.service.url, out, timeoutMs: 1000 })).rejects.toThrow(
      /timed out after 1 s waiting for step draft_brief/,
    );
    const id = /Execution ([0-9a-f-]{36})/.exec(text())![1]!;
    expect((await svc.get(id)).status).toBe('cancelled');
  });

  it('when no server listens at API_URL, then `tsx scripts/demo.ts` exits non-zero with a clear message', async () => {
    const port = await freePort();
    const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/demo.ts'], {
      cwd: ROOT,
      env: { ...process.env, API_URL: `http://127.0.0.1:${port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));

    expect(code).toBe(1);
    expect(stderr).toContain(`demo failed: cannot reach the server at http://127.0.0.1:${port}`);
    expect(stderr).toContain('ECONNREFUSED');
  });
});
