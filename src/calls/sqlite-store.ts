// The SQLite call store: the tasks' database file under DATA_DIR, its own connection.
import Database from 'better-sqlite3';
import { openSqliteDatabase } from '../db/sqlite.js';
import type { Database as Db } from 'better-sqlite3';
import type { AnalysisState } from '../tasks/model.js';
import type { AnalysisClaim } from '../tasks/store.js';
import { decodeCursor, encodeCursor, FIRST_PAGE } from './cursor.js';
import type { Call, CallDirection, CallEntry, CallEvent, CallStatus, CallTranscriptLine } from './model.js';
import { CallExistsError, CallNotFoundError, MAX_CALL_LIST_LIMIT } from './store.js';
import type { CallEnd, CallEntryPage, CallListOptions, CallStart, CallStore, LiveCall, NewCall, PendingCallEnd, RecordedCall } from './store.js';

export interface CallStoreOptions {
  /** Clock for timestamps; tests pin it. */
  now?: () => Date;
}

export function openSqliteCallStore(dataDir: string, options: CallStoreOptions = {}): CallStore {
  return openSqliteDatabase(dataDir, (db) => new SqliteCallStore(db, options.now ?? (() => new Date())));
}

export interface CallRow {
  id: string;
  direction: CallDirection;
  status: CallStatus;
  agent: string;
  task_id: string | null;
  call_sid: string | null;
  stream_sid: string | null;
  from_number: string | null;
  to_number: string | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  end_reason: string | null;
  end_detail: string | null;
  recording_path: string | null;
  recording_ms: number | null;
  transcript_note: string | null;
  analysis: AnalysisState | string | null;
}

interface LineRow {
  role: CallTranscriptLine['role'];
  text: string;
  at_ms: number;
  interrupted: number | boolean | null;
}

const COLUMNS = `id, direction, status, agent, task_id, call_sid, stream_sid, from_number, to_number, created_at,
  started_at, ended_at, duration_ms, end_reason, end_detail, recording_path, recording_ms, transcript_note, analysis`;

const FILTERS = `(created_at, id) < (@afterCreated, @afterId)
  AND (@direction IS NULL OR direction = @direction)
  AND (@status IS NULL OR status = @status)
  AND (@agent IS NULL OR agent = @agent)
  AND (@taskId IS NULL OR task_id = @taskId)
  AND (@since IS NULL OR created_at >= @since)
  AND (@until IS NULL OR created_at < @until)`;

/** Statements run synchronously (see the task store): read-then-write ones take the write lock up front. */
class SqliteCallStore implements CallStore {
  private readonly sql;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date,
  ) {
    this.sql = {
      insert: db.prepare(`INSERT INTO calls (id, direction, status, agent, task_id, call_sid, stream_sid, from_number, to_number,
        created_at, started_at, transcript_note, stream_member) VALUES (@id, @direction, @status, @agent, @taskId, @callSid, @streamSid, @from, @to,
        @createdAt, @startedAt, @transcriptNote, @member)`),
      select: db.prepare<[string], CallRow>(`SELECT ${COLUMNS} FROM calls WHERE id = ?`),
      lines: db.prepare<[string], LineRow>('SELECT role, text, at_ms, interrupted FROM call_transcript_lines WHERE call_id = ? ORDER BY seq'),
      events: db.prepare<[string], { event: string }>('SELECT event FROM call_events WHERE call_id = ? ORDER BY seq'),
      list: db.prepare<Record<string, unknown>, CallRow>(`SELECT ${COLUMNS} FROM calls WHERE ${FILTERS} ORDER BY created_at DESC, id DESC LIMIT @take`),
      claimPending: db.prepare(`UPDATE calls SET status = 'in-progress', call_sid = @callSid, stream_sid = @streamSid, started_at = @startedAt,
        stream_member = @member WHERE id = @id AND status = 'pending' AND created_at >= @createdSince`),
      expirePending: db.prepare<Record<string, unknown>, { id: string }>(`UPDATE calls SET status = 'failed', ended_at = @endedAt, duration_ms = 0,
        end_reason = @endReason, end_detail = @endDetail WHERE status = 'pending' AND created_at < @cutoff RETURNING id`),
      importRecorded: db.prepare(`INSERT OR IGNORE INTO calls (id, direction, status, agent, task_id, call_sid, stream_sid, created_at, started_at,
        ended_at, duration_ms, recording_path, recording_ms) VALUES (@id, @direction, 'completed', 'unknown', @taskId, @callSid, @streamSid,
        @startedAt, @startedAt, @endedAt, @recordingMs, @recordingPath, @recordingMs)`),
      hasRecording: db.prepare<[string], { id: string }>('SELECT id FROM calls WHERE recording_path = ? LIMIT 1'),
      recordsSince: db.prepare<[], { applied_at: string }>('SELECT applied_at FROM schema_migrations WHERE version = 6'),
      inProgress: db.prepare<[], { id: string; stream_member: string | null; call_sid: string | null; stream_sid: string | null; started_at: string | null }>(
        `SELECT id, stream_member, call_sid, stream_sid, started_at FROM calls WHERE status = 'in-progress' ORDER BY created_at, id`,
      ),
      insertLine: db.prepare('INSERT INTO call_transcript_lines (call_id, role, text, at_ms, interrupted) VALUES (?, ?, ?, ?, ?)'),
      insertEvent: db.prepare('INSERT INTO call_events (call_id, event) VALUES (?, ?)'),
      finish: db.prepare(`UPDATE calls SET status = @status, ended_at = @endedAt, duration_ms = @durationMs, end_reason = @endReason,
        end_detail = @endDetail, recording_path = @recordingPath, recording_ms = @recordingMs, stream_member = NULL WHERE id = @id`),
      idsOfTask: db.prepare<[string], { id: string }>('SELECT id FROM calls WHERE task_id = ? ORDER BY created_at, id'),
      // Never started, left pending by a process that died, or failed and asked for again.
      claimAnalysis: db.prepare(`UPDATE calls SET analysis = '{"state":"pending"}', analysis_claimed_at = @now
        WHERE id = @id AND (analysis IS NULL
          OR (json_extract(analysis, '$.state') = 'pending' AND (analysis_claimed_at IS NULL OR analysis_claimed_at < @staleBefore))
          OR (json_extract(analysis, '$.state') = 'failed' AND @retryFailed = 1))`),
      setAnalysis: db.prepare('UPDATE calls SET analysis = ? WHERE id = ?'),
    };
  }

  async create(call: NewCall): Promise<Call> {
    try {
      this.sql.insert.run({
        id: call.id,
        direction: call.direction,
        status: call.startedAt === undefined ? 'pending' : 'in-progress',
        agent: call.agent,
        taskId: call.taskId ?? null,
        callSid: call.callSid ?? null,
        streamSid: call.streamSid ?? null,
        from: call.from ?? null,
        to: call.to ?? null,
        createdAt: this.now().toISOString(),
        startedAt: call.startedAt ?? null,
        transcriptNote: call.transcriptNote ?? null,
        member: call.member ?? null,
      });
    } catch (error) {
      if (error instanceof Database.SqliteError && error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new CallExistsError(call.id);
      throw error;
    }
    return this.mustRead(call.id);
  }

  async claimPending(id: string, start: CallStart, createdSince = new Date(0)): Promise<Call | undefined> {
    const claim = { id, ...start, createdSince: createdSince.toISOString() };
    return this.db.transaction(() => (this.sql.claimPending.run(claim).changes === 1 ? this.mustRead(id) : undefined)).immediate();
  }

  async expirePending(cutoff: Date, end: PendingCallEnd): Promise<string[]> {
    const rows = this.sql.expirePending.all({ cutoff: cutoff.toISOString(), endedAt: end.endedAt, endReason: end.endReason, endDetail: end.endDetail ?? null });
    return rows.map((row) => row.id);
  }

  async get(id: string): Promise<Call | undefined> {
    return this.read(id);
  }

  async list(options: CallListOptions): Promise<CallEntryPage> {
    const { limit, cursor } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CALL_LIST_LIMIT) throw new RangeError(`limit must be an integer from 1 to ${MAX_CALL_LIST_LIMIT}`);
    const [afterCreated, afterId] = cursor === undefined ? FIRST_PAGE : decodeCursor(cursor);
    const rows = this.sql.list.all({
      afterCreated,
      afterId,
      direction: options.direction ?? null,
      status: options.status ?? null,
      agent: options.agent ?? null,
      taskId: options.taskId ?? null,
      since: options.since?.toISOString() ?? null,
      until: options.until?.toISOString() ?? null,
      take: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const calls = page.map(toEntry);
    return rows.length > limit && last ? { calls, nextCursor: encodeCursor(last.created_at, last.id) } : { calls };
  }

  async appendTranscript(id: string, line: CallTranscriptLine): Promise<void> {
    this.insertChild(id, () => this.sql.insertLine.run(id, line.role, line.text, line.atMs, line.interrupted ? 1 : null));
  }

  async appendEvent(id: string, event: CallEvent): Promise<void> {
    this.insertChild(id, () => this.sql.insertEvent.run(id, JSON.stringify(event)));
  }

  async finish(id: string, end: CallEnd): Promise<Call> {
    const params = { id, ...end, endDetail: end.endDetail ?? null, recordingPath: end.recordingPath ?? null, recordingMs: end.recordingMs ?? null };
    if (this.sql.finish.run(params).changes === 0) throw new CallNotFoundError(id);
    return this.mustRead(id);
  }

  async importRecorded(call: RecordedCall): Promise<boolean> {
    const endedAt = new Date(Date.parse(call.startedAt) + call.recordingMs).toISOString();
    return this.sql.importRecorded.run({ ...call, taskId: call.taskId ?? null, endedAt }).changes === 1;
  }

  async hasRecording(recordingPath: string): Promise<boolean> {
    return this.sql.hasRecording.get(recordingPath) !== undefined;
  }

  async recordsSince(): Promise<Date | undefined> {
    const row = this.sql.recordsSince.get();
    return row && new Date(row.applied_at);
  }

  async inProgress(): Promise<LiveCall[]> {
    return this.sql.inProgress.all().map(toLiveCall);
  }

  async idsOfTask(taskId: string): Promise<string[]> {
    return this.sql.idsOfTask.all(taskId).map((row) => row.id);
  }

  async claimAnalysis(id: string, claim: AnalysisClaim): Promise<Call | undefined> {
    const params = { id, now: this.now().toISOString(), staleBefore: claim.staleBefore.toISOString(), retryFailed: claim.retryFailed ? 1 : 0 };
    return this.db.transaction(() => {
      if (this.sql.claimAnalysis.run(params).changes === 1) return this.mustRead(id);
      if (!this.sql.select.get(id)) throw new CallNotFoundError(id);
      return undefined;
    }).immediate();
  }

  async setAnalysis(id: string, state: AnalysisState): Promise<Call> {
    if (this.sql.setAnalysis.run(JSON.stringify(state), id).changes === 0) throw new CallNotFoundError(id);
    return this.mustRead(id);
  }

  async close(): Promise<void> {
    this.db.close();
  }

  /** The foreign key is the existence check: no extra read on these frequent writes. */
  private insertChild(id: string, insert: () => void): void {
    try {
      insert();
    } catch (error) {
      if (error instanceof Database.SqliteError && error.code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new CallNotFoundError(id);
      throw error;
    }
  }

  private read(id: string): Call | undefined {
    // One read transaction: the call, its lines and events from one snapshot.
    return this.db.transaction(() => {
      const row = this.sql.select.get(id);
      if (!row) return undefined;
      const transcript = this.sql.lines.all(id).map(toLine);
      const events = this.sql.events.all(id).map((r) => JSON.parse(r.event) as CallEvent);
      return { ...toEntry(row), transcript, events };
    })();
  }

  private mustRead(id: string): Call {
    const call = this.read(id);
    if (!call) throw new CallNotFoundError(id);
    return call;
  }
}

export function toLiveCall(row: { id: string; stream_member: string | null; call_sid: string | null; stream_sid: string | null; started_at: string | null }): LiveCall {
  const { id, stream_member: member, call_sid: callSid, stream_sid: streamSid, started_at: startedAt } = row;
  return { id, ...(member !== null && { member }), ...(callSid !== null && { callSid }), ...(streamSid !== null && { streamSid }), ...(startedAt !== null && { startedAt }) };
}

export function toLine(row: LineRow): CallTranscriptLine {
  const line: CallTranscriptLine = { role: row.role, text: row.text, atMs: row.at_ms };
  if (row.interrupted === 1 || row.interrupted === true) line.interrupted = true;
  return line;
}

/** A row as the call it holds; null columns are left out, so a call carries only what it has. */
export function toEntry(row: CallRow): CallEntry {
  const analysis = typeof row.analysis === 'string' ? (JSON.parse(row.analysis) as AnalysisState) : row.analysis;
  const optional = {
    taskId: row.task_id,
    callSid: row.call_sid,
    streamSid: row.stream_sid,
    from: row.from_number,
    to: row.to_number,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    endReason: row.end_reason,
    endDetail: row.end_detail,
    recordingPath: row.recording_path,
    recordingMs: row.recording_ms === null ? null : Number(row.recording_ms),
    transcriptNote: row.transcript_note,
    analysis,
  };
  const present = Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== null));
  return { id: row.id, direction: row.direction, status: row.status, agent: row.agent, createdAt: row.created_at, ...present };
}
