// Opens the call store beside the tasks: PostgreSQL when DATABASE_URL is set, else the SQLite file under DATA_DIR.
import type { Config } from '../config.js';
import { describeDatabaseUrl } from '../db/url.js';
import type { Logger } from '../telemetry/logger.js';
import { openPgCallStore } from './pg-store.js';
import { openSqliteCallStore } from './sqlite-store.js';
import type { CallStore } from './store.js';

export async function openCallStore(config: Pick<Config, 'databaseUrl' | 'dataDir'>, logger: Logger): Promise<CallStore> {
  if (config.databaseUrl === undefined) return openSqliteCallStore(config.dataDir);
  const database = describeDatabaseUrl(config.databaseUrl);
  return openPgCallStore(config.databaseUrl, {
    onIdleError: (error) => logger.warn('an idle PostgreSQL connection broke; the pool replaces it', { database, error: error.message }),
  }).catch((error: Error) => {
    throw new Error(`could not open the call store in PostgreSQL at ${database} (DATABASE_URL): ${error.message}`);
  });
}
