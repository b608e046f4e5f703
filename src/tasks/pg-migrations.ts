// The PostgreSQL schema of the task store, numbered like SQLite's (sqlite-migrations.ts) so one
// version means the same tables on both engines. Times are timestamptz (read back as the API's
// ISO strings by the store); ids and call sids compare bytewise (COLLATE "C") as SQLite does, so
// both engines page in one order. Append new migrations; never edit an applied one.
import type { Migration } from '../db/migrations.js';

export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'tasks, status history, transcript lines',
    sql: `
      CREATE TABLE tasks (
        id             text COLLATE "C" PRIMARY KEY,
        to_number      text NOT NULL,
        from_number    text NOT NULL,
        prompt         text,
        greeting       text,
        metadata       json,            -- json, not jsonb: kept as written, key order included
        status         text NOT NULL CHECK (status IN ('created', 'queued', 'ringing', 'in-progress',
                         'completed', 'busy', 'no-answer', 'failed', 'canceled')),
        call_sid       text COLLATE "C",
        created_at     timestamptz NOT NULL,
        updated_at     timestamptz NOT NULL,
        dialed_at      timestamptz,
        answered_at    timestamptz,
        ended_at       timestamptz,
        duration_s     double precision,
        answered_by    text,
        end_reason     text,
        recording_path text,
        analysis       json             -- AnalysisState
      );
      CREATE INDEX tasks_by_created ON tasks (created_at DESC, id DESC);
      CREATE INDEX tasks_by_status_created ON tasks (status, created_at DESC, id DESC);
      CREATE UNIQUE INDEX tasks_by_call_sid ON tasks (call_sid) WHERE call_sid IS NOT NULL;

      CREATE TABLE task_status_history (
        seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        task_id text COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        status  text NOT NULL,
        at      timestamptz NOT NULL,
        source  text
      );
      CREATE INDEX task_status_history_by_task ON task_status_history (task_id, seq);

      CREATE TABLE task_transcript_lines (
        seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        task_id     text COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        role        text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
        text        text NOT NULL,
        at_ms       double precision NOT NULL,
        interrupted boolean             -- true when cut off by barge-in, else NULL
      );
      CREATE INDEX task_transcript_lines_by_task ON task_transcript_lines (task_id, seq);
    `,
  },
  {
    version: 2,
    name: 'single-use media-stream token claims',
    sql: `
      CREATE TABLE media_stream_claims (
        ticket_id     text COLLATE "C" PRIMARY KEY,
        expires_at_ms bigint NOT NULL,  -- past it the token opens nothing, so the row can go
        claimed_at    timestamptz NOT NULL
      );
      CREATE INDEX media_stream_claims_by_expiry ON media_stream_claims (expires_at_ms);
    `,
  },
  {
    version: 3,
    name: 'analysis claim time',
    sql: `ALTER TABLE tasks ADD COLUMN analysis_claimed_at timestamptz;`,
  },
  {
    version: 4,
    name: 'status callback sequences and held callbacks',
    // Twilio's callbacks of one call put in order across instances (callback-order.ts). Times are
    // epoch milliseconds of the database's clock: only compared, never shown.
    sql: `
      CREATE TABLE call_callback_sequences (
        call_sid       text COLLATE "C" PRIMARY KEY,
        next_seq       integer NOT NULL DEFAULT 0,
        applying_seq   integer,          -- the lease: which callback, whose, until when (all NULL when free)
        lease_holder   text,
        lease_until_ms bigint,
        flush_through  integer           -- held callbacks up to this one go out despite gaps
      );

      CREATE TABLE held_call_callbacks (
        call_sid   text COLLATE "C" NOT NULL,
        seq        integer NOT NULL,
        body       json NOT NULL,        -- the callback as received
        held_at_ms bigint NOT NULL,
        PRIMARY KEY (call_sid, seq)      -- a duplicate is recognised here
      );
    `,
  },
  {
    version: 5,
    name: 'fleet member holding the media stream',
    sql: `
      ALTER TABLE tasks ADD COLUMN stream_member text COLLATE "C";
      CREATE INDEX tasks_by_stream_member ON tasks (stream_member) WHERE stream_member IS NOT NULL;
    `,
  },
  {
    version: 6,
    name: 'calls as records: the call, its transcript lines and timeline events',
    sql: `
      CREATE TABLE calls (
        id                  text COLLATE "C" PRIMARY KEY,
        direction           text NOT NULL CHECK (direction IN ('inbound', 'outbound', 'browser')),
        status              text NOT NULL CHECK (status IN ('pending', 'in-progress', 'completed', 'failed')),
        agent               text NOT NULL,
        task_id             text COLLATE "C",
        call_sid            text COLLATE "C",
        stream_sid          text COLLATE "C",
        from_number         text,
        to_number           text,
        created_at          timestamptz NOT NULL,
        started_at          timestamptz,
        ended_at            timestamptz,
        duration_ms         bigint,
        end_reason          text,
        end_detail          text,
        recording_path      text,
        recording_ms        bigint,
        transcript_note     text,
        analysis            json,
        analysis_claimed_at timestamptz,
        stream_member       text COLLATE "C"
      );
      CREATE INDEX calls_by_created ON calls (created_at DESC, id DESC);
      CREATE INDEX calls_by_task ON calls (task_id, created_at) WHERE task_id IS NOT NULL;
      CREATE INDEX calls_in_progress ON calls (status) WHERE status = 'in-progress';

      CREATE TABLE call_transcript_lines (
        seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        call_id     text COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        role        text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
        text        text NOT NULL,
        at_ms       double precision NOT NULL,
        interrupted boolean
      );
      CREATE INDEX call_transcript_lines_by_call ON call_transcript_lines (call_id, seq);

      CREATE TABLE call_events (
        seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        call_id text COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        event   json NOT NULL
      );
      CREATE INDEX call_events_by_call ON call_events (call_id, seq);
    `,
  },
  {
    version: 7,
    name: 'room sessions and their transcript lines',
    sql: `
      CREATE TABLE room_sessions (
        id              text COLLATE "C" PRIMARY KEY,
        room            text NOT NULL,
        identity        text,
        state           text NOT NULL CHECK (state IN ('created', 'active', 'ended', 'failed')),
        dispatch_id     text,
        system_prompt   text,
        greeting        text,
        metadata        json,            -- kept as written, key order included
        idempotency_key text COLLATE "C",
        participant     text,
        job_id          text,
        created_at      timestamptz NOT NULL,
        started_at      timestamptz,
        ended_at        timestamptz,
        end_reason      text
      );
      CREATE INDEX room_sessions_by_created ON room_sessions (created_at DESC, id DESC);
      CREATE INDEX room_sessions_by_state_created ON room_sessions (state, created_at DESC, id DESC);
      CREATE UNIQUE INDEX room_sessions_by_idempotency_key ON room_sessions (idempotency_key) WHERE idempotency_key IS NOT NULL;

      CREATE TABLE room_session_lines (
        session_id  text COLLATE "C" NOT NULL REFERENCES room_sessions (id) ON DELETE CASCADE,
        position    integer NOT NULL,
        role        text NOT NULL CHECK (role IN ('user', 'assistant')),
        text        text NOT NULL,
        at_ms       double precision NOT NULL,
        interrupted boolean,
        PRIMARY KEY (session_id, position)
      );
    `,
  },
  {
    version: 8,
    name: 'persistence outbox',
    // As SQLite's: due from next_attempt_at_ms (epoch ms of the senders' clocks, only compared);
    // a claim takes one due row FOR UPDATE SKIP LOCKED and moves it past the claim's lease.
    sql: `
      CREATE TABLE persistence_outbox (
        id                 text COLLATE "C" PRIMARY KEY,
        kind               text NOT NULL CHECK (kind IN ('call', 'session')),
        idempotency_key    text COLLATE "C" NOT NULL UNIQUE,
        body               json NOT NULL,        -- json, not jsonb: kept and sent as written
        state              text NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
        attempts           integer NOT NULL DEFAULT 0,
        next_attempt_at_ms bigint NOT NULL,
        claim_token        text,
        last_status        integer,
        last_error         text,
        created_at         timestamptz NOT NULL,
        sent_at            timestamptz
      );
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
