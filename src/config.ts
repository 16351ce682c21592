/**
 * Reads and validates the environment once (PRODUCT §7). A bad value stops start-up with a
 * message naming the variable; nothing else in the code reads process.env.
 */
import path from 'node:path';

export type LlmProviderName = 'fake' | 'openai' | 'anthropic';
export type AuthMode = 'none' | 'api-key';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface ApiKeyEntry {
  key: string;
  user: string;
  admin: boolean;
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  workflowsDir: string;
  logLevel: LogLevel;
  llm: {
    provider: LlmProviderName;
    baseUrl: string | null;
    apiKey: string | null;
    model: string | null;
    timeoutMs: number;
    concurrency: number;
    /** `json_object` for OpenAI-compatible servers that do not take `json_schema`. */
    responseFormat: 'json_schema' | 'json_object';
    breakerFailureThreshold: number;
    breakerCooldownMs: number;
    /** `fake` only: milliseconds before each answer, so demos and crash tests see steps in flight. */
    fakeDelayMs: number;
  };
  maxConcurrentExecutions: number;
  auth: { mode: AuthMode; apiKeys: ApiKeyEntry[] };
  corsOrigins: string[];
  bodyLimitBytes: number;
  bodyLimit: string;
  /** Validate every response against openapi.yaml (on in tests; off by default in production). */
  validateResponses: boolean;
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Invalid configuration: ${variable} ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v.trim() === '' ? fallback : v.trim();
}

function optional(env: Env, name: string): string | null {
  const v = env[name];
  return v === undefined || v.trim() === '' ? null : v.trim();
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const v = str(env, name, fallback);
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${v}"`);
  }
  return v as T;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const v = optional(env, name);
  if (v === null) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(v.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(v.toLowerCase())) return false;
  throw new ConfigError(name, `must be true or false, got "${v}"`);
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** `1mb`, `512kb`, `2048` (bytes). */
export function parseSize(name: string, raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(raw.trim());
  if (!m) throw new ConfigError(name, `must be a size such as 1mb, 512kb or 2048, got "${raw}"`);
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]!);
  if (bytes < 1024 || bytes > 100 * 1024 ** 2)
    throw new ConfigError(name, `must be between 1kb and 100mb, got "${raw}"`);
  return bytes;
}

/** `key:user[:admin]`, comma separated. */
export function parseApiKeys(raw: string | null): ApiKeyEntry[] {
  if (raw === null) return [];
  const seen = new Set<string>();
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((entry, i) => {
      const parts = entry.split(':');
      const [key, user, flag] = parts;
      if (parts.length < 2 || parts.length > 3 || !key || !user || (flag !== undefined && flag !== 'admin')) {
        throw new ConfigError('API_KEYS', `entry ${i + 1} must be key:user or key:user:admin`);
      }
      if (key.length < 8) throw new ConfigError('API_KEYS', `entry ${i + 1}: keys must be at least 8 characters`);
      if (seen.has(key)) throw new ConfigError('API_KEYS', `entry ${i + 1}: the same key is listed twice`);
      seen.add(key);
      return { key, user, admin: flag === 'admin' };
    });
}

function url(env: Env, name: string): string | null {
  const v = optional(env, name);
  if (v === null) return null;
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new ConfigError(name, `must be an http(s) URL, got "${v}"`);
  }
  return v;
}

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const provider = oneOf<LlmProviderName>(env, 'LLM_PROVIDER', 'fake', ['fake', 'openai', 'anthropic']);
  const authMode = oneOf<AuthMode>(env, 'AUTH_MODE', 'none', ['none', 'api-key']);
  const apiKeys = parseApiKeys(optional(env, 'API_KEYS'));
  if (authMode === 'api-key' && apiKeys.length === 0) {
    throw new ConfigError('API_KEYS', 'must list at least one key:user when AUTH_MODE=api-key');
  }
  const baseUrl = url(env, 'LLM_BASE_URL');
  const apiKey = optional(env, 'LLM_API_KEY');
  const model = optional(env, 'LLM_MODEL');
  if (provider !== 'fake' && model === null)
    throw new ConfigError('LLM_MODEL', `is required when LLM_PROVIDER=${provider}`);
  if (provider === 'anthropic' && apiKey === null)
    throw new ConfigError('LLM_API_KEY', 'is required when LLM_PROVIDER=anthropic');
  if (provider === 'openai' && apiKey === null && baseUrl === null) {
    throw new ConfigError(
      'LLM_API_KEY',
      'is required for OpenAI itself (set LLM_BASE_URL for a local server that needs no key)',
    );
  }
  const host = str(env, 'HOST', '127.0.0.1');
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(host))
    throw new ConfigError('HOST', `must be a host name or address, got "${host}"`);
  const cors = optional(env, 'CORS_ORIGINS');
  const corsOrigins =
    cors === null
      ? []
      : cors
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError('CORS_ORIGINS', `must be * or origins like https://app.example.com, got "${origin}"`);
    }
  }
  const bodyLimit = str(env, 'BODY_LIMIT', '1mb');
  return {
    port: int(env, 'PORT', 3000, 0, 65535),
    host,
    dataDir: path.resolve(cwd, str(env, 'DATA_DIR', './data')),
    workflowsDir: path.resolve(cwd, str(env, 'WORKFLOWS_DIR', './seeds/workflows')),
    logLevel: oneOf<LogLevel>(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    llm: {
      provider,
      baseUrl,
      apiKey,
      model,
      timeoutMs: int(env, 'LLM_TIMEOUT_MS', 60000, 100, 3_600_000),
      concurrency: int(env, 'LLM_CONCURRENCY', 8, 1, 1000),
      responseFormat: oneOf(env, 'LLM_RESPONSE_FORMAT', 'json_schema', ['json_schema', 'json_object'] as const),
      breakerFailureThreshold: int(env, 'LLM_BREAKER_THRESHOLD', 5, 1, 1000),
      breakerCooldownMs: int(env, 'LLM_BREAKER_COOLDOWN_MS', 30000, 100, 3_600_000),
      fakeDelayMs: int(env, 'LLM_FAKE_DELAY_MS', 0, 0, 600_000),
    },
    maxConcurrentExecutions: int(env, 'MAX_CONCURRENT_EXECUTIONS', 100, 1, 100_000),
    auth: { mode: authMode, apiKeys },
    corsOrigins,
    bodyLimit,
    bodyLimitBytes: parseSize('BODY_LIMIT', bodyLimit),
    validateResponses: bool(env, 'VALIDATE_RESPONSES', false),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10000, 0, 600_000),
  };
}
