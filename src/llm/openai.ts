/**
 * Any OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM, llama.cpp, LM Studio)
 * through the official `openai` package. The step's output schema goes out as
 * `response_format: json_schema` (or, for servers that only know `json_object`, in the system
 * prompt); the answer is streamed so deltas reach the engine as they arrive.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { Stream } from 'openai/streaming';
import type { TokenUsage } from '../domain/types.js';
import {
  brokenStream,
  controlledCall,
  describe,
  errorFromStatus,
  isSyntaxError,
  type CallControl,
} from './failures.js';
import { LlmError, type ChatMessage, type LlmProvider, type LlmRequest, type LlmResponse } from './port.js';
import {
  ENVELOPE_INSTRUCTIONS,
  clarificationEnvelope,
  isStrictCompatible,
  jsonObjectInstructions,
  sanitizeSchemaName,
  unwrapEnvelope,
  withoutMetaKeywords,
} from './structured-output.js';

type ChatCompletionChunk = OpenAI.Chat.Completions.ChatCompletionChunk;
type ChatCompletion = OpenAI.Chat.Completions.ChatCompletion;
type StreamingParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming;

export interface OpenAiProviderOptions {
  /** e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama). SDK default when unset. */
  baseUrl?: string;
  /** Local servers take any key; one is always sent because the SDK insists on it. */
  apiKey?: string;
  model: string;
  /** Used when a request carries no positive `timeoutMs` of its own. */
  timeoutMs: number;
  /** `json_schema` (default) sends the schema as a constraint; `json_object` for servers without it. */
  responseFormat?: 'json_schema' | 'json_object';
  /** Sent as `max_tokens` when set; left to the server otherwise. */
  maxTokens?: number;
}

export class OpenAiCompatibleLlm implements LlmProvider {
  readonly name = 'openai';
  private readonly client: OpenAI;

  constructor(private readonly options: OpenAiProviderOptions) {
    this.client = new OpenAI({
      baseURL: options.baseUrl,
      apiKey: options.apiKey ?? 'not-needed',
      // The engine retries across attempts with its own backoff; the SDK must not retry as well.
      maxRetries: 0,
      timeout: options.timeoutMs,
      // Every failure is classified and reported by this provider; the SDK's own logging would repeat it.
      logLevel: 'off',
    });
  }

  async complete(req: LlmRequest): Promise<LlmResponse> {
    const timeoutMs = req.timeoutMs > 0 ? req.timeoutMs : this.options.timeoutMs;
    return controlledCall(req.signal, timeoutMs, classify, async (call) => {
      const { body, enveloped } = this.buildBody(req);
      // The raw response lets a server that ignores `stream: true` and answers JSON still work.
      const response = await this.client.chat.completions
        .create(body, { signal: call.signal, timeout: timeoutMs, maxRetries: 0 })
        .asResponse();
      const result = (response.headers.get('content-type') ?? '').includes('text/event-stream')
        ? await readStream(response, call, req.onDelta, this.client)
        : await readJson(response, req.onDelta);
      return {
        text: enveloped ? unwrapEnvelope(result.text) : result.text,
        usage: result.usage,
        model: result.model ?? this.options.model,
      };
    });
  }

  private buildBody(req: LlmRequest): { body: StreamingParams; enveloped: boolean } {
    const base = {
      model: this.options.model,
      stream: true as const,
      stream_options: { include_usage: true },
      ...(this.options.maxTokens ? { max_tokens: this.options.maxTokens } : {}),
    };
    if (this.options.responseFormat === 'json_object') {
      const instructions = jsonObjectInstructions(req.outputSchema, req.mayRequestClarification);
      return {
        body: {
          ...base,
          messages: withSystemNote(req.messages, instructions),
          response_format: { type: 'json_object' },
        },
        enveloped: false,
      };
    }
    const name = sanitizeSchemaName(req.schemaName);
    if (req.mayRequestClarification) {
      const { schema, strict } = clarificationEnvelope(req.outputSchema);
      return {
        body: {
          ...base,
          messages: withSystemNote(req.messages, ENVELOPE_INSTRUCTIONS),
          response_format: { type: 'json_schema', json_schema: { name, schema, strict } },
        },
        enveloped: true,
      };
    }
    const schema = withoutMetaKeywords(req.outputSchema);
    return {
      body: {
        ...base,
        messages: req.messages,
        response_format: { type: 'json_schema', json_schema: { name, schema, strict: isStrictCompatible(schema) } },
      },
      enveloped: false,
    };
  }
}

interface Completion {
  text: string;
  usage: TokenUsage | null;
  model: string | null;
}

async function readStream(
  response: Response,
  call: CallControl,
  onDelta: ((delta: string) => void) | undefined,
  client: OpenAI,
): Promise<Completion> {
  const stream = Stream.fromSSEResponse<ChatCompletionChunk>(response, call.abortController, client);
  let text = '';
  let usage: TokenUsage | null = null;
  let model: string | null = null;
  let finished = false;
  // The SDK's iterator ends quietly when the signal aborts; the caller checks `interruption()`.
  for await (const chunk of stream) {
    model = chunk.model || model;
    if (chunk.usage) usage = toUsage(chunk.usage);
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    const delta = choice.delta?.content;
    if (delta) {
      text += delta;
      onDelta?.(delta);
    }
    if (choice.finish_reason) finished = true;
  }
  if (!finished && !call.interruption()) throw brokenStream('it ended before a finish_reason');
  return { text, usage, model };
}

async function readJson(response: Response, onDelta: ((delta: string) => void) | undefined): Promise<Completion> {
  let completion: ChatCompletion;
  try {
    completion = (await response.json()) as ChatCompletion;
  } catch (err) {
    if (isSyntaxError(err)) throw brokenStream(`the body is not JSON: ${err.message}`);
    throw err;
  }
  const text = completion.choices?.[0]?.message?.content ?? '';
  if (text) onDelta?.(text);
  return { text, usage: completion.usage ? toUsage(completion.usage) : null, model: completion.model ?? null };
}

function toUsage(usage: OpenAI.Completions.CompletionUsage): TokenUsage {
  const prompt = usage.prompt_tokens ?? 0;
  const completion = usage.completion_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: usage.total_tokens ?? prompt + completion,
  };
}

/** Adds provider instructions to the first system message, or as a new one in front. */
export function withSystemNote(messages: ChatMessage[], note: string): ChatMessage[] {
  const [first, ...rest] = messages;
  if (first?.role === 'system') return [{ role: 'system', content: `${first.content}\n\n${note}` }, ...rest];
  return [{ role: 'system', content: note }, ...messages];
}

function classify(err: unknown, call: CallControl): LlmError {
  const interrupted = call.interruption();
  if (interrupted) return interrupted;
  if (err instanceof LlmError) return err;
  if (err instanceof APIConnectionTimeoutError) return new LlmError(describe(err), true, 'timeout');
  if (err instanceof APIUserAbortError) return new LlmError(describe(err), true, 'network');
  if (err instanceof APIConnectionError)
    return new LlmError(`LLM connection failed: ${describe(err)}`, true, 'network');
  if (err instanceof APIError) {
    // A numberless APIError is an `error` object sent inside the stream: the server's fault.
    if (typeof err.status === 'number') return errorFromStatus(err.status, describe(err), err.headers);
    return new LlmError(`LLM stream reported an error: ${describe(err)}`, true, 'server');
  }
  if (isSyntaxError(err)) return brokenStream(`a chunk is not JSON: ${err.message}`);
  // Body reads that fail half-way (`TypeError: terminated`) land here: a dropped connection.
  return new LlmError(`LLM request failed: ${describe(err)}`, true, 'network');
}
