// Ordered schema migrations for the SQLite task store. Append new ones; never edit an applied one:
// a database records which versions it has, and each runs once. Pending ones run together in one
// IMMEDIATE transaction, so a failure leaves the schema as it was and two processes starting on
// the same file cannot both apply them.
import type { Database } from 'better-sqlite3';

export interface Migration {
  /** 1, 2, 3... with no gaps, in array order. */
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'tasks, status history, transcript lines',
    sql: `
      CREATE TABLE tasks (
        id             TEXT PRIMARY KEY,
        to_number      TEXT NOT NULL,
        from_number    TEXT NOT NULL,
        prompt         TEXT,
        greeting       TEXT,
        metadata       TEXT,            -- JSON object
        status         TEXT NOT NULL CHECK (status IN ('created', 'queued', 'ringing', 'in-progress',
                         'completed', 'busy', 'no-answer', 'failed', 'canceled')),
        call_sid       TEXT,
        created_at     TEXT NOT NULL,   -- ISO 8601, UTC
        updated_at     TEXT NOT NULL,
        dialed_at      TEXT,
        answered_at    TEXT,
        ended_at       TEXT,
        duration_s     REAL,
        answered_by    TEXT,
        end_reason     TEXT,
        recording_path TEXT,
        analysis       TEXT             -- JSON AnalysisState
      ) STRICT;
      CREATE INDEX tasks_by_created ON tasks (created_at DESC, id DESC);
      CREATE INDEX tasks_by_status_created ON tasks (status, created_at DESC, id DESC);
      CREATE UNIQUE INDEX tasks_by_call_sid ON tasks (call_sid) WHERE call_sid IS NOT NULL;

      CREATE TABLE task_status_history (
        seq     INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        status  TEXT NOT NULL,
        at      TEXT NOT NULL,
        source  TEXT
      ) STRICT;
      CREATE INDEX task_status_history_by_task ON task_status_history (task_id, seq);

      CREATE TABLE task_transcript_lines (
        seq         INTEGER PRIMARY KEY,
        task_id     TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        role        TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
        text        TEXT NOT NULL,
        at_ms       REAL NOT NULL,
        interrupted INTEGER             -- 1 when cut off by barge-in, else NULL
      ) STRICT;
      CREATE INDEX task_transcript_lines_by_task ON task_transcript_lines (task_id, seq);
    `,
  },
  {
    version: 2,
    name: 'single-use media-stream token claims',
    sql: `
      CREATE TABLE media_stream_claims (
        ticket_id     TEXT PRIMARY KEY,
        expires_at_ms INTEGER NOT NULL,  -- past it the token opens nothing, so the row can go
        claimed_at    TEXT NOT NULL
      ) STRICT;
      CREATE INDEX media_stream_claims_by_expiry ON media_stream_claims (expires_at_ms);
    `,
  },
  {
    version: 3,
    name: 'analysis claim time',
    // When the analysis was last claimed (ISO 8601, UTC): a pending one claimed long enough ago
    // was left by a process that died, and another may take it over.
    sql: `ALTER TABLE tasks ADD COLUMN analysis_claimed_at TEXT;`,
  },
  {
    version: 4,
    name: 'status callback sequences and held callbacks',
    // Twilio's callbacks of one call put in order across processes (callback-order.ts). Times
    // are epoch milliseconds: they are only compared, never shown.
    sql: `
      CREATE TABLE call_callback_sequences (
        call_sid       TEXT PRIMARY KEY,
        next_seq       INTEGER NOT NULL DEFAULT 0,
        applying_seq   INTEGER,          -- the lease: which callback, whose, until when (all NULL when free)
        lease_holder   TEXT,
        lease_until_ms INTEGER,
        flush_through  INTEGER           -- held callbacks up to this one go out despite gaps
      ) STRICT;

      CREATE TABLE held_call_callbacks (
        call_sid   TEXT NOT NULL,
        seq        INTEGER NOT NULL,
        body       TEXT NOT NULL,        -- JSON: the callback as received
        held_at_ms INTEGER NOT NULL,
        PRIMARY KEY (call_sid, seq)      -- a duplicate is recognised here
      ) STRICT;
    `,
  },
  {
    version: 5,
    name: 'fleet member holding the media stream',
    // Set when a stream starts, cleared once its end is stored: a task whose member left the
    // fleet without clearing it is settled by a survivor (fleet-settle.ts).
    sql: `
      ALTER TABLE tasks ADD COLUMN stream_member TEXT;
      CREATE INDEX tasks_by_stream_member ON tasks (stream_member) WHERE stream_member IS NOT NULL;
    `,
  },
  {
    version: 6,
    name: 'calls as records: the call, its transcript lines and timeline events',
    // One row per call (inbound, a task's outbound one, a browser's). Positions (at_ms) are on the
    // call's clock, the time axis of its WAV. Events are JSON (calls/schemas.ts CallEvent).
    sql: `
      CREATE TABLE calls (
        id                  TEXT PRIMARY KEY,
        direction           TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'browser')),
        status              TEXT NOT NULL CHECK (status IN ('pending', 'in-progress', 'completed', 'failed')),
        agent               TEXT NOT NULL,
        task_id             TEXT,
        call_sid            TEXT,
        stream_sid          TEXT,
        from_number         TEXT,
        to_number           TEXT,
        created_at          TEXT NOT NULL,   -- ISO 8601, UTC
        started_at          TEXT,
        ended_at            TEXT,
        duration_ms         INTEGER,
        end_reason          TEXT,
        end_detail          TEXT,
        recording_path      TEXT,
        recording_ms        INTEGER,
        transcript_note     TEXT,            -- set when the agent keeps no transcript
        analysis            TEXT,            -- JSON AnalysisState
        analysis_claimed_at TEXT,
        stream_member       TEXT             -- the fleet member streaming it, while in progress
      ) STRICT;
      CREATE INDEX calls_by_created ON calls (created_at DESC, id DESC);
      CREATE INDEX calls_by_task ON calls (task_id, created_at) WHERE task_id IS NOT NULL;
      CREATE INDEX calls_in_progress ON calls (status) WHERE status = 'in-progress';

      CREATE TABLE call_transcript_lines (
        seq         INTEGER PRIMARY KEY,
        call_id     TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        role        TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
        text        TEXT NOT NULL,
        at_ms       REAL NOT NULL,
        interrupted INTEGER             -- 1 when cut off by barge-in, else NULL
      ) STRICT;
      CREATE INDEX call_transcript_lines_by_call ON call_transcript_lines (call_id, seq);

      CREATE TABLE call_events (
        seq     INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        event   TEXT NOT NULL            -- JSON CallEvent
      ) STRICT;
      CREATE INDEX call_events_by_call ON call_events (call_id, seq);
    `,
  },
  {
    version: 7,
    name: 'room sessions and their transcript lines',
    // An agent session in a LiveKit room (src/rooms/). The idempotency key is released (set NULL)
    // when a session fails to start, so a client's retry with it starts a new one.
    sql: `
      CREATE TABLE room_sessions (
        id              TEXT PRIMARY KEY,
        room            TEXT NOT NULL,
        identity        TEXT,
        state           TEXT NOT NULL CHECK (state IN ('created', 'active', 'ended', 'failed')),
        dispatch_id     TEXT,
        system_prompt   TEXT,
        greeting        TEXT,
        metadata        TEXT,            -- JSON object
        idempotency_key TEXT,
        participant     TEXT,            -- the agent's identity in the room, once it joined
        job_id          TEXT,
        created_at      TEXT NOT NULL,   -- ISO 8601, UTC: POST /session
        started_at      TEXT,            -- the agent joined
        ended_at        TEXT,
        end_reason      TEXT
      ) STRICT;
      CREATE INDEX room_sessions_by_created ON room_sessions (created_at DESC, id DESC);
      CREATE INDEX room_sessions_by_state_created ON room_sessions (state, created_at DESC, id DESC);
      CREATE UNIQUE INDEX room_sessions_by_idempotency_key ON room_sessions (idempotency_key) WHERE idempotency_key IS NOT NULL;

      CREATE TABLE room_session_lines (
        session_id  TEXT NOT NULL REFERENCES room_sessions (id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,    -- 0, 1, 2... in the session: live watchers place a line by it
        role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        text        TEXT NOT NULL,
        at_ms       REAL NOT NULL,
        interrupted INTEGER,             -- 1 when cut off by barge-in, else NULL
        PRIMARY KEY (session_id, position)
      ) STRICT;
    `,
  },
  {
    version: 8,
    name: 'persistence outbox',
    // Records waiting for the persistence service (src/persistence/). A row is due from
    // next_attempt_at_ms (epoch ms, only compared); a sender's claim moves it past the claim's
    // lease, so a sender that dies mid-send leaves it due again later, never lost.
    sql: `
      CREATE TABLE persistence_outbox (
        id                 TEXT PRIMARY KEY,
        kind               TEXT NOT NULL CHECK (kind IN ('call', 'session')),
        idempotency_key    TEXT NOT NULL UNIQUE,  -- <kind>:<record id>, sent as Idempotency-Key
        body               TEXT NOT NULL,         -- the record's JSON, sent byte for byte
        state              TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
        attempts           INTEGER NOT NULL DEFAULT 0,
        next_attempt_at_ms INTEGER NOT NULL,
        claim_token        TEXT,                  -- the latest claim's: only its holder settles the row
        last_status        INTEGER,               -- the service's last HTTP status, if it answered
        last_error         TEXT,
        created_at         TEXT NOT NULL,
        sent_at            TEXT
      ) STRICT;
      CREATE INDEX persistence_outbox_due ON persistence_outbox (next_attempt_at_ms) WHERE state = 'pending';
    `,
  },
  {
    version: 9,
    name: 'pending calls index',
    // Every process sweeps the browser calls whose stream never came (calls/pending-expiry.ts):
    // this keeps the sweep off the whole calls table.
    sql: `CREATE INDEX calls_pending ON calls (created_at) WHERE status = 'pending';`,
  },
];

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** Applies the migrations the database lacks; returns the versions applied now (empty on a restart). */
export function runMigrations(db: Database, migrations: readonly Migration[] = MIGRATIONS): number[] {
  checkOrder(migrations);
  const apply = db.transaction((): Migration[] => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at TEXT NOT NULL
    ) STRICT`);
    const current = currentVersion(db);
    const latest = migrations.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new MigrationError(`database schema is version ${current}, newer than this build knows (${latest})`);
    }
    const pending = migrations.filter((m) => m.version > current);
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of pending) {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, new Date().toISOString());
    }
    return pending;
  });
  const pending = apply.immediate();
  return pending.map((m) => m.version);
}

function currentVersion(db: Database): number {
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number | null };
  return row.version ?? 0;
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new MigrationError(`migration "${m.name}" should be version ${i + 1}, is ${m.version}`);
  });
}
