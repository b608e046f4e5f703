// Ordered schema migrations for PostgreSQL, recorded in `schema_migrations`. Append new ones; never
// edit an applied one. Pending ones run in one transaction (PostgreSQL's DDL is transactional, so
// a failure leaves the schema as it was) under an advisory lock, so instances starting together
// on one database migrate once: the others wait for the lock, then find nothing left to do.
import { inTransaction, type Pool } from './pool.js';

export interface Migration {
  /** 1, 2, 3... with no gaps, in array order. */
  version: number;
  name: string;
  sql: string;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** The advisory lock's key: hashtext() of this name, one lock per schema this code owns. */
const LOCK_NAME = 'telephony-gateway schema_migrations';

/** Applies the migrations the database lacks; resolves with the versions applied now (empty on a restart). */
export async function runMigrations(pool: Pool, migrations: readonly Migration[]): Promise<number[]> {
  checkOrder(migrations);
  return inTransaction(pool, async (client) => {
    // Released at commit or rollback: a crashed migrator never leaves the lock held.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK_NAME]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
    const current = rows[0]?.version ?? 0;
    const latest = migrations.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new MigrationError(`database schema is version ${current}, newer than this build knows (${latest})`);
    }
    const pending = migrations.filter((m) => m.version > current);
    for (const migration of pending) {
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    }
    return pending.map((m) => m.version);
  });
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new MigrationError(`migration "${m.name}" should be version ${i + 1}, is ${m.version}`);
  });
}
