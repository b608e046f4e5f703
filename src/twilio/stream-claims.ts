// Single use of media-stream tokens: the first upgrade on a token claims it, any later one is
// refused. Claims live in the database rather than in memory, so a restart does not reopen a used
// token and several instances sharing the database share the claims too.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { runMigrations } from '../tasks/sqlite-migrations.js';
import { TASKS_DB_FILE } from '../tasks/sqlite-store.js';

export interface StreamClaims {
  /** True for the first claim of `ticketId`; false when it was claimed before. */
  claim(ticketId: string, expiresAtMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** How long a claim waits for a lock held by another process before the stream is refused. */
const CLAIM_BUSY_TIMEOUT_MS = 50;
/** Expired claims are deleted at most this often (a token past expiry is refused anyway). */
const PRUNE_EVERY_MS = 60_000;

/** Claims in the SQLite database under DATA_DIR, beside the tasks (one upgrade per call, not per frame). */
export function openSqliteStreamClaims(dataDir: string, now: () => number = Date.now): StreamClaims {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, TASKS_DB_FILE));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000'); // start-up: migrations may wait for another process
    runMigrations(db);
    // The claim is a synchronous write inside the upgrade, on the thread that carries every call's
    // audio: wait briefly for another process's lock, then refuse this stream (503) instead.
    db.pragma(`busy_timeout = ${CLAIM_BUSY_TIMEOUT_MS}`);
    return new SqliteStreamClaims(db, now);
  } catch (error) {
    db.close();
    throw error;
  }
}

class SqliteStreamClaims implements StreamClaims {
  private readonly insert: Statement<[string, number, string]>;
  private readonly prune: Statement<[number]>;
  private prunedAt = 0;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {
    this.insert = db.prepare('INSERT OR IGNORE INTO media_stream_claims (ticket_id, expires_at_ms, claimed_at) VALUES (?, ?, ?)');
    this.prune = db.prepare('DELETE FROM media_stream_claims WHERE expires_at_ms < ?');
  }

  async claim(ticketId: string, expiresAtMs: number): Promise<boolean> {
    const now = this.now();
    if (now - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prune.run(now);
      this.prunedAt = now;
    }
    return this.insert.run(ticketId, expiresAtMs, new Date(now).toISOString()).changes === 1;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
