/** PRODUCT §7: the environment, its defaults, and a start-up error that names the bad variable. */
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';

const CWD = '/srv/hitl';

describe('configuration', () => {
  it('when nothing is set, then every default of PRODUCT §7 applies', () => {
    const c = loadConfig({}, CWD);
    expect(c).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      dataDir: path.join(CWD, 'data'),
      workflowsDir: path.join(CWD, 'seeds/workflows'),
      logLevel: 'info',
      maxConcurrentExecutions: 100,
      auth: { mode: 'none', apiKeys: [] },
      corsOrigins: [],
      bodyLimit: '1mb',
      bodyLimitBytes: 1024 * 1024,
    });
    expect(c.llm).toMatchObject({
      provider: 'fake',
      baseUrl: null,
      apiKey: null,
      model: null,
      timeoutMs: 60000,
      concurrency: 8,
    });
  });

  it('when values are set, then they are used', () => {
    const c = loadConfig(
      {
        PORT: '8080',
        HOST: '0.0.0.0',
        DATA_DIR: '/var/lib/hitl',
        LLM_PROVIDER: 'openai',
        LLM_BASE_URL: 'http://127.0.0.1:11434/v1',
        LLM_MODEL: 'llama3.1',
        LLM_TIMEOUT_MS: '120000',
        LLM_CONCURRENCY: '2',
        MAX_CONCURRENT_EXECUTIONS: '10',
        AUTH_MODE: 'api-key',
        API_KEYS: 'key-alice-123:alice, key-root-456:root:admin',
        CORS_ORIGINS: 'https://app.example.com,http://localhost:5173',
        BODY_LIMIT: '256kb',
      },
      CWD,
    );
    expect(c.port).toBe(8080);
    expect(c.dataDir).toBe('/var/lib/hitl');
    expect(c.llm).toMatchObject({
      provider: 'openai',
      baseUrl: 'http://127.0.0.1:11434/v1',
      model: 'llama3.1',
      timeoutMs: 120000,
      concurrency: 2,
    });
    expect(c.auth.apiKeys).toEqual([
      { key: 'key-alice-123', user: 'alice', admin: false },
      { key: 'key-root-456', user: 'root', admin: true },
    ]);
    expect(c.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(c.bodyLimitBytes).toBe(256 * 1024);
  });

  it.each([
    ['PORT', { PORT: 'eighty' }],
    ['PORT', { PORT: '70000' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['LLM_PROVIDER', { LLM_PROVIDER: 'gpt' }],
    ['LLM_MODEL', { LLM_PROVIDER: 'openai', LLM_BASE_URL: 'http://127.0.0.1:1/v1' }],
    ['LLM_API_KEY', { LLM_PROVIDER: 'anthropic', LLM_MODEL: 'claude' }],
    ['LLM_BASE_URL', { LLM_BASE_URL: 'not a url' }],
    ['LLM_TIMEOUT_MS', { LLM_TIMEOUT_MS: '-5' }],
    ['LLM_CONCURRENCY', { LLM_CONCURRENCY: '0' }],
    ['MAX_CONCURRENT_EXECUTIONS', { MAX_CONCURRENT_EXECUTIONS: 'lots' }],
    ['AUTH_MODE', { AUTH_MODE: 'jwt' }],
    ['API_KEYS', { AUTH_MODE: 'api-key' }],
    ['API_KEYS', { AUTH_MODE: 'api-key', API_KEYS: 'short:bob' }],
    ['API_KEYS', { AUTH_MODE: 'api-key', API_KEYS: 'key-alice-123:alice:root' }],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'app.example.com' }],
    ['BODY_LIMIT', { BODY_LIMIT: 'huge' }],
    ['BODY_LIMIT', { BODY_LIMIT: '1gb' }],
  ])('when %s is bad (%j), then loading fails naming it', (variable, env) => {
    let error: unknown;
    try {
      loadConfig(env as Record<string, string>, CWD);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toContain(variable);
  });
});
