// Opens the outbox beside the tasks: PostgreSQL with DATABASE_URL, else the SQLite file in DATA_DIR.
import type { Config } from '../config.js';
import { describeDatabaseUrl } from '../db/url.js';
import type { Logger } from '../telemetry/logger.js';
import type { OutboxStore, OutboxStoreOptions } from './outbox.js';
import { openPgOutbox } from './pg-outbox.js';
import { openSqliteOutbox } from './sqlite-outbox.js';

export async function openOutbox(config: Pick<Config, 'databaseUrl' | 'dataDir'>, logger: Logger, options: OutboxStoreOptions = {}): Promise<OutboxStore> {
  if (config.databaseUrl === undefined) return openSqliteOutbox(config.dataDir, options);
  const database = describeDatabaseUrl(config.databaseUrl);
  return openPgOutbox(config.databaseUrl, {
    ...options,
    onIdleError: (error) => logger.warn('an idle PostgreSQL connection broke; the pool replaces it', { database, error: error.message }),
  }).catch((error: Error) => {
    throw new Error(`could not open the persistence outbox in PostgreSQL at ${database} (DATABASE_URL): ${error.message}`);
  });
}
