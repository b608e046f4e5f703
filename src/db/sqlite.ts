// The one embedded database file every store shares (tasks, calls, room sessions, the outbox, stream
// claims): each store opens its own connection to it, with the same settings and the schema brought
// up to date first.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { runMigrations } from '../tasks/sqlite-migrations.js';

export const TASKS_DB_FILE = 'tasks.sqlite';

/**
 * Opens (creating if needed) `<dataDir>/tasks.sqlite`, migrates it, and hands the connection to
 * `build`; the connection is closed if either fails. WAL lets readers run during a write; NORMAL
 * skips the fsync per commit (a power cut may lose the last commits, a process crash loses
 * nothing); busy_timeout covers other processes (workers, a second gateway) writing the same file.
 */
export function openSqliteDatabase<T>(dataDir: string, build: (db: Db) => T): T {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, TASKS_DB_FILE));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    runMigrations(db);
    return build(db);
  } catch (error) {
    db.close();
    throw error;
  }
}
