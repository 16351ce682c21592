/**
 * A small OpenAI-compatible chat-completions server on loopback for provider and engine tests:
 * `POST /v1/chat/completions` answering JSON or SSE (`data: {...}\n\n` chunks, `data: [DONE]`),
 * scriptable per request (text, chunking and delays, error statuses with headers, hangs,
 * malformed JSON, broken SSE, dropped connections), recording every request.
 *
 *   const llm = await startFakeOpenAiServer();
 *   llm.enqueue({ type: 'reply', text: '{"summary":"hi"}', chunks: ['{"summary":', '"hi"}'] });
 *   llm.enqueue({ type: 'status', status: 429, headers: { 'retry-after': '2' } });
 *   ... new OpenAiCompatibleLlm({ baseUrl: llm.url, ... })
 *   expect(llm.requests[0].body).toMatchObject({ response_format: { type: 'json_schema' } });
 *   await llm.close();
 */
import { ScriptedServer, type Exchange, type RecordedRequest, type ScriptFn } from './scripted-server.js';

export type { RecordedRequest } from './scripted-server.js';

export interface FakeUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type FakeOpenAiScript =
  | {
      type: 'reply';
      /** The full answer (default `{}`); split into `chunks` when streaming, if given. */
      text?: string;
      chunks?: string[];
      /** Pause before each chunk. */
      chunkDelayMs?: number;
      /** Usage in the final chunk (or the JSON body); null leaves it out. Defaults to 11/7/18. */
      usage?: FakeUsage | null;
      model?: string;
      finishReason?: string;
      /** `sse` or `json`; default follows the request's `stream` flag. */
      mode?: 'sse' | 'json';
      /**
       * After the content chunks: `done` (finish chunk, usage, `[DONE]`, default), `hang` (keep
       * the connection open, send nothing more), `drop` (destroy the socket), `end` (end the
       * response cleanly but without a finish or `[DONE]`).
       */
      then?: 'done' | 'hang' | 'drop' | 'end';
    }
  | { type: 'status'; status: number; headers?: Record<string, string>; body?: unknown }
  /** Accept the request and never send the headers. */
  | { type: 'hang' }
  /** Destroy the socket as soon as the request is read. */
  | { type: 'drop' }
  /** 200 application/json with a body that is not JSON. */
  | { type: 'malformed_json' }
  /** An SSE stream whose first event's data is not JSON. */
  | { type: 'broken_sse' }
  /** An SSE stream that sends an `{"error": ...}` object after some chunks. */
  | { type: 'stream_error'; chunks?: string[]; message?: string };

export const DEFAULT_USAGE: FakeUsage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
export const DEFAULT_MODEL = 'fake-gpt';

export interface FakeOpenAiServer {
  /** Base URL for the SDK, ending in `/v1`. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  enqueue(...scripts: Array<FakeOpenAiScript | ScriptFn<FakeOpenAiScript>>): void;
  setDefault(script: FakeOpenAiScript | ScriptFn<FakeOpenAiScript>): void;
  /** The `index`-th request since the last reset, once it has arrived. */
  request(index: number): Promise<RecordedRequest>;
  reset(): void;
  close(): Promise<void>;
}

export async function startFakeOpenAiServer(): Promise<FakeOpenAiServer> {
  const server = await ScriptedServer.start<FakeOpenAiScript>(answer, { type: 'reply', text: '{}' });
  return {
    url: `${server.origin}/v1`,
    requests: server.requests,
    enqueue: (...scripts) => server.enqueue(...scripts),
    setDefault: (script) => server.setDefault(script),
    request: (index) => server.request(index),
    reset: () => server.reset(),
    close: () => server.close(),
  };
}

async function answer(script: FakeOpenAiScript, ex: Exchange): Promise<void> {
  const { req, res } = ex;
  if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } }));
    return;
  }
  const body = (ex.record.body ?? {}) as { stream?: boolean; model?: string };
  switch (script.type) {
    case 'status':
      res.writeHead(script.status, { 'content-type': 'application/json', ...script.headers });
      res.end(JSON.stringify(script.body ?? { error: { message: `scripted ${script.status}`, type: 'scripted' } }));
      return;
    case 'hang':
      return ex.hang();
    case 'drop':
      return ex.drop();
    case 'malformed_json':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id": "chatcmpl-1", "choices": [');
      return;
    case 'broken_sse':
      startSse(ex);
      ex.write('data: {"id": "chatcmpl-1", "choices": [{"delta": {"content": "x"\n\n');
      ex.write('data: [DONE]\n\n');
      res.end();
      return;
    case 'stream_error':
      startSse(ex);
      for (const chunk of script.chunks ?? []) ex.write(sse(chunkOf(body.model ?? DEFAULT_MODEL, { content: chunk })));
      ex.write(sse({ error: { message: script.message ?? 'upstream failed mid-stream', type: 'server_error' } }));
      res.end();
      return;
    case 'reply':
      return reply(script, ex, body);
  }
}

async function reply(
  script: Extract<FakeOpenAiScript, { type: 'reply' }>,
  ex: Exchange,
  body: { stream?: boolean; model?: string },
): Promise<void> {
  const text = script.text ?? script.chunks?.join('') ?? '{}';
  const model = script.model ?? body.model ?? DEFAULT_MODEL;
  const usage = script.usage === undefined ? DEFAULT_USAGE : script.usage;
  const mode = script.mode ?? (body.stream ? 'sse' : 'json');
  if (mode === 'json') {
    if (script.chunkDelayMs && !(await ex.sleep(script.chunkDelayMs))) return;
    ex.res.writeHead(200, { 'content-type': 'application/json' });
    ex.res.end(
      JSON.stringify({
        id: 'chatcmpl-fake',
        object: 'chat.completion',
        created: 0,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text },
            finish_reason: script.finishReason ?? 'stop',
            logprobs: null,
          },
        ],
        ...(usage ? { usage } : {}),
      }),
    );
    return;
  }
  startSse(ex);
  ex.write(sse(chunkOf(model, { role: 'assistant', content: '' })));
  for (const chunk of script.chunks ?? [text]) {
    if (script.chunkDelayMs && !(await ex.sleep(script.chunkDelayMs))) return;
    ex.write(sse(chunkOf(model, { content: chunk })));
  }
  switch (script.then ?? 'done') {
    case 'hang':
      return ex.hang();
    case 'drop':
      return ex.drop();
    case 'end':
      ex.res.end();
      return;
    case 'done':
      ex.write(sse(chunkOf(model, {}, script.finishReason ?? 'stop')));
      if (usage) ex.write(sse({ ...chunkOf(model, {}), choices: [], usage }));
      ex.write('data: [DONE]\n\n');
      ex.res.end();
  }
}

function startSse(ex: Exchange): void {
  ex.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  ex.res.flushHeaders();
}

function chunkOf(model: string, delta: Record<string, unknown>, finishReason: string | null = null) {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created: 0,
    model,
    choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
  };
}

function sse(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}
