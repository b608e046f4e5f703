// The durable outbox: records waiting for the persistence service, kept in the store beside the
// tasks so a service that is down, or a gateway that restarts, loses none. One row per record,
// unique by its idempotency key; senders claim due rows one at a time, and only the latest claim
// of a row may settle it (sent, failed, or due again later).

/** What a record is: a finished phone call, or a finished room session. */
export type RecordKind = 'call' | 'session';
export const RECORD_KINDS: readonly RecordKind[] = ['call', 'session'];

export type OutboxState = 'pending' | 'sent' | 'failed';

/** The Idempotency-Key the service sees, and the row's unique key: `call:<id>`, `session:<id>`. */
export const idempotencyKey = (kind: RecordKind, recordId: string): string => `${kind}:${recordId}`;

export interface NewOutboxEntry {
  kind: RecordKind;
  /** The record's own id (a call's stream sid, a session's id). */
  recordId: string;
  /** The record as JSON text: stored and sent byte for byte. */
  body: string;
}

/** A row one sender holds: until its lease ends, no other sender claims it. */
export interface ClaimedEntry {
  id: string;
  kind: RecordKind;
  key: string;
  body: string;
  /** This attempt's number: 1 for the first. */
  attempt: number;
  /** Proves the claim is still this sender's when it settles the row. */
  claimToken: string;
}

/** A row as an operator (or a test) sees it. */
export interface OutboxEntry {
  id: string;
  kind: RecordKind;
  key: string;
  body: string;
  state: OutboxState;
  attempts: number;
  nextAttemptAtMs: number;
  lastStatus?: number;
  lastError?: string;
  createdAt: string;
  sentAt?: string;
}

/** Why an attempt failed: the service's status when it answered, and a message (never a secret). */
export interface AttemptFailure {
  status?: number;
  error: string;
}

export interface OutboxStore {
  /** Adds the record unless its key is there already (the first body stays); true when added. */
  enqueue(entry: NewOutboxEntry): Promise<boolean>;
  /**
   * Claims the longest-due pending row for `leaseMs`: its attempts grow by one and it is not
   * due again until the lease ends. Undefined when nothing is due.
   */
  claimDue(leaseMs: number): Promise<ClaimedEntry | undefined>;
  /** The rest settle a claimed row; each is false when the claim is no longer the latest (the lease ran out and another sender took it). */
  markSent(claim: ClaimedEntry): Promise<boolean>;
  retryAt(claim: ClaimedEntry, atMs: number, failure: AttemptFailure): Promise<boolean>;
  markFailed(claim: ClaimedEntry, failure: AttemptFailure): Promise<boolean>;
  /** When the next pending row is due (epoch ms); undefined when none is pending. */
  nextDueAt(): Promise<number | undefined>;
  find(kind: RecordKind, recordId: string): Promise<OutboxEntry | undefined>;
  close(): Promise<void>;
}

export interface OutboxStoreOptions {
  /** Wall clock (epoch ms) for due times and leases; tests move it. */
  now?: () => number;
}

/** The error text kept in the row: bounded, whatever the service answered. */
export const MAX_ERROR_CHARS = 500;
export const clipError = (error: string): string => (error.length > MAX_ERROR_CHARS ? `${error.slice(0, MAX_ERROR_CHARS - 1)}…` : error);
