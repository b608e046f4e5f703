// Single use of media-stream tokens: the first upgrade on a token claims it, any later one is
// refused. Claims live in the database rather than in memory, so a restart does not reopen a used
// token and several instances sharing the database share the claims too.
import { openSqliteDatabase } from '../db/sqlite.js';
import type { Database as Db, Statement } from 'better-sqlite3';

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
  return openSqliteDatabase(dataDir, (db) => {
    // The claim is a synchronous write inside the upgrade, on the thread that carries every call's
    // audio: wait briefly for another process's lock, then refuse this stream (503) instead.
    db.pragma(`busy_timeout = ${CLAIM_BUSY_TIMEOUT_MS}`);
    return new SqliteStreamClaims(db, now);
  });
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
