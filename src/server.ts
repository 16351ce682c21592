/**
 * `npm start`: read the environment, start the service, stop gracefully on SIGTERM/SIGINT
 * (running executions stay `running` on disk and continue at the next start).
 */
import { ConfigError, loadConfig } from './config.js';
import { DefinitionError } from './engine/registry.js';
import { createLogger, startService } from './service.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config);
  let service;
  try {
    service = await startService(config, { logger });
  } catch (err) {
    if (err instanceof DefinitionError) {
      logger.fatal(`Invalid workflow definitions:\n${err.message}`);
      process.exit(2);
    }
    logger.fatal({ err }, 'start-up failed');
    process.exit(1);
  }

  let signalled = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    signalled = true;
    logger.info(`${signal}: shutting down`);
    const timer = setTimeout(() => {
      logger.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms: exiting`);
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

void main();
