// The outbox table's row, as both engines read it, and the mapping to what callers see.
import { randomUUID } from 'node:crypto';
import { clipError, type AttemptFailure, type OutboxEntry, type OutboxState, type RecordKind } from './outbox.js';

export interface OutboxRow {
  id: string;
  kind: RecordKind;
  idempotency_key: string;
  body: string;
  state: OutboxState;
  attempts: number;
  next_attempt_at_ms: number;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
}

export const newEntryId = (): string => `out_${randomUUID().replaceAll('-', '')}`;

/** The columns a failed attempt writes: the status when the service answered, the error clipped. */
export const failureColumns = (failure: AttemptFailure) => ({ status: failure.status ?? null, error: clipError(failure.error) });

export function entryFromRow(row: OutboxRow): OutboxEntry {
  return {
    id: row.id,
    kind: row.kind,
    key: row.idempotency_key,
    body: row.body,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAtMs: Number(row.next_attempt_at_ms),
    ...(row.last_status === null ? {} : { lastStatus: row.last_status }),
    ...(row.last_error === null ? {} : { lastError: row.last_error }),
    createdAt: row.created_at,
    ...(row.sent_at === null ? {} : { sentAt: row.sent_at }),
  };
}
