// Room sessions in the SQLite database under DATA_DIR, beside the tasks (same file, same
// migrations). Statements run synchronously (microseconds): nothing interleaves inside one call
// in this process, and another process sharing the file waits on busy_timeout.
import { openSqliteDatabase } from '../db/sqlite.js';
import { randomUUID } from 'node:crypto';
import type { Database as Db } from 'better-sqlite3';
import type { JsonObject } from '../tasks/model.js';
import {
  checkListLimit,
  decodeSessionCursor,
  encodeSessionCursor,
  FIRST_SESSION_PAGE,
  isSessionId,
  newSessionId,
  SessionNotFoundError,
  summaryFromRow,
  type Changed,
  type FinalState,
  type NewSession,
  type RoomSession,
  type SessionLine,
  type SessionListOptions,
  type SessionPage,
  type SessionRowFields,
  type SessionState,
  type SessionStore,
  type SessionSummary,
} from './store.js';

export interface SqliteSessionStoreOptions {
  /** Clock for timestamps; tests pin it to create sessions with equal creation times. */
  now?: () => Date;
}

export function openSqliteSessionStore(dataDir: string, options: SqliteSessionStoreOptions = {}): SessionStore {
  return openSqliteDatabase(dataDir, (db) => new SqliteSessionStore(db, options.now ?? (() => new Date())));
}

/** SQLite keeps the metadata as JSON text; the rest of the row is as both engines read it. */
type SessionRow = Omit<SessionRowFields, 'metadata'> & { metadata: string | null };

interface LineRow {
  role: SessionLine['role'];
  text: string;
  at_ms: number;
  interrupted: number | null;
}

const NOT_OVER = "state IN ('created', 'active')";

class SqliteSessionStore implements SessionStore {
  private readonly sql;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date,
  ) {
    this.sql = {
      insert: db.prepare<[Record<string, unknown>]>(
        `INSERT INTO room_sessions (id, room, identity, state, system_prompt, greeting, metadata, idempotency_key, created_at)
         VALUES (@id, @room, @identity, 'created', @systemPrompt, @greeting, @metadata, @idempotencyKey, @now)
         ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`,
      ),
      get: db.prepare<[string], SessionRow>('SELECT * FROM room_sessions WHERE id = ?'),
      byKey: db.prepare<[string], SessionRow>('SELECT * FROM room_sessions WHERE idempotency_key = ?'),
      lines: db.prepare<[string], LineRow>('SELECT role, text, at_ms, interrupted FROM room_session_lines WHERE session_id = ? ORDER BY position'),
      listAll: db.prepare<[string, string, number], SessionRow>(
        'SELECT * FROM room_sessions WHERE (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?',
      ),
      listByState: db.prepare<[string, string, SessionState, number], SessionRow>(
        'SELECT * FROM room_sessions WHERE (created_at, id) < (?, ?) AND state = ? ORDER BY created_at DESC, id DESC LIMIT ?',
      ),
      createdBefore: db.prepare<[string], SessionRow>("SELECT * FROM room_sessions WHERE state = 'created' AND created_at < ? ORDER BY created_at, id"),
      setDispatch: db.prepare<[string, string]>('UPDATE room_sessions SET dispatch_id = ? WHERE id = ?'),
      start: db.prepare<[string, string | null, string | null, string]>(
        "UPDATE room_sessions SET state = 'active', started_at = ?, participant = ?, job_id = ? WHERE id = ? AND state = 'created'",
      ),
      finish: db.prepare<[FinalState, string, string, FinalState, string]>(
        `UPDATE room_sessions SET state = ?, ended_at = ?, end_reason = ?,
           idempotency_key = CASE WHEN ? = 'failed' THEN NULL ELSE idempotency_key END
         WHERE id = ? AND ${NOT_OVER}`,
      ),
      appendLine: db.prepare<[string, string, string, string, number, number | null], { position: number }>(
        `INSERT INTO room_session_lines (session_id, position, role, text, at_ms, interrupted)
         SELECT ?, (SELECT COUNT(*) FROM room_session_lines WHERE session_id = ?), ?, ?, ?, ? RETURNING position`,
      ),
      exists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM room_sessions WHERE id = ?'),
    };
  }

  async create(input: NewSession): Promise<Changed> {
    const id = newSessionId(randomUUID());
    return this.db.transaction((): Changed => {
      const inserted = this.sql.insert.run({
        id,
        room: input.room,
        identity: input.identity ?? null,
        systemPrompt: input.systemPrompt ?? null,
        greeting: input.greeting ?? null,
        metadata: input.metadata === undefined ? null : JSON.stringify(input.metadata),
        idempotencyKey: input.idempotencyKey ?? null,
        now: this.now().toISOString(),
      });
      if (inserted.changes === 1) return { session: this.mustRead(id), changed: true };
      return { session: toSession(this.sql.byKey.get(input.idempotencyKey!)!, []), changed: false };
    }).immediate();
  }

  async get(id: string): Promise<RoomSession | undefined> {
    if (!isSessionId(id)) return undefined;
    return this.db.transaction(() => this.read(id))();
  }

  async findByIdempotencyKey(key: string): Promise<RoomSession | undefined> {
    return this.db.transaction(() => {
      const row = this.sql.byKey.get(key);
      return row && toSession(row, this.sql.lines.all(row.id));
    })();
  }

  async list({ limit, cursor, state }: SessionListOptions): Promise<SessionPage> {
    checkListLimit(limit);
    const [afterCreated, afterId] = cursor === undefined ? FIRST_SESSION_PAGE : decodeSessionCursor(cursor);
    const rows =
      state === undefined ? this.sql.listAll.all(afterCreated, afterId, limit + 1) : this.sql.listByState.all(afterCreated, afterId, state, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const sessions = page.map(toSummary);
    return rows.length > limit && last ? { sessions, nextCursor: encodeSessionCursor(last.created_at, last.id) } : { sessions };
  }

  async createdBefore(cutoff: Date): Promise<SessionSummary[]> {
    return this.sql.createdBefore.all(cutoff.toISOString()).map(toSummary);
  }

  async setDispatch(id: string, dispatchId: string): Promise<RoomSession> {
    return this.db.transaction(() => {
      if (this.sql.setDispatch.run(dispatchId, id).changes === 0) throw new SessionNotFoundError(id);
      return this.mustRead(id);
    })();
  }

  async markStarted(id: string, info: { participant?: string; jobId?: string }): Promise<Changed> {
    return this.db.transaction((): Changed => {
      const changed = this.sql.start.run(this.now().toISOString(), info.participant ?? null, info.jobId ?? null, id).changes === 1;
      return { session: this.mustRead(id), changed };
    }).immediate();
  }

  async finish(id: string, state: FinalState, reason: string): Promise<Changed> {
    return this.db.transaction((): Changed => {
      const changed = this.sql.finish.run(state, this.now().toISOString(), reason, state, id).changes === 1;
      return { session: this.mustRead(id), changed };
    }).immediate();
  }

  async appendLine(id: string, line: SessionLine): Promise<number> {
    return this.db.transaction(() => {
      if (!this.sql.exists.get(id)) throw new SessionNotFoundError(id);
      const interrupted = line.interrupted ? 1 : null;
      return this.sql.appendLine.get(id, id, line.role, line.text, line.atMs, interrupted)!.position;
    }).immediate();
  }

  async close(): Promise<void> {
    this.db.close();
  }

  private read(id: string): RoomSession | undefined {
    const row = this.sql.get.get(id);
    return row && toSession(row, this.sql.lines.all(id));
  }

  private mustRead(id: string): RoomSession {
    const session = this.read(id);
    if (!session) throw new SessionNotFoundError(id);
    return session;
  }
}

function toSummary(row: SessionRow): SessionSummary {
  return summaryFromRow({ ...row, metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as JsonObject) });
}

function toSession(row: SessionRow, lines: LineRow[]): RoomSession {
  return {
    ...toSummary(row),
    transcript: lines.map((line) => ({ role: line.role, text: line.text, atMs: line.at_ms, ...(line.interrupted === 1 && { interrupted: true }) })),
  };
}
