/**
 * `npm run demo`: drives `project-brief` end to end against a running server, as an integrator
 * would, with the HTTP client generated from openapi.yaml (openapi-fetch over generated/openapi.ts)
 * and the WebSocket channel of asyncapi.yaml. It prints the live event stream as a timeline,
 * answers the clarification, rejects the first draft with a comment, accepts the second and
 * prints the final outputs. Anything unexpected (server down, an error answer, a failed or paused
 * execution, no progress for too long) ends it with a message and a non-zero exit code.
 *
 *   API_URL=http://127.0.0.1:3000 API_KEY=... npm run demo
 */
import createClient from 'openapi-fetch';
import WebSocket from 'ws';
import type { components, paths } from '../generated/openapi.js';

type Schemas = components['schemas'];
type ExecutionEvent = Schemas['ExecutionEvent'];
type ExecutionResponse = Schemas['ExecutionResponse'];
type ErrorResponse = Schemas['ErrorResponse'];

export interface DemoOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:3000`. */
  apiUrl: string;
  /** Sent as `Authorization: Bearer <key>` when the server runs with AUTH_MODE=api-key. */
  apiKey?: string | null;
  /** Where the timeline goes (default stdout). */
  out?: { write(text: string): unknown };
  /** The whole run must finish within this (default 60 s). */
  timeoutMs?: number;
  idea?: string;
  projectId?: string;
}

export interface DemoResult {
  executionId: string;
  /** Output of every step, by step id. */
  outputs: Record<string, unknown>;
  usage: Schemas['TokenUsage'];
  elapsedMs: number;
}

/** A failure the demo explains to the user (printed without a stack trace). */
export class DemoError extends Error {
  override name = 'DemoError';
}

export const DEMO_IDEA =
  'A lightweight decision log: a team records product decisions with their context, finds them later, and revisits them when facts change.';
export const DEMO_ANSWERS: Record<string, string> = {
  audience: 'Product teams of 5-20 people who keep losing track of why decisions were made',
  constraints: 'Two engineers, six weeks, must run on our existing Postgres',
};
export const DEMO_REJECTION =
  'Make the success metrics measurable (a number and a time frame) and name at least one risk.';

const WORKFLOW_ID = 'project-brief';
const STREAM_LINE_INTERVAL_MS = 500;

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  return new Demo(options).run();
}

class Demo {
  private readonly apiUrl: string;
  private readonly out: { write(text: string): unknown };
  private readonly timeoutMs: number;
  private readonly abort = new AbortController();
  private readonly client;
  private readonly t0 = performance.now();
  private readonly stepNames = new Map<string, string>();
  private readonly streams = new Map<string, { chars: number; tail: string; printedAt: number; unprinted: boolean }>();
  private readonly decided = new Set<string>();
  private executionId: string | null = null;
  /** Set once the execution has stopped on its own (paused, failed, cancelled): leave it be. */
  private executionStopped = false;
  private lastSeq = 0;
  private waitingFor = 'the server';
  private actions: Promise<void> = Promise.resolve();

  constructor(private readonly options: DemoOptions) {
    this.apiUrl = options.apiUrl.replace(/\/+$/, '');
    this.out = options.out ?? process.stdout;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.client = createClient<paths>({
      baseUrl: this.apiUrl,
      headers: options.apiKey ? { Authorization: `Bearer ${options.apiKey}` } : {},
    });
  }

  async run(): Promise<DemoResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new DemoError(`timed out after ${Math.round(this.timeoutMs / 1000)} s waiting for ${this.waitingFor}`));
      }, this.timeoutMs);
    });
    let socket: WebSocket | null = null;
    try {
      return await Promise.race([
        timeout,
        (async () => {
          const execution = await this.startExecution();
          const finished = this.follow(execution.execution_id, (ws) => (socket = ws));
          await finished;
          return await this.report(execution.execution_id);
        })(),
      ]);
    } catch (err) {
      await this.cancelLeftover();
      throw err;
    } finally {
      clearTimeout(timer);
      this.abort.abort();
      (socket as WebSocket | null)?.terminate();
    }
  }

  // ------------------------------------------------------------------ HTTP

  private async startExecution(): Promise<ExecutionResponse> {
    this.write(`Demo: ${WORKFLOW_ID} against ${this.apiUrl}\n`);
    const workflow = await this.call('GET workflow', () =>
      this.client.GET('/api/v1/workflows/{workflow_id}', {
        params: { path: { workflow_id: WORKFLOW_ID } },
        signal: this.abort.signal,
      }),
    );
    for (const step of workflow.steps) this.stepNames.set(step.id, step.name);
    this.write(
      `Workflow: ${workflow.name} (v${workflow.version}), steps: ${workflow.steps.map((s) => s.id).join(' -> ')}\n`,
    );

    const projectId = this.options.projectId ?? `demo-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}`;
    const idea = this.options.idea ?? DEMO_IDEA;
    const execution = await this.call('POST start', () =>
      this.client.POST('/api/v1/workflows/{workflow_id}/start', {
        params: { path: { workflow_id: WORKFLOW_ID } },
        body: { project_id: projectId, initial_context: { idea } },
        signal: this.abort.signal,
      }),
    );
    this.executionId = execution.execution_id;
    this.write(`Execution ${execution.execution_id} (project ${projectId}): ${execution.status}\n`);
    this.write(`Idea: ${idea}\n\n`);
    return execution;
  }

  /** Runs one API call; anything but a 2xx answer becomes a DemoError naming the call. */
  private async call<T>(
    what: string,
    send: () => Promise<{ data?: T; error?: unknown; response: Response }>,
  ): Promise<T> {
    let result: { data?: T; error?: unknown; response: Response };
    try {
      result = await send();
    } catch (err) {
      if (this.abort.signal.aborted) throw new DemoError(`${what} was interrupted`);
      throw new DemoError(
        `cannot reach the server at ${this.apiUrl} (${describe(err)}). Is it running? Start it with \`npm start\` or set API_URL.`,
      );
    }
    if (result.data !== undefined && result.response.ok) return result.data;
    const body = result.error as Partial<ErrorResponse> | undefined;
    const detail = body?.error_code ? `${body.error_code}: ${body.message}` : JSON.stringify(body ?? null);
    const retry = result.response.headers.get('retry-after');
    throw new DemoError(
      `${what} answered ${result.response.status} ${detail}${retry ? ` (Retry-After: ${retry} s)` : ''}`,
    );
  }

  private async report(executionId: string): Promise<DemoResult> {
    const execution = await this.call('GET execution', () =>
      this.client.GET('/api/v1/executions/{execution_id}', {
        params: { path: { execution_id: executionId } },
        signal: this.abort.signal,
      }),
    );
    if (execution.status !== 'completed') {
      throw new DemoError(`the execution ended ${execution.status}: ${execution.error ?? 'no error given'}`);
    }
    const outputs: Record<string, unknown> = {};
    this.write('\nFinal outputs\n=============\n');
    for (const step of execution.steps) {
      outputs[step.step_id] = step.output;
      this.write(`\n${this.nameOf(step.step_id)} (${step.step_id}):\n`);
      this.write(`${indent(JSON.stringify(step.output, null, 2), '  ')}\n`);
    }
    const { usage } = execution;
    const decisions = execution.decisions.map((d) => `${d.type}${d.accepted === false ? ' (rejected)' : ''}`);
    this.write(
      `\nTokens: ${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion = ${usage.total_tokens}\n` +
        `Decisions: ${decisions.join(', ')}\n` +
        `Done in ${this.elapsed()}: ${this.apiUrl}/api/v1/executions/${executionId}\n`,
    );
    return { executionId, outputs, usage, elapsedMs: performance.now() - this.t0 };
  }

  /** When the demo gives up on an execution that is still going, it does not leave it behind. */
  private async cancelLeftover(): Promise<void> {
    if (!this.executionId || this.executionStopped) return;
    try {
      const res = await this.client.POST('/api/v1/executions/{execution_id}/cancel', {
        params: { path: { execution_id: this.executionId } },
        signal: AbortSignal.timeout(2000),
      });
      if (res.response.ok) this.write(`(cancelled execution ${this.executionId})\n`);
    } catch {
      // The server may be gone: nothing left to clean up then.
    }
  }

  // ------------------------------------------------------------------ WebSocket

  /** Follows the execution's events until it completes; reacts to its gates on the way. */
  private follow(executionId: string, onSocket: (ws: WebSocket) => void): Promise<void> {
    const wsUrl = `${this.apiUrl.replace(/^http/, 'ws')}/api/v1/ws/executions/${executionId}?after_seq=0`;
    this.waitingFor = 'the WebSocket connection';
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: unknown): void => {
        if (done) return;
        done = true;
        if (err) reject(err instanceof Error ? err : new DemoError(String(err)));
        else resolve();
      };
      const ws = new WebSocket(wsUrl, {
        headers: this.options.apiKey ? { Authorization: `Bearer ${this.options.apiKey}` } : {},
      });
      onSocket(ws);
      ws.on('open', () => {
        this.waitingFor = 'the first event';
      });
      ws.on('unexpected-response', (_req, res) => {
        finish(new DemoError(`the WebSocket upgrade was refused: HTTP ${res.statusCode}`));
      });
      ws.on('error', (err) => finish(new DemoError(`WebSocket error: ${describe(err)}`)));
      ws.on('close', (code, reason) => {
        // The server closes with 1000 after the terminal event; that event already settled it.
        finish(new DemoError(`the WebSocket closed early: ${code} ${reason.toString() || '(no reason)'}`));
      });
      ws.on('message', (raw) => {
        let event: ExecutionEvent;
        try {
          event = JSON.parse(raw.toString()) as ExecutionEvent;
        } catch {
          finish(new DemoError(`the server sent a message that is not JSON: ${raw.toString().slice(0, 80)}`));
          return;
        }
        try {
          const outcome = this.onEvent(event);
          if (outcome === 'completed') {
            // Settle after the decisions in flight, so their errors are not lost.
            this.actions.then(() => finish(), finish);
          } else if (outcome) {
            finish(outcome);
          }
        } catch (err) {
          finish(err);
        }
        this.actions = this.actions.catch((err: unknown) => finish(err));
      });
    });
  }

  /** Prints one event and schedules the reaction to it; says when the run is over. */
  private onEvent(event: ExecutionEvent): 'completed' | DemoError | null {
    if (event.event_type !== 'step_progress') {
      if (event.seq <= this.lastSeq && event.event_type !== 'snapshot') return null;
      this.lastSeq = event.seq;
      if (event.step_id) this.flushStream(event.step_id);
    }
    switch (event.event_type) {
      case 'snapshot': {
        const e = event.data.execution;
        this.line('*', 'snapshot', `${e.status}, ${e.completed_steps.length} step(s) done`);
        if (e.pending_clarification) this.answer(e.pending_clarification);
        if (e.pending_acceptance) this.review(e.pending_acceptance.step_id, e.pending_acceptance.revision);
        return null;
      }
      case 'execution_started':
        this.line('>', 'execution started', `${event.data.workflow_id} v${event.data.workflow_version}`);
        this.waitingFor = 'the first step';
        return null;
      case 'step_started': {
        const { step_name, step_type, attempt, revision } = event.data;
        const id = event.step_id ?? '?';
        this.stepNames.set(id, step_name);
        this.streams.delete(id);
        const extra = [
          step_type,
          attempt > 0 ? `attempt ${attempt}` : null,
          revision > 0 ? `revision ${revision}` : null,
        ];
        this.line('>', step_name, `started (${extra.filter(Boolean).join(', ')})`);
        this.waitingFor = `step ${id}`;
        return null;
      }
      case 'step_progress':
        this.stream(event.step_id ?? '?', event.data.delta);
        return null;
      case 'step_completed': {
        const { usage, attempts } = event.data;
        const tokens = usage ? `, ${usage.total_tokens} tokens` : '';
        this.line(
          '+',
          this.nameOf(event.step_id),
          `completed (${attempts} attempt(s)${tokens}): ${summarize(event.data.output)}`,
        );
        return null;
      }
      case 'step_failed': {
        const { error, will_retry, retry_in_ms } = event.data;
        this.line(
          '!',
          this.nameOf(event.step_id),
          `failed: ${error}${will_retry ? ` (retrying in ${retry_in_ms} ms)` : ''}`,
        );
        return null;
      }
      case 'waiting_clarification': {
        const pending = event.data.pending_clarification;
        this.line('?', this.nameOf(pending.step_id), `asks: ${pending.questions.map((q) => q.text).join(' / ')}`);
        this.answer(pending);
        return null;
      }
      case 'clarification_submitted':
        this.line('<', this.nameOf(event.step_id), `answered by ${event.data.actor}`);
        return null;
      case 'waiting_acceptance': {
        const pending = event.data.pending_acceptance;
        this.line(
          '?',
          this.nameOf(pending.step_id),
          `revision ${pending.revision} waits for review: ${summarize(pending.output)}`,
        );
        this.review(pending.step_id, pending.revision);
        return null;
      }
      case 'acceptance_submitted': {
        const { accepted, comment, actor, revision } = event.data;
        const verdict = accepted ? 'accepted' : `rejected ("${comment ?? ''}")`;
        this.line('<', this.nameOf(event.step_id), `revision ${revision} ${verdict} by ${actor}`);
        return null;
      }
      case 'execution_resumed':
        this.line('>', 'execution resumed', `by ${event.data.actor}`);
        return null;
      case 'execution_completed':
        this.line('#', 'execution completed', `steps: ${event.data.completed_steps.join(', ')}`);
        this.waitingFor = 'the final state';
        return 'completed';
      case 'execution_paused':
        this.executionStopped = true;
        this.line('#', 'execution paused', event.data.error ?? '');
        return new DemoError(
          `the execution paused: ${event.data.error ?? 'no error given'}. ` +
            `Once the model is reachable again: POST /api/v1/executions/${event.execution_id}/resume`,
        );
      case 'execution_failed':
        this.executionStopped = true;
        this.line('#', 'execution failed', event.data.error);
        return new DemoError(`the execution failed: ${event.data.error}`);
      case 'execution_cancelled':
        this.executionStopped = true;
        this.line('#', 'execution cancelled', `by ${event.data.actor}`);
        return new DemoError(`the execution was cancelled by ${event.data.actor}`);
      default:
        return null;
    }
  }

  /** Answers a clarification once: the demo's answers where it has them, a neutral one otherwise. */
  private answer(pending: Schemas['ClarificationPending']): void {
    const { step_id: stepId, questions } = pending;
    // A model may ask again after its answers: each opening of the gate has its own time.
    const key = `clarification:${stepId}:${pending.requested_at}`;
    if (this.decided.has(key)) return;
    this.decided.add(key);
    const answers: Record<string, string> = {};
    for (const q of questions) {
      const known = DEMO_ANSWERS[q.id];
      if (known) answers[q.id] = known;
      else if (q.required) answers[q.id] = 'No particular preference; use your judgement.';
    }
    this.act(`answering ${stepId}`, async () => {
      for (const [id, text] of Object.entries(answers)) this.line(' ', `  ${id}`, text);
      await this.call('POST clarification', () =>
        this.client.POST('/api/v1/executions/{execution_id}/clarification', {
          params: { path: { execution_id: this.executionId! } },
          body: { answers },
          signal: this.abort.signal,
        }),
      );
    });
  }

  /** The first revision of a gated step is sent back with a comment; the next one is accepted. */
  private review(stepId: string, revision: number): void {
    const key = `acceptance:${stepId}:${revision}`;
    if (this.decided.has(key)) return;
    this.decided.add(key);
    const accept = revision > 0;
    this.act(`reviewing ${stepId}`, async () => {
      this.line(' ', '  reviewer', accept ? 'accepts' : `rejects: "${DEMO_REJECTION}"`);
      await this.call('POST acceptance', () =>
        this.client.POST('/api/v1/executions/{execution_id}/acceptance', {
          params: { path: { execution_id: this.executionId! } },
          body: accept ? { accepted: true } : { accepted: false, comment: DEMO_REJECTION },
          signal: this.abort.signal,
        }),
      );
    });
  }

  private act(what: string, action: () => Promise<void>): void {
    this.waitingFor = what;
    this.actions = this.actions.then(action);
  }

  // ------------------------------------------------------------------ output

  /** Streamed text, shown compactly: at most one line per step every half second. */
  private stream(stepId: string, delta: string): void {
    const s = this.streams.get(stepId) ?? { chars: 0, tail: '', printedAt: Number.NEGATIVE_INFINITY, unprinted: false };
    s.chars += delta.length;
    s.tail = (s.tail + delta).slice(-400);
    s.unprinted = true;
    this.streams.set(stepId, s);
    if (performance.now() - s.printedAt >= STREAM_LINE_INTERVAL_MS) this.flushStream(stepId);
  }

  private flushStream(stepId: string): void {
    const s = this.streams.get(stepId);
    if (!s?.unprinted) return;
    s.unprinted = false;
    s.printedAt = performance.now();
    const tail = s.tail.replace(/\s+/g, ' ').trim();
    this.line('~', this.nameOf(stepId), `${String(s.chars).padStart(5)} chars streamed ...${tail.slice(-60)}`);
  }

  private nameOf(stepId: string | null | undefined): string {
    if (!stepId) return '-';
    return this.stepNames.get(stepId) ?? stepId;
  }

  private elapsed(): string {
    return `${((performance.now() - this.t0) / 1000).toFixed(2)}s`;
  }

  private line(mark: string, label: string, detail: string): void {
    this.write(`${`+${this.elapsed()}`.padStart(8)}  ${mark} ${label.padEnd(28)} ${detail}\n`);
  }

  private write(text: string): void {
    this.out.write(text);
  }
}

/** One line for an output: its title when it has one, else compact JSON. */
function summarize(output: unknown): string {
  if (output && typeof output === 'object' && !Array.isArray(output)) {
    const o = output as Record<string, unknown>;
    if (typeof o.title === 'string') return `"${o.title}"`;
    if (Array.isArray(o.tasks)) return `${o.tasks.length} task(s)`;
  }
  const text = JSON.stringify(output) ?? 'null';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((l) => prefix + l)
    .join('\n');
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: string }).code;
    return code ? `${err.message}: ${code}` : `${err.message}: ${cause.message}`;
  }
  return err.message;
}

async function main(): Promise<void> {
  const timeout = process.env.DEMO_TIMEOUT_MS;
  try {
    await runDemo({
      apiUrl: process.env.API_URL || 'http://127.0.0.1:3000',
      apiKey: process.env.API_KEY || null,
      timeoutMs: timeout && /^\d+$/.test(timeout) ? Number(timeout) : 60_000,
    });
  } catch (err) {
    process.stderr.write(`\ndemo failed: ${err instanceof DemoError ? err.message : describe(err)}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  void main();
}
