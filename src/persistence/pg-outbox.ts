// The outbox in PostgreSQL (DATABASE_URL), shared by every instance. A claim is one statement:
// the longest-due row is locked FOR UPDATE SKIP LOCKED and moved past its lease, so senders on
// any number of instances claim different rows and never wait on each other.
import { randomUUID } from 'node:crypto';
import { runMigrations } from '../db/migrations.js';
import { createPool, type Pool } from '../db/pool.js';
import { PG_MIGRATIONS } from '../tasks/pg-migrations.js';
import {
  idempotencyKey,
  type AttemptFailure,
  type ClaimedEntry,
  type NewOutboxEntry,
  type OutboxEntry,
  type OutboxStore,
  type OutboxStoreOptions,
  type RecordKind,
} from './outbox.js';
import { entryFromRow, failureColumns, newEntryId, type OutboxRow } from './outbox-row.js';

export interface PgOutboxOptions extends OutboxStoreOptions {
  /** A pooled connection broke while idle; the pool has replaced it. */
  onIdleError?: (error: Error) => void;
}

/** A timestamptz as the API's ISO string, whatever the session's time zone. */
const iso = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const ROW_COLUMNS = `id, kind, idempotency_key, body::text AS body, state, attempts, next_attempt_at_ms, last_status, last_error,
  ${iso('created_at')} AS created_at, ${iso('sent_at')} AS sent_at`;

export async function openPgOutbox(url: string, options: PgOutboxOptions = {}): Promise<OutboxStore> {
  // One sender per process, plus enqueues as calls end: two connections are plenty.
  const pool = createPool(url, { max: 2, applicationName: 'telephony-gateway outbox', onIdleError: options.onIdleError ?? (() => undefined) });
  try {
    await runMigrations(pool, PG_MIGRATIONS);
    return new PgOutbox(pool, options.now ?? Date.now);
  } catch (error) {
    await pool.end();
    throw error;
  }
}

class PgOutbox implements OutboxStore {
  constructor(
    private readonly pool: Pool,
    private readonly now: () => number,
  ) {}

  async enqueue(entry: NewOutboxEntry): Promise<boolean> {
    const now = this.now();
    const inserted = await this.pool.query(
      `INSERT INTO persistence_outbox (id, kind, idempotency_key, body, state, attempts, next_attempt_at_ms, created_at)
       VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING`,
      [newEntryId(), entry.kind, idempotencyKey(entry.kind, entry.recordId), entry.body, now, new Date(now).toISOString()],
    );
    return inserted.rowCount === 1;
  }

  async claimDue(leaseMs: number): Promise<ClaimedEntry | undefined> {
    const now = this.now();
    const token = randomUUID();
    const { rows } = await this.pool.query<{ id: string; kind: RecordKind; idempotency_key: string; body: string; attempts: number }>(
      `UPDATE persistence_outbox SET attempts = attempts + 1, next_attempt_at_ms = $2, claim_token = $3
       WHERE id = (SELECT id FROM persistence_outbox WHERE state = 'pending' AND next_attempt_at_ms <= $1
                   ORDER BY next_attempt_at_ms, id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING id, kind, idempotency_key, body::text AS body, attempts`,
      [now, now + leaseMs, token],
    );
    const row = rows[0];
    return row === undefined ? undefined : { id: row.id, kind: row.kind, key: row.idempotency_key, body: row.body, attempt: row.attempts, claimToken: token };
  }

  async markSent(claim: ClaimedEntry): Promise<boolean> {
    return this.settle(`state = 'sent', sent_at = $3, last_status = NULL, last_error = NULL`, claim, [new Date(this.now()).toISOString()]);
  }

  async retryAt(claim: ClaimedEntry, atMs: number, failure: AttemptFailure): Promise<boolean> {
    const { status, error } = failureColumns(failure);
    return this.settle('next_attempt_at_ms = $3, last_status = $4, last_error = $5', claim, [atMs, status, error]);
  }

  async markFailed(claim: ClaimedEntry, failure: AttemptFailure): Promise<boolean> {
    const { status, error } = failureColumns(failure);
    return this.settle(`state = 'failed', last_status = $3, last_error = $4`, claim, [status, error]);
  }

  async nextDueAt(): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ at: string | null }>(`SELECT MIN(next_attempt_at_ms) AS at FROM persistence_outbox WHERE state = 'pending'`);
    const at = rows[0]?.at;
    return at === null || at === undefined ? undefined : Number(at);
  }

  async find(kind: RecordKind, recordId: string): Promise<OutboxEntry | undefined> {
    const { rows } = await this.pool.query<OutboxRow>(`SELECT ${ROW_COLUMNS} FROM persistence_outbox WHERE idempotency_key = $1`, [idempotencyKey(kind, recordId)]);
    return rows[0] === undefined ? undefined : entryFromRow(rows[0]);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** Applies `set` ($3.. are `params`) to the claimed row while the claim is still the latest. */
  private async settle(set: string, claim: ClaimedEntry, params: unknown[]): Promise<boolean> {
    const updated = await this.pool.query(`UPDATE persistence_outbox SET ${set} WHERE id = $1 AND claim_token = $2 AND state = 'pending'`, [
      claim.id,
      claim.claimToken,
      ...params,
    ]);
    return updated.rowCount === 1;
  }
}
