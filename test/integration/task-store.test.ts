import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { MIGRATIONS, MigrationError, runMigrations } from '../../src/tasks/sqlite-migrations.js';
import type { Migration } from '../../src/tasks/sqlite-migrations.js';
import { openSqliteTaskStore, TASKS_DB_FILE } from '../../src/tasks/sqlite-store.js';
import { defineStoreSuite, FROM, TO } from './lib/store-suite.js';

describe('SQLite task store', () => {
  defineStoreSuite({
    freshLocation: async () => mkdtempSync(path.join(tmpdir(), 'task-store-')),
    open: async (dir, options) => openSqliteTaskStore(dir, options),
    dispose: (dir) => rmSync(dir, { recursive: true, force: true }),
  });

  describe('its file and migrations', () => {
    let dir: string;

    beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'task-store-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('does not re-apply migrations on a reopen of the same directory', async () => {
      const store = openSqliteTaskStore(dir);
      await store.create({ to: TO, from: FROM });
      await store.close();
      const appliedBefore = migrationRows(dir);
      await openSqliteTaskStore(dir).close();
      expect(migrationRows(dir)).to.deep.equal(appliedBefore);
      expect(appliedBefore.map((row) => row.version)).to.deep.equal(MIGRATIONS.map((m) => m.version));
    });

    it('uses the WAL journal (foreign keys: see appendTranscript to an unknown task)', async () => {
      await openSqliteTaskStore(dir).close();
      const db = new Database(path.join(dir, TASKS_DB_FILE), { readonly: true });
      try {
        expect(db.pragma('journal_mode', { simple: true })).to.equal('wal');
      } finally {
        db.close();
      }
    });

    it('applies only the migrations a database lacks, once each', () => {
      const db = new Database(':memory:');
      try {
        const first: Migration[] = [{ version: 1, name: 'one', sql: 'CREATE TABLE a (x INTEGER)' }];
        expect(runMigrations(db, first)).to.deep.equal([1]);
        expect(runMigrations(db, first)).to.deep.equal([]);
        const second = [...first, { version: 2, name: 'two', sql: 'ALTER TABLE a ADD COLUMN y TEXT' }];
        expect(runMigrations(db, second)).to.deep.equal([2]);
        expect(runMigrations(db, second)).to.deep.equal([]);
        expect(() => runMigrations(db, first)).to.throw(MigrationError, /newer than this build/);
      } finally {
        db.close();
      }
    });

    it('rolls back a failing migration entirely', () => {
      const db = new Database(':memory:');
      try {
        const broken: Migration[] = [
          { version: 1, name: 'ok', sql: 'CREATE TABLE a (x INTEGER)' },
          { version: 2, name: 'broken', sql: 'CREATE TABLE b (; nonsense' },
        ];
        expect(() => runMigrations(db, broken)).to.throw();
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'a'").all();
        expect(tables).to.deep.equal([]);
      } finally {
        db.close();
      }
    });
  });
});

function migrationRows(dir: string): { version: number; name: string; applied_at: string }[] {
  const db = new Database(path.join(dir, TASKS_DB_FILE), { readonly: true });
  try {
    return db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as {
      version: number;
      name: string;
      applied_at: string;
    }[];
  } finally {
    db.close();
  }
}
