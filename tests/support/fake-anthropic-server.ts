/**
 * A loopback fake of Anthropic's streaming messages API (`POST /v1/messages`): SSE events
 * `message_start`, `content_block_start`, `content_block_delta` (text or `input_json_delta`),
 * `content_block_stop`, `message_delta`, `message_stop`, scriptable per request like the fake
 * OpenAI server. Point the SDK at `url` (no `/v1`: the SDK adds it).
 */
import { ScriptedServer, type Exchange, type RecordedRequest, type ScriptFn } from './scripted-server.js';

export type { RecordedRequest } from './scripted-server.js';

export type FakeAnthropicScript =
  | {
      type: 'reply';
      /** `tool_use` (default) answers with a tool call whose input is `text`; `text` with a text block. */
      block?: 'tool_use' | 'text';
      /** Tool to call (default: the request's first tool). */
      toolName?: string;
      text: string;
      chunks?: string[];
      chunkDelayMs?: number;
      inputTokens?: number;
      outputTokens?: number;
      /** After the content: `done` (default), `hang`, or `drop` the socket. */
      then?: 'done' | 'hang' | 'drop';
    }
  | { type: 'status'; status: number; headers?: Record<string, string>; errorType?: string }
  /** `event: error` inside an otherwise healthy stream, as the API sends for `overloaded_error`. */
  | { type: 'error_event'; errorType: string }
  | { type: 'hang' }
  | { type: 'drop' };

export interface FakeAnthropicServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  enqueue(...scripts: Array<FakeAnthropicScript | ScriptFn<FakeAnthropicScript>>): void;
  request(index: number): Promise<RecordedRequest>;
  reset(): void;
  close(): Promise<void>;
}

export async function startFakeAnthropicServer(): Promise<FakeAnthropicServer> {
  const server = await ScriptedServer.start<FakeAnthropicScript>(answer, { type: 'reply', text: '{}' });
  return {
    url: server.origin,
    requests: server.requests,
    enqueue: (...scripts) => server.enqueue(...scripts),
    request: (index) => server.request(index),
    reset: () => server.reset(),
    close: () => server.close(),
  };
}

interface MessagesBody {
  model?: string;
  tools?: Array<{ name: string }>;
}

async function answer(script: FakeAnthropicScript, ex: Exchange): Promise<void> {
  const { req, res } = ex;
  if (req.method !== 'POST' || req.url !== '/v1/messages') {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(errorBody('not_found_error', `no route ${req.method} ${req.url}`)));
    return;
  }
  const body = (ex.record.body ?? {}) as MessagesBody;
  const model = body.model ?? 'fake-claude';
  switch (script.type) {
    case 'status':
      res.writeHead(script.status, { 'content-type': 'application/json', ...script.headers });
      res.end(JSON.stringify(errorBody(script.errorType ?? 'api_error', `scripted ${script.status}`)));
      return;
    case 'hang':
      return ex.hang();
    case 'drop':
      return ex.drop();
    case 'error_event':
      startSse(ex);
      ex.write(event('message_start', messageStart(model, 5)));
      ex.write(event('error', errorBody(script.errorType, 'scripted stream error')));
      res.end();
      return;
    case 'reply': {
      startSse(ex);
      ex.write(event('message_start', messageStart(model, script.inputTokens ?? 21)));
      const asTool = (script.block ?? 'tool_use') === 'tool_use';
      const toolName = script.toolName ?? body.tools?.[0]?.name ?? 'tool';
      ex.write(
        event('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: asTool
            ? { type: 'tool_use', id: 'toolu_fake', name: toolName, input: {} }
            : { type: 'text', text: '', citations: null },
        }),
      );
      for (const chunk of script.chunks ?? [script.text]) {
        if (script.chunkDelayMs && !(await ex.sleep(script.chunkDelayMs))) return;
        const delta = asTool ? { type: 'input_json_delta', partial_json: chunk } : { type: 'text_delta', text: chunk };
        ex.write(event('content_block_delta', { type: 'content_block_delta', index: 0, delta }));
      }
      if (script.then === 'hang') return ex.hang();
      if (script.then === 'drop') return ex.drop();
      ex.write(event('content_block_stop', { type: 'content_block_stop', index: 0 }));
      ex.write(
        event('message_delta', {
          type: 'message_delta',
          delta: { stop_reason: asTool ? 'tool_use' : 'end_turn', stop_sequence: null },
          usage: { output_tokens: script.outputTokens ?? 9 },
        }),
      );
      ex.write(event('message_stop', { type: 'message_stop' }));
      res.end();
    }
  }
}

function messageStart(model: string, inputTokens: number) {
  return {
    type: 'message_start',
    message: {
      id: 'msg_fake',
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: inputTokens,
        output_tokens: 1,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    },
  };
}

function errorBody(type: string, message: string) {
  return { type: 'error', error: { type, message } };
}

function startSse(ex: Exchange): void {
  ex.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  ex.res.flushHeaders();
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
