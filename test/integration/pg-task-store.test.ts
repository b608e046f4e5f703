import { expect } from 'chai';
import { runMigrations, MigrationError, type Migration } from '../../src/db/migrations.js';
import { createPool } from '../../src/db/pool.js';
import { openPgTaskStore } from '../../src/tasks/pg-store.js';
import { PG_MIGRATIONS } from '../../src/tasks/pg-migrations.js';
import { freshDatabase, query } from '../helpers/postgres.js';
import { defineStoreSuite, FROM, TO } from './lib/store-suite.js';

describe('PostgreSQL task store', () => {
  defineStoreSuite({
    freshLocation: freshDatabase,
    open: (url, options) => openPgTaskStore(url, options),
  });

  describe('its rows, as an operator querying the database sees them', () => {
    it('keeps times as timestamptz and the analysis claim time beside the analysis', async () => {
      const url = await freshDatabase();
      const at = new Date('2026-12-03T11:00:00.000Z');
      const store = await openPgTaskStore(url, { now: () => at });
      try {
        const { id } = await store.create({ to: TO, from: FROM });
        await store.claimAnalysis(id, { staleBefore: new Date(0), retryFailed: false });
        const [row] = await query<{ created_at: Date; analysis_claimed_at: Date; analysis: unknown }>(
          url,
          'SELECT created_at, analysis_claimed_at, analysis FROM tasks WHERE id = $1',
          [id],
        );
        expect(row?.created_at.toISOString()).to.equal('2026-12-03T11:00:00.000Z');
        expect(row?.analysis_claimed_at.toISOString()).to.equal('2026-12-03T11:00:00.000Z');
        expect(row?.analysis).to.deep.equal({ state: 'pending' });
      } finally {
        await store.close();
      }
    });
  });
});

describe('PostgreSQL migrations', () => {
  const withPool = async <T>(url: string, work: (pool: ReturnType<typeof createPool>) => Promise<T>): Promise<T> => {
    const pool = createPool(url, { max: 2, applicationName: 'migration test', onIdleError: () => undefined });
    try {
      return await work(pool);
    } finally {
      await pool.end();
    }
  };

  it('migrates once when several instances start together on one database', async () => {
    const url = await freshDatabase();
    const applied = await Promise.all(Array.from({ length: 4 }, () => withPool(url, (pool) => runMigrations(pool, PG_MIGRATIONS))));
    const all = PG_MIGRATIONS.map((m) => m.version);
    expect(applied.filter((versions) => versions.length > 0)).to.deep.equal([all]);
    expect(applied.filter((versions) => versions.length === 0)).to.have.length(3);
    const rows = await query<{ version: number }>(url, 'SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).to.deep.equal(all);
  });

  it('applies only the migrations a database lacks, and refuses a schema newer than the build', async () => {
    const url = await freshDatabase();
    const first: Migration[] = [{ version: 1, name: 'one', sql: 'CREATE TABLE a (x integer)' }];
    const second = [...first, { version: 2, name: 'two', sql: 'ALTER TABLE a ADD COLUMN y text' }];
    await withPool(url, async (pool) => {
      expect(await runMigrations(pool, first)).to.deep.equal([1]);
      expect(await runMigrations(pool, first)).to.deep.equal([]);
      expect(await runMigrations(pool, second)).to.deep.equal([2]);
      expect(await runMigrations(pool, second)).to.deep.equal([]);
      let refused: unknown;
      await runMigrations(pool, first).catch((error: unknown) => (refused = error));
      expect(refused).to.be.instanceOf(MigrationError);
      expect((refused as Error).message).to.match(/newer than this build/);
    });
  });

  it('rolls back a failing migration entirely', async () => {
    const url = await freshDatabase();
    const broken: Migration[] = [
      { version: 1, name: 'ok', sql: 'CREATE TABLE a (x integer)' },
      { version: 2, name: 'broken', sql: 'CREATE TABLE b (; nonsense' },
    ];
    await withPool(url, async (pool) => {
      let failed = false;
      await runMigrations(pool, broken).catch(() => (failed = true));
      expect(failed).to.equal(true);
    });
    expect(await query(url, "SELECT 1 FROM pg_tables WHERE tablename IN ('a', 'schema_migrations')")).to.deep.equal([]);
  });
});
