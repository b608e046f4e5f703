// Chooses the storage engine from the configuration: PostgreSQL when DATABASE_URL is set (several
// instances share it), else SQLite under DATA_DIR (one machine). Both the task store and the
// media-stream claims live in the chosen one.
import type { Config } from '../config.js';
import { describeDatabaseUrl } from '../db/url.js';
import type { Logger } from '../telemetry/logger.js';
import { openPgStreamClaims } from '../twilio/pg-stream-claims.js';
import { openSqliteStreamClaims, type StreamClaims } from '../twilio/stream-claims.js';
import { openPgTaskStore } from './pg-store.js';
import { openSqliteTaskStore } from './sqlite-store.js';
import type { TaskStore } from './store.js';

type StorageConfig = Pick<Config, 'databaseUrl' | 'dataDir'>;

/** Opens the task store; with PostgreSQL, connects and migrates first (a failure names the database, never the password). */
export async function openTaskStore(config: StorageConfig, logger: Logger): Promise<TaskStore> {
  if (config.databaseUrl === undefined) return openSqliteTaskStore(config.dataDir);
  const database = describeDatabaseUrl(config.databaseUrl);
  const store = await openPgTaskStore(config.databaseUrl, {
    onIdleError: (error) => logger.warn('an idle PostgreSQL connection broke; the pool replaces it', { database, error: error.message }),
  }).catch((error: Error) => {
    throw new Error(`could not open the task store in PostgreSQL at ${database} (DATABASE_URL): ${error.message}`);
  });
  logger.info('task store: PostgreSQL', { database });
  return store;
}

/** Opens the single-use claims of media-stream tokens beside the tasks. */
export async function openStreamClaims(config: StorageConfig, logger: Logger, clock?: () => number): Promise<StreamClaims> {
  if (config.databaseUrl === undefined) return openSqliteStreamClaims(config.dataDir, clock);
  const database = describeDatabaseUrl(config.databaseUrl);
  return openPgStreamClaims(config.databaseUrl, {
    now: clock,
    onIdleError: (error) => logger.warn('an idle PostgreSQL connection broke; the pool replaces it', { database, error: error.message }),
  }).catch((error: Error) => {
    throw new Error(`could not open the stream claims in PostgreSQL at ${database} (DATABASE_URL): ${error.message}`);
  });
}
