// Single use of media-stream tokens in PostgreSQL (DATABASE_URL): every instance on the database
// shares the claims, so a token used on one instance opens nothing on another.
import { runMigrations } from '../db/migrations.js';
import { createPool, type Pool } from '../db/pool.js';
import { PG_MIGRATIONS } from '../tasks/pg-migrations.js';
import type { StreamClaims } from './stream-claims.js';

/**
 * A claim runs inside a call's WebSocket upgrade, which Twilio waits on: past this the upgrade is
 * refused (503, the call can be retried) rather than left hanging on a slow or locked database.
 */
const CLAIM_TIMEOUT_MS = 2000;
/** Expired claims are deleted at most this often (a token past expiry is refused anyway). */
const PRUNE_EVERY_MS = 60_000;

export interface PgStreamClaimsOptions {
  /** Wall clock (epoch ms); tests move it forward. */
  now?: () => number;
  /** A pooled connection broke while idle; the pool has replaced it. */
  onIdleError?: (error: Error) => void;
}

export async function openPgStreamClaims(url: string, options: PgStreamClaimsOptions = {}): Promise<StreamClaims> {
  // One claim per call's upgrade: two connections are plenty.
  const pool = createPool(url, {
    max: 2,
    applicationName: 'telephony-gateway stream claims',
    onIdleError: options.onIdleError ?? (() => undefined),
    queryTimeoutMs: CLAIM_TIMEOUT_MS,
  });
  try {
    await runMigrations(pool, PG_MIGRATIONS);
    return new PgStreamClaims(pool, options.now ?? Date.now);
  } catch (error) {
    await pool.end();
    throw error;
  }
}

class PgStreamClaims implements StreamClaims {
  private prunedAt = 0;

  constructor(
    private readonly pool: Pool,
    private readonly now: () => number,
  ) {}

  async claim(ticketId: string, expiresAtMs: number): Promise<boolean> {
    const now = this.now();
    if (now - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = now;
      await this.pool.query('DELETE FROM media_stream_claims WHERE expires_at_ms < $1', [now]);
    }
    // The primary key decides: of two upgrades on one token, on any instances, one inserts the row.
    const inserted = await this.pool.query(
      'INSERT INTO media_stream_claims (ticket_id, expires_at_ms, claimed_at) VALUES ($1, $2, $3) ON CONFLICT (ticket_id) DO NOTHING',
      [ticketId, expiresAtMs, new Date(now).toISOString()],
    );
    return inserted.rowCount === 1;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
