// Room sessions in PostgreSQL (DATABASE_URL), shared by every instance: the same behaviour as the
// SQLite store, each decision (one session per idempotency key, one end) taken in one statement.
import { randomUUID } from 'node:crypto';
import { runMigrations } from '../db/migrations.js';
import { createPool, inTransaction, type Pool, type Queryable } from '../db/pool.js';
import { PG_MIGRATIONS } from '../tasks/pg-migrations.js';
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
  type SessionStore,
  type SessionSummary,
} from './store.js';

export interface PgSessionStoreOptions {
  now?: () => Date;
  onIdleError?: (error: Error) => void;
  /** Connections at most (default 4: a session makes a few writes a minute). */
  maxConnections?: number;
}

export async function openPgSessionStore(url: string, options: PgSessionStoreOptions = {}): Promise<SessionStore> {
  const pool = createPool(url, {
    max: options.maxConnections ?? 4,
    applicationName: 'telephony-gateway room sessions',
    onIdleError: options.onIdleError ?? (() => undefined),
  });
  try {
    await runMigrations(pool, PG_MIGRATIONS);
    return new PgSessionStore(pool, options.now ?? (() => new Date()));
  } catch (error) {
    await pool.end();
    throw error;
  }
}

/** A timestamptz as the API's ISO string, whatever the session's time zone. */
const iso = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const SUMMARY_COLUMNS = `s.id, s.room, s.identity, s.state, s.dispatch_id, s.system_prompt, s.greeting, s.metadata,
  s.idempotency_key, s.participant, s.job_id, ${iso('s.created_at')} AS created_at, ${iso('s.started_at')} AS started_at,
  ${iso('s.ended_at')} AS ended_at, s.end_reason`;
const LINES = `(SELECT json_agg(json_build_object('role', l.role, 'text', l.text, 'atMs', l.at_ms, 'interrupted', l.interrupted)
  ORDER BY l.position) FROM room_session_lines l WHERE l.session_id = s.id) AS transcript`;
const SESSION_COLUMNS = `${SUMMARY_COLUMNS}, ${LINES}`;

type SummaryRow = SessionRowFields;

interface SessionRow extends SummaryRow {
  transcript: { role: SessionLine['role']; text: string; atMs: number; interrupted: boolean | null }[] | null;
}

class PgSessionStore implements SessionStore {
  /** The last pending append per session: lines of one session reach the database in the order given. */
  private readonly appends = new Map<string, Promise<number>>();

  constructor(
    private readonly pool: Pool,
    private readonly now: () => Date,
  ) {}

  async create(input: NewSession): Promise<Changed> {
    const id = newSessionId(randomUUID());
    const { rowCount } = await this.pool.query(
      `INSERT INTO room_sessions (id, room, identity, state, system_prompt, greeting, metadata, idempotency_key, created_at)
       VALUES ($1, $2, $3, 'created', $4, $5, $6, $7, $8)
       ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`,
      [
        id,
        input.room,
        input.identity ?? null,
        input.systemPrompt ?? null,
        input.greeting ?? null,
        input.metadata === undefined ? null : JSON.stringify(input.metadata),
        input.idempotencyKey ?? null,
        this.now().toISOString(),
      ],
    );
    if (rowCount === 1) return { session: await this.mustGet(this.pool, id), changed: true };
    // The key's holder committed before our insert gave way to it, so this read sees it.
    const holder = await this.findByIdempotencyKey(input.idempotencyKey!);
    if (!holder) throw new Error('an idempotency key conflicted but its session is gone');
    return { session: holder, changed: false };
  }

  async get(id: string): Promise<RoomSession | undefined> {
    if (!isSessionId(id)) return undefined;
    const { rows } = await this.pool.query<SessionRow>(`SELECT ${SESSION_COLUMNS} FROM room_sessions s WHERE s.id = $1`, [id]);
    return rows[0] && toSession(rows[0]);
  }

  async findByIdempotencyKey(key: string): Promise<RoomSession | undefined> {
    const { rows } = await this.pool.query<SessionRow>(`SELECT ${SESSION_COLUMNS} FROM room_sessions s WHERE s.idempotency_key = $1`, [key]);
    return rows[0] && toSession(rows[0]);
  }

  async list({ limit, cursor, state }: SessionListOptions): Promise<SessionPage> {
    checkListLimit(limit);
    const [afterCreated, afterId] = cursor === undefined ? FIRST_SESSION_PAGE : decodeSessionCursor(cursor);
    const byState = state === undefined ? '' : 'AND s.state = $4';
    const { rows } = await this.pool.query<SummaryRow>(
      `SELECT ${SUMMARY_COLUMNS} FROM room_sessions s
       WHERE (s.created_at, s.id) < ($1::timestamptz, $2) ${byState}
       ORDER BY s.created_at DESC, s.id DESC LIMIT $3`,
      state === undefined ? [afterCreated, afterId, limit + 1] : [afterCreated, afterId, limit + 1, state],
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const sessions = page.map(toSummary);
    return rows.length > limit && last ? { sessions, nextCursor: encodeSessionCursor(last.created_at, last.id) } : { sessions };
  }

  async createdBefore(cutoff: Date): Promise<SessionSummary[]> {
    const { rows } = await this.pool.query<SummaryRow>(
      `SELECT ${SUMMARY_COLUMNS} FROM room_sessions s WHERE s.state = 'created' AND s.created_at < $1 ORDER BY s.created_at, s.id`,
      [cutoff.toISOString()],
    );
    return rows.map(toSummary);
  }

  async setDispatch(id: string, dispatchId: string): Promise<RoomSession> {
    const { rows } = await this.pool.query<SessionRow>(
      `UPDATE room_sessions s SET dispatch_id = $2 WHERE s.id = $1 RETURNING ${SESSION_COLUMNS}`,
      [id, dispatchId],
    );
    if (!rows[0]) throw new SessionNotFoundError(id);
    return toSession(rows[0]);
  }

  async markStarted(id: string, info: { participant?: string; jobId?: string }): Promise<Changed> {
    const { rowCount } = await this.pool.query(
      "UPDATE room_sessions SET state = 'active', started_at = $2, participant = $3, job_id = $4 WHERE id = $1 AND state = 'created'",
      [id, this.now().toISOString(), info.participant ?? null, info.jobId ?? null],
    );
    return { session: await this.mustGet(this.pool, id), changed: rowCount === 1 };
  }

  async finish(id: string, state: FinalState, reason: string): Promise<Changed> {
    // The row lock makes a concurrent end (the agent's, a client's DELETE) wait, then find it over.
    const { rowCount } = await this.pool.query(
      `UPDATE room_sessions SET state = $2, ended_at = $3, end_reason = $4,
         idempotency_key = CASE WHEN $2 = 'failed' THEN NULL ELSE idempotency_key END
       WHERE id = $1 AND state IN ('created', 'active')`,
      [id, state, this.now().toISOString(), reason],
    );
    return { session: await this.mustGet(this.pool, id), changed: rowCount === 1 };
  }

  appendLine(id: string, line: SessionLine): Promise<number> {
    const previous = this.appends.get(id);
    const append = (previous ?? Promise.resolve(0)).catch(() => 0).then(() => this.insertLine(id, line));
    this.appends.set(id, append);
    void append
      .finally(() => {
        if (this.appends.get(id) === append) this.appends.delete(id);
      })
      .catch(() => undefined);
    return append;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.appends.values());
    await this.pool.end();
  }

  private async insertLine(id: string, line: SessionLine): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      // Locks the session's row: two writers of one session's lines (two processes) take turns.
      const { rowCount } = await client.query('SELECT 1 FROM room_sessions WHERE id = $1 FOR UPDATE', [id]);
      if (rowCount === 0) throw new SessionNotFoundError(id);
      const { rows } = await client.query<{ position: number }>(
        `INSERT INTO room_session_lines (session_id, position, role, text, at_ms, interrupted)
         SELECT $1, COUNT(*), $2, $3, $4, $5 FROM room_session_lines WHERE session_id = $1 RETURNING position`,
        [id, line.role, line.text, line.atMs, line.interrupted ? true : null],
      );
      return rows[0]!.position;
    });
  }

  private async mustGet(db: Queryable, id: string): Promise<RoomSession> {
    const { rows } = await db.query<SessionRow>(`SELECT ${SESSION_COLUMNS} FROM room_sessions s WHERE s.id = $1`, [id]);
    if (!rows[0]) throw new SessionNotFoundError(id);
    return toSession(rows[0]);
  }
}

const toSummary = (row: SummaryRow): SessionSummary => summaryFromRow(row);

function toSession(row: SessionRow): RoomSession {
  const lines = row.transcript ?? [];
  return {
    ...toSummary(row),
    transcript: lines.map((line) => ({ role: line.role, text: line.text, atMs: line.atMs, ...(line.interrupted === true && { interrupted: true }) })),
  };
}
