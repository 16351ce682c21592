/**
 * Claude through the official `@anthropic-ai/sdk` messages API, streamed.
 *
 * JSON output is constrained with a forced tool call: the tool `submit_output` has the step's
 * output schema as its `input_schema` and `tool_choice` names it, so the model's tool input is
 * the output. This works on every Claude model and takes any JSON Schema (native structured
 * outputs reject some keywords). When the step may ask for clarification a second tool,
 * `ask_clarification`, takes `{"questions": [...]}` and `tool_choice: any` lets the model pick
 * one of the two. Streamed `input_json_delta` fragments are the deltas handed to `onDelta`.
 */
import Anthropic, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from '@anthropic-ai/sdk';
import { Stream } from '@anthropic-ai/sdk/streaming';
import type { JsonSchema, TokenUsage } from '../domain/types.js';
import {
  brokenStream,
  controlledCall,
  describe,
  errorFromStatus,
  isSyntaxError,
  type CallControl,
} from './failures.js';
import { LlmError, type LlmProvider, type LlmRequest, type LlmResponse } from './port.js';
import { QUESTIONS_SCHEMA, isRecord, relocate, typeIncludes, withoutMetaKeywords } from './structured-output.js';

type StreamEvent = Anthropic.Messages.RawMessageStreamEvent;
type StreamingParams = Anthropic.Messages.MessageCreateParamsStreaming;
type ToolInputSchema = Anthropic.Messages.Tool.InputSchema;

export const OUTPUT_TOOL = 'submit_output';
export const QUESTIONS_TOOL = 'ask_clarification';
const DEFAULT_MAX_TOKENS = 4096;

export interface AnthropicProviderOptions {
  /** Without `/v1`, e.g. `https://api.anthropic.com` (the SDK default when unset). */
  baseUrl?: string;
  apiKey: string;
  model: string;
  /** Used when a request carries no positive `timeoutMs` of its own. */
  timeoutMs: number;
  /** The messages API requires a cap on output tokens. */
  maxTokens?: number;
}

export class AnthropicLlm implements LlmProvider {
  readonly name = 'anthropic';
  private readonly client: Anthropic;

  constructor(private readonly options: AnthropicProviderOptions) {
    this.client = new Anthropic({
      apiKey: options.apiKey,
      baseURL: options.baseUrl,
      // The engine retries across attempts with its own backoff; the SDK must not retry as well.
      maxRetries: 0,
      timeout: options.timeoutMs,
      logLevel: 'off',
    });
  }

  async complete(req: LlmRequest): Promise<LlmResponse> {
    const timeoutMs = req.timeoutMs > 0 ? req.timeoutMs : this.options.timeoutMs;
    return controlledCall(req.signal, timeoutMs, classify, async (call) => {
      const { body, wrapped } = this.buildBody(req);
      const response = await this.client.messages
        .create(body, { signal: call.signal, timeout: timeoutMs, maxRetries: 0 })
        .asResponse();
      const result = await readStream(response, call, req.onDelta, this.client);
      return { text: answerText(result, wrapped), usage: result.usage, model: result.model ?? this.options.model };
    });
  }

  private buildBody(req: LlmRequest): { body: StreamingParams; wrapped: boolean } {
    const system = req.messages
      .filter((m) => m.role === 'system')
      .map((m) => m.content)
      .join('\n\n');
    const messages = req.messages
      .filter((m) => m.role !== 'system')
      .map((m) => ({ role: m.role as 'user' | 'assistant', content: m.content }));
    const { schema, wrapped } = toolInputSchema(req.outputSchema);
    const tools: Anthropic.Messages.Tool[] = [
      {
        name: OUTPUT_TOOL,
        description: 'Submit the answer. The tool input is the answer itself, as the schema describes.',
        input_schema: schema,
      },
    ];
    if (req.mayRequestClarification) {
      tools.push({
        name: QUESTIONS_TOOL,
        description:
          'Ask a person clarifying questions instead of answering. Use it only when the answer cannot be ' +
          'produced without more information; give each question a short snake_case id.',
        input_schema: QUESTIONS_SCHEMA as ToolInputSchema,
      });
    }
    return {
      body: {
        model: this.options.model,
        max_tokens: this.options.maxTokens ?? DEFAULT_MAX_TOKENS,
        stream: true,
        ...(system ? { system } : {}),
        messages,
        tools,
        tool_choice: req.mayRequestClarification
          ? { type: 'any', disable_parallel_tool_use: true }
          : { type: 'tool', name: OUTPUT_TOOL, disable_parallel_tool_use: true },
      },
      wrapped,
    };
  }
}

/** A tool's input must be an object: any other output schema is wrapped as `{value: ...}`. */
function toolInputSchema(outputSchema: JsonSchema): { schema: ToolInputSchema; wrapped: boolean } {
  if (typeIncludes(outputSchema, 'object') && !Array.isArray(outputSchema.type)) {
    return { schema: { ...withoutMetaKeywords(outputSchema), type: 'object' }, wrapped: false };
  }
  const { schema, hoisted } = relocate(outputSchema, '/properties/value');
  return {
    schema: { type: 'object', properties: { value: schema }, required: ['value'], ...hoisted },
    wrapped: true,
  };
}

interface Block {
  type: string;
  name: string | null;
  content: string;
}

interface StreamResult {
  blocks: Block[];
  usage: TokenUsage | null;
  model: string | null;
}

async function readStream(
  response: Response,
  call: CallControl,
  onDelta: ((delta: string) => void) | undefined,
  client: Anthropic,
): Promise<StreamResult> {
  const stream = Stream.fromSSEResponse<StreamEvent>(response, call.abortController, client);
  const blocks: Block[] = [];
  let model: string | null = null;
  let inputTokens = 0;
  let outputTokens = 0;
  let sawUsage = false;
  let stopped = false;
  // The SDK's iterator ends quietly when the signal aborts; the caller checks `interruption()`.
  for await (const event of stream) {
    switch (event.type) {
      case 'message_start': {
        model = event.message.model || model;
        const usage = event.message.usage;
        if (usage) {
          sawUsage = true;
          inputTokens =
            (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
          outputTokens = usage.output_tokens ?? 0;
        }
        break;
      }
      case 'content_block_start': {
        const block = event.content_block;
        blocks[event.index] = {
          type: block.type,
          name: block.type === 'tool_use' ? block.name : null,
          content: block.type === 'text' ? block.text : '',
        };
        break;
      }
      case 'content_block_delta': {
        const block = blocks[event.index];
        const delta = event.delta;
        const piece =
          delta.type === 'input_json_delta' ? delta.partial_json : delta.type === 'text_delta' ? delta.text : '';
        if (block && piece) {
          block.content += piece;
          onDelta?.(piece);
        }
        break;
      }
      case 'message_delta': {
        const usage = event.usage;
        if (usage) {
          sawUsage = true;
          // Cumulative counts: the last message_delta has the totals.
          outputTokens = usage.output_tokens ?? outputTokens;
          if (usage.input_tokens != null) {
            inputTokens =
              usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
          }
        }
        break;
      }
      case 'message_stop':
        stopped = true;
        break;
      default:
        break;
    }
  }
  if (!stopped && !call.interruption()) throw brokenStream('it ended before message_stop');
  const usage = sawUsage
    ? { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens }
    : null;
  return { blocks: blocks.filter(Boolean), usage, model };
}

/** The engine's view: the output JSON, or `{"questions": [...]}` when the model asked. */
function answerText(result: StreamResult, wrapped: boolean): string {
  const tool = result.blocks.find((b) => b.type === 'tool_use');
  if (!tool) {
    return result.blocks
      .filter((b) => b.type === 'text')
      .map((b) => b.content)
      .join('');
  }
  const json = tool.content.trim() === '' ? '{}' : tool.content;
  if (tool.name === QUESTIONS_TOOL) return json;
  if (!wrapped) return json;
  try {
    const input: unknown = JSON.parse(json);
    return isRecord(input) && 'value' in input ? JSON.stringify(input.value) : json;
  } catch {
    return json;
  }
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
    if (typeof err.status === 'number') return errorFromStatus(err.status, describe(err), err.headers);
    return fromStreamErrorEvent(err);
  }
  if (isSyntaxError(err)) return brokenStream(`an event is not JSON: ${err.message}`);
  return new LlmError(`LLM request failed: ${describe(err)}`, true, 'network');
}

/** An `event: error` inside the stream carries only the error type, not an HTTP status. */
function fromStreamErrorEvent(err: APIError): LlmError {
  const message = `LLM stream reported an error: ${describe(err)}`;
  switch (err.type) {
    case 'rate_limit_error':
      return new LlmError(message, true, 'rate_limited');
    case 'timeout_error':
      return new LlmError(message, true, 'timeout');
    case 'invalid_request_error':
    case 'authentication_error':
    case 'permission_error':
    case 'billing_error':
    case 'not_found_error':
      return new LlmError(message, false, 'client');
    default:
      return new LlmError(message, true, 'server');
  }
}
