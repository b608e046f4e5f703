// The PostgreSQL call store (DATABASE_URL): the same behaviour as the SQLite one, in the tasks'
// database, shared by every instance on it.
import { runMigrations } from '../db/migrations.js';
import { createPool, sqlState, type Pool } from '../db/pool.js';
import type { AnalysisState } from '../tasks/model.js';
import { PG_MIGRATIONS } from '../tasks/pg-migrations.js';
import type { AnalysisClaim } from '../tasks/store.js';
import { decodeCursor, encodeCursor, FIRST_PAGE } from './cursor.js';
import type { Call, CallEvent, CallTranscriptLine } from './model.js';
import { toEntry, toLine, toLiveCall, type CallRow } from './sqlite-store.js';
import { CallExistsError, CallNotFoundError, MAX_CALL_LIST_LIMIT } from './store.js';
import type { CallEnd, CallEntryPage, CallListOptions, CallStart, CallStore, LiveCall, NewCall, PendingCallEnd, RecordedCall } from './store.js';
import type { CallStoreOptions } from './sqlite-store.js';

export interface PgCallStoreOptions extends CallStoreOptions {
  onIdleError?: (error: Error) => void;
}

export async function openPgCallStore(url: string, options: PgCallStoreOptions = {}): Promise<CallStore> {
  const pool = createPool(url, { max: 5, applicationName: 'telephony-gateway calls', onIdleError: options.onIdleError ?? (() => undefined) });
  try {
    await runMigrations(pool, PG_MIGRATIONS);
    return new PgCallStore(pool, options.now ?? (() => new Date()));
  } catch (error) {
    await pool.end();
    throw error;
  }
}

/** A timestamptz as the API's ISO string, whatever the session's time zone. */
const iso = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const COLUMNS = `c.id, c.direction, c.status, c.agent, c.task_id, c.call_sid, c.stream_sid, c.from_number, c.to_number,
  ${iso('c.created_at')} AS created_at, ${iso('c.started_at')} AS started_at, ${iso('c.ended_at')} AS ended_at, c.duration_ms,
  c.end_reason, c.end_detail, c.recording_path, c.recording_ms, c.transcript_note, c.analysis`;
// Lines and events come aggregated into the call's own row: one round trip per read.
const CHILDREN = `(SELECT json_agg(json_build_object('role', l.role, 'text', l.text, 'at_ms', l.at_ms, 'interrupted', l.interrupted) ORDER BY l.seq)
    FROM call_transcript_lines l WHERE l.call_id = c.id) AS lines,
  (SELECT json_agg(e.event ORDER BY e.seq) FROM call_events e WHERE e.call_id = c.id) AS events`;

const FOREIGN_KEY_VIOLATION = '23503';
const UNIQUE_VIOLATION = '23505';

type FullRow = CallRow & { lines: Parameters<typeof toLine>[0][] | null; events: CallEvent[] | null };

class PgCallStore implements CallStore {
  /** The last pending append per call: lines and events of one call reach the database in the order given. */
  private readonly appends = new Map<string, Promise<void>>();

  constructor(
    private readonly pool: Pool,
    private readonly now: () => Date,
  ) {}

  async create(call: NewCall): Promise<Call> {
    try {
      await this.pool.query(
        `INSERT INTO calls (id, direction, status, agent, task_id, call_sid, stream_sid, from_number, to_number, created_at, started_at, transcript_note, stream_member)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [
          call.id,
          call.direction,
          call.startedAt === undefined ? 'pending' : 'in-progress',
          call.agent,
          call.taskId ?? null,
          call.callSid ?? null,
          call.streamSid ?? null,
          call.from ?? null,
          call.to ?? null,
          this.now().toISOString(),
          call.startedAt ?? null,
          call.transcriptNote ?? null,
          call.member ?? null,
        ],
      );
    } catch (error) {
      if (sqlState(error) === UNIQUE_VIOLATION) throw new CallExistsError(call.id);
      throw error;
    }
    return this.mustGet(call.id);
  }

  async claimPending(id: string, start: CallStart, createdSince = new Date(0)): Promise<Call | undefined> {
    if (!storable(id)) return undefined;
    const { rowCount } = await this.pool.query(
      `UPDATE calls SET status = 'in-progress', call_sid = $2, stream_sid = $3, started_at = $4, stream_member = $5
       WHERE id = $1 AND status = 'pending' AND created_at >= $6`,
      [id, start.callSid, start.streamSid, start.startedAt, start.member, createdSince.toISOString()],
    );
    return rowCount === 1 ? this.mustGet(id) : undefined;
  }

  async expirePending(cutoff: Date, end: PendingCallEnd): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `UPDATE calls SET status = 'failed', ended_at = $2, duration_ms = 0, end_reason = $3, end_detail = $4
       WHERE status = 'pending' AND created_at < $1 RETURNING id`,
      [cutoff.toISOString(), end.endedAt, end.endReason, end.endDetail ?? null],
    );
    return rows.map((row) => row.id);
  }

  async get(id: string): Promise<Call | undefined> {
    if (!storable(id)) return undefined;
    const { rows } = await this.pool.query<FullRow>(`SELECT ${COLUMNS}, ${CHILDREN} FROM calls c WHERE c.id = $1`, [id]);
    const row = rows[0];
    return row && { ...toEntry(row), transcript: (row.lines ?? []).map(toLine), events: row.events ?? [] };
  }

  async list(options: CallListOptions): Promise<CallEntryPage> {
    const { limit, cursor } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CALL_LIST_LIMIT) throw new RangeError(`limit must be an integer from 1 to ${MAX_CALL_LIST_LIMIT}`);
    const [afterCreated, afterId] = cursor === undefined ? FIRST_PAGE : decodeCursor(cursor);
    const filters = [options.direction, options.status, options.agent, options.taskId].map((f) => f ?? null);
    // A filter value PostgreSQL's text cannot hold matches nothing.
    if (filters.some((f) => f !== null && !storable(f))) return { calls: [] };
    const { rows } = await this.pool.query<CallRow>(
      `SELECT ${COLUMNS} FROM calls c
       WHERE (c.created_at, c.id) < ($1::timestamptz, $2)
         AND ($4::text IS NULL OR c.direction = $4) AND ($5::text IS NULL OR c.status = $5)
         AND ($6::text IS NULL OR c.agent = $6) AND ($7::text IS NULL OR c.task_id = $7)
         AND ($8::timestamptz IS NULL OR c.created_at >= $8) AND ($9::timestamptz IS NULL OR c.created_at < $9)
       ORDER BY c.created_at DESC, c.id DESC LIMIT $3`,
      [afterCreated, afterId, limit + 1, ...filters, options.since?.toISOString() ?? null, options.until?.toISOString() ?? null],
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const calls = page.map(toEntry);
    return rows.length > limit && last ? { calls, nextCursor: encodeCursor(last.created_at, last.id) } : { calls };
  }

  appendTranscript(id: string, line: CallTranscriptLine): Promise<void> {
    return this.inOrder(id, 'INSERT INTO call_transcript_lines (call_id, role, text, at_ms, interrupted) VALUES ($1, $2, $3, $4, $5)', [
      id,
      line.role,
      line.text,
      line.atMs,
      line.interrupted ? true : null,
    ]);
  }

  appendEvent(id: string, event: CallEvent): Promise<void> {
    return this.inOrder(id, 'INSERT INTO call_events (call_id, event) VALUES ($1, $2)', [id, JSON.stringify(event)]);
  }

  async finish(id: string, end: CallEnd): Promise<Call> {
    if (!storable(id)) throw new CallNotFoundError(id);
    await this.appends.get(id);
    const { rowCount } = await this.pool.query(
      `UPDATE calls SET status = $2, ended_at = $3, duration_ms = $4, end_reason = $5, end_detail = $6, recording_path = $7, recording_ms = $8,
         stream_member = NULL WHERE id = $1`,
      [id, end.status, end.endedAt, end.durationMs, end.endReason, end.endDetail ?? null, end.recordingPath ?? null, end.recordingMs ?? null],
    );
    if (rowCount === 0) throw new CallNotFoundError(id);
    return this.mustGet(id);
  }

  async importRecorded(call: RecordedCall): Promise<boolean> {
    const endedAt = new Date(Date.parse(call.startedAt) + call.recordingMs).toISOString();
    const { rowCount } = await this.pool.query(
      `INSERT INTO calls (id, direction, status, agent, task_id, call_sid, stream_sid, created_at, started_at, ended_at, duration_ms, recording_path, recording_ms)
       VALUES ($1, $2, 'completed', 'unknown', $3, $4, $5, $6, $6, $7, $8, $9, $8) ON CONFLICT (id) DO NOTHING`,
      [call.id, call.direction, call.taskId ?? null, call.callSid, call.streamSid, call.startedAt, endedAt, call.recordingMs, call.recordingPath],
    );
    return rowCount === 1;
  }

  async hasRecording(recordingPath: string): Promise<boolean> {
    if (!storable(recordingPath)) return false;
    const { rows } = await this.pool.query('SELECT 1 FROM calls WHERE recording_path = $1 LIMIT 1', [recordingPath]);
    return rows.length > 0;
  }

  async recordsSince(): Promise<Date | undefined> {
    const { rows } = await this.pool.query<{ applied_at: Date }>('SELECT applied_at FROM schema_migrations WHERE version = 6');
    return rows[0]?.applied_at;
  }

  async inProgress(): Promise<LiveCall[]> {
    const { rows } = await this.pool.query<Parameters<typeof toLiveCall>[0]>(
      `SELECT id, stream_member, call_sid, stream_sid, ${iso('started_at')} AS started_at FROM calls WHERE status = 'in-progress' ORDER BY created_at, id`,
    );
    return rows.map(toLiveCall);
  }

  async idsOfTask(taskId: string): Promise<string[]> {
    if (!storable(taskId)) return [];
    const { rows } = await this.pool.query<{ id: string }>('SELECT id FROM calls WHERE task_id = $1 ORDER BY created_at, id', [taskId]);
    return rows.map((row) => row.id);
  }

  async claimAnalysis(id: string, claim: AnalysisClaim): Promise<Call | undefined> {
    if (!storable(id)) throw new CallNotFoundError(id);
    // The conditional UPDATE is the decision: of two racing claims on any instances, one changes the row.
    const { rowCount } = await this.pool.query(
      `UPDATE calls SET analysis = '{"state":"pending"}', analysis_claimed_at = $2
       WHERE id = $1 AND (analysis IS NULL
         OR (analysis->>'state' = 'pending' AND (analysis_claimed_at IS NULL OR analysis_claimed_at < $3))
         OR (analysis->>'state' = 'failed' AND $4))`,
      [id, this.now().toISOString(), claim.staleBefore.toISOString(), claim.retryFailed],
    );
    if (rowCount === 1) return this.mustGet(id);
    if (!(await this.get(id))) throw new CallNotFoundError(id);
    return undefined;
  }

  async setAnalysis(id: string, state: AnalysisState): Promise<Call> {
    if (!storable(id)) throw new CallNotFoundError(id);
    const { rowCount } = await this.pool.query('UPDATE calls SET analysis = $2 WHERE id = $1', [id, JSON.stringify(state)]);
    if (rowCount === 0) throw new CallNotFoundError(id);
    return this.mustGet(id);
  }

  async close(): Promise<void> {
    await Promise.all(this.appends.values());
    await this.pool.end();
  }

  /** Pool connections run queries in parallel: a call's appends are chained so they land in order. */
  private inOrder(id: string, sql: string, params: unknown[]): Promise<void> {
    const previous = this.appends.get(id) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        try {
          await this.pool.query(sql, params);
        } catch (error) {
          // The foreign key is the existence check: no extra read on these frequent writes.
          if (sqlState(error) === FOREIGN_KEY_VIOLATION) throw new CallNotFoundError(id);
          throw error;
        }
      });
    const settled = next.catch(() => undefined);
    this.appends.set(id, settled);
    void settled.then(() => this.appends.get(id) === settled && this.appends.delete(id));
    return next;
  }

  private async mustGet(id: string): Promise<Call> {
    const call = await this.get(id);
    if (!call) throw new CallNotFoundError(id);
    return call;
  }
}

/** PostgreSQL's text cannot hold NUL: no call has such an id, and asking must not be a 500. */
function storable(key: string): boolean {
  return !key.includes('\u0000');
}
