// One pg connection pool per store, and the transaction helper every multi-statement write uses.
import pg from 'pg';

export type Pool = pg.Pool;
export type Queryable = pg.Pool | pg.PoolClient;

export interface PoolOptions {
  /** Connections at most; a store's calls queue for one beyond it. */
  max: number;
  /** Shown in pg_stat_activity, so an operator can tell our connections apart. */
  applicationName: string;
  /** An idle connection broke (the server restarted, a proxy cut it): the pool replaces it. */
  onIdleError: (error: Error) => void;
  /** A query not answered by then rejects (and the server cancels it); default: no bound. */
  queryTimeoutMs?: number;
}

/** How long a call waits for a connection before it fails instead of hanging the request. */
const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 30_000;

export function createPool(connectionString: string, options: PoolOptions): Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max,
    application_name: options.applicationName,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    ...(options.queryTimeoutMs === undefined ? {} : { statement_timeout: options.queryTimeoutMs, query_timeout: options.queryTimeoutMs + 1000 }),
  });
  // Unheard, this event would crash the process over a connection no call was using.
  pool.on('error', options.onIdleError);
  return pool;
}

/**
 * Runs `work` inside BEGIN … COMMIT on one connection, rolling back when it throws. A connection
 * whose rollback fails is discarded rather than returned to the pool mid-transaction.
 */
export async function inTransaction<T>(pool: Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** PostgreSQL's SQLSTATE of a failed query, e.g. `23503` (foreign key violation). */
export function sqlState(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError ? error.code : undefined;
}
