// Opens the room sessions beside the tasks: PostgreSQL with DATABASE_URL, else the SQLite file
// under DATA_DIR (the tasks/open-store.ts choice, made the same way).
import type { Config } from '../config.js';
import { describeDatabaseUrl } from '../db/url.js';
import type { Logger } from '../telemetry/logger.js';
import { openPgSessionStore } from './pg-store.js';
import { openSqliteSessionStore } from './sqlite-store.js';
import type { SessionStore } from './store.js';

type StorageConfig = Pick<Config, 'databaseUrl' | 'dataDir'>;

/** A failure names the database, never its password. */
export async function openSessionStore(config: StorageConfig, logger: Logger): Promise<SessionStore> {
  if (config.databaseUrl === undefined) return openSqliteSessionStore(config.dataDir);
  const database = describeDatabaseUrl(config.databaseUrl);
  return openPgSessionStore(config.databaseUrl, {
    onIdleError: (error) => logger.warn('an idle PostgreSQL connection broke; the pool replaces it', { database, error: error.message }),
  }).catch((error: Error) => {
    throw new Error(`could not open the room sessions in PostgreSQL at ${database} (DATABASE_URL): ${error.message}`);
  });
}
