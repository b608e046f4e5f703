// The outbox in the SQLite file under DATA_DIR, beside the tasks. A claim is a read and a write
// in one IMMEDIATE transaction, so of several processes on the file (WORKERS) one claims a row.
import { openSqliteDatabase } from '../db/sqlite.js';
import { randomUUID } from 'node:crypto';
import type { Database as Db, Statement } from 'better-sqlite3';
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

export function openSqliteOutbox(dataDir: string, options: OutboxStoreOptions = {}): OutboxStore {
  return openSqliteDatabase(dataDir, (db) => new SqliteOutbox(db, options.now ?? Date.now));
}

class SqliteOutbox implements OutboxStore {
  private readonly insert: Statement;
  private readonly due: Statement<[number]>;
  private readonly take: Statement;
  private readonly sent: Statement;
  private readonly retry: Statement;
  private readonly failed: Statement;
  private readonly claimTx: (now: number, leaseMs: number) => ClaimedEntry | undefined;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {
    this.insert = db.prepare(`INSERT INTO persistence_outbox (id, kind, idempotency_key, body, state, attempts, next_attempt_at_ms, created_at)
      VALUES (@id, @kind, @key, @body, 'pending', 0, @due, @createdAt) ON CONFLICT (idempotency_key) DO NOTHING`);
    this.due = db.prepare(`SELECT * FROM persistence_outbox WHERE state = 'pending' AND next_attempt_at_ms <= ?
      ORDER BY next_attempt_at_ms, id LIMIT 1`);
    this.take = db.prepare(`UPDATE persistence_outbox SET attempts = attempts + 1, next_attempt_at_ms = @until, claim_token = @token WHERE id = @id`);
    this.sent = db.prepare(`UPDATE persistence_outbox SET state = 'sent', sent_at = @at, last_status = NULL, last_error = NULL
      WHERE id = @id AND claim_token = @token AND state = 'pending'`);
    this.retry = db.prepare(`UPDATE persistence_outbox SET next_attempt_at_ms = @at, last_status = @status, last_error = @error
      WHERE id = @id AND claim_token = @token AND state = 'pending'`);
    this.failed = db.prepare(`UPDATE persistence_outbox SET state = 'failed', last_status = @status, last_error = @error
      WHERE id = @id AND claim_token = @token AND state = 'pending'`);
    const claim = db.transaction((now: number, leaseMs: number): ClaimedEntry | undefined => {
      const row = this.due.get(now) as OutboxRow | undefined;
      if (row === undefined) return undefined;
      const token = randomUUID();
      this.take.run({ id: row.id, until: now + leaseMs, token });
      return { id: row.id, kind: row.kind, key: row.idempotency_key, body: row.body, attempt: row.attempts + 1, claimToken: token };
    });
    this.claimTx = (now, leaseMs) => claim.immediate(now, leaseMs);
  }

  async enqueue(entry: NewOutboxEntry): Promise<boolean> {
    const now = this.now();
    const result = this.insert.run({
      id: newEntryId(),
      kind: entry.kind,
      key: idempotencyKey(entry.kind, entry.recordId),
      body: entry.body,
      due: now,
      createdAt: new Date(now).toISOString(),
    });
    return result.changes === 1;
  }

  async claimDue(leaseMs: number): Promise<ClaimedEntry | undefined> {
    return this.claimTx(this.now(), leaseMs);
  }

  async markSent(claim: ClaimedEntry): Promise<boolean> {
    return this.sent.run({ id: claim.id, token: claim.claimToken, at: new Date(this.now()).toISOString() }).changes === 1;
  }

  async retryAt(claim: ClaimedEntry, atMs: number, failure: AttemptFailure): Promise<boolean> {
    return this.retry.run({ id: claim.id, token: claim.claimToken, at: atMs, ...failureColumns(failure) }).changes === 1;
  }

  async markFailed(claim: ClaimedEntry, failure: AttemptFailure): Promise<boolean> {
    return this.failed.run({ id: claim.id, token: claim.claimToken, ...failureColumns(failure) }).changes === 1;
  }

  async nextDueAt(): Promise<number | undefined> {
    const row = this.db.prepare(`SELECT MIN(next_attempt_at_ms) AS at FROM persistence_outbox WHERE state = 'pending'`).get() as { at: number | null };
    return row.at ?? undefined;
  }

  async find(kind: RecordKind, recordId: string): Promise<OutboxEntry | undefined> {
    const row = this.db.prepare('SELECT * FROM persistence_outbox WHERE idempotency_key = ?').get(idempotencyKey(kind, recordId)) as OutboxRow | undefined;
    return row === undefined ? undefined : entryFromRow(row);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

