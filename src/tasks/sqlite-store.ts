// The SQLite task store: one file under the data dir, WAL journal, schema by ordered migrations.
import Database from 'better-sqlite3';
import { openSqliteDatabase } from '../db/sqlite.js';
import { randomUUID } from 'node:crypto';
import type { Database as Db } from 'better-sqlite3';
import {
  decideNext,
  decideOffer,
  heldFromRow,
  liveLease,
  sequenceColumns,
  sequenceFromRow,
  type CallbackSequence,
  type HeldSummaryRow,
  type SequenceRow,
} from './callback-order.js';
import { canTransition, TERMINAL_STATUSES } from './model.js';
import type { AnalysisState, JsonObject, NewTask, StatusChange, Task, TaskStatus, TranscriptLine } from './model.js';
import {
  InvalidCursorError,
  InvalidTransitionError,
  MAX_LIST_LIMIT,
  TaskNotFoundError,
} from './store.js';
import type {
  AnalysisClaim,
  CallbackLease,
  CallbackOffer,
  CallbackTiming,
  CallbackTurn,
  ListOptions,
  StreamHolder,
  TaskPage,
  TaskPatch,
  TaskStore,
  TaskSummary,
  TransitionPatch,
} from './store.js';

export { TASKS_DB_FILE } from '../db/sqlite.js';

export interface SqliteTaskStoreOptions {
  /** Clock for timestamps; tests pin it to create tasks with equal creation times. */
  now?: () => Date;
}

/** Opens (creating if needed) `<dataDir>/tasks.sqlite` and brings its schema up to date. */
export function openSqliteTaskStore(dataDir: string, options: SqliteTaskStoreOptions = {}): TaskStore {
  return openSqliteDatabase(dataDir, (db) => new SqliteTaskStore(db, options.now ?? (() => new Date())));
}

interface TaskRow {
  id: string;
  to_number: string;
  from_number: string;
  prompt: string | null;
  greeting: string | null;
  metadata: string | null;
  status: TaskStatus;
  call_sid: string | null;
  created_at: string;
  updated_at: string;
  dialed_at: string | null;
  answered_at: string | null;
  ended_at: string | null;
  duration_s: number | null;
  answered_by: string | null;
  end_reason: string | null;
  recording_path: string | null;
  analysis: string | null;
}

interface ClaimParams {
  id: string;
  now: string;
  staleBefore: string;
  retryFailed: 0 | 1;
}

interface HistoryRow {
  task_id: string;
  status: TaskStatus;
  at: string;
  source: string | null;
}

interface TranscriptRow {
  task_id: string;
  role: TranscriptLine['role'];
  text: string;
  at_ms: number;
  interrupted: number | null;
}

/** Named parameters shared by `transition` and `update`: null leaves a column unchanged. */
interface FieldParams {
  id: string;
  now: string;
  callSid: string | null;
  answeredBy: string | null;
  durationS: number | null;
  endReason: string | null;
}

interface InsertParams {
  id: string;
  to: string;
  from: string;
  prompt: string | null;
  greeting: string | null;
  metadata: string | null;
  now: string;
}

interface ListParams {
  afterCreated: string;
  afterId: string;
  status: TaskStatus | null;
  take: number;
}

interface StatusParams extends FieldParams {
  to: TaskStatus;
  dials: 0 | 1;
  answers: 0 | 1;
  ends: 0 | 1;
}

/** Sorts after every ISO timestamp, so the first page needs no special query. */
const FIRST_PAGE: readonly [string, string] = ['9999-12-31T23:59:59.999Z', ''];

const TASK_COLUMNS = `id, to_number, from_number, prompt, greeting, metadata, status, call_sid, created_at,
  updated_at, dialed_at, answered_at, ended_at, duration_s, answered_by, end_reason, recording_path, analysis`;

const FIELD_UPDATES = `call_sid = COALESCE(@callSid, call_sid),
  answered_by = COALESCE(@answeredBy, answered_by),
  duration_s = COALESCE(@durationS, duration_s),
  end_reason = COALESCE(@endReason, end_reason),
  updated_at = @now`;

// Every method is async to match the seam, but runs its statements synchronously (microseconds,
// no fsync per commit in WAL + NORMAL): nothing interleaves inside one call in this process, and
// read-then-write transactions take the write lock up front (IMMEDIATE), so another process
// sharing the file waits on busy_timeout instead of failing with SQLITE_BUSY mid-transaction.
class SqliteTaskStore implements TaskStore {
  private readonly sql;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date,
  ) {
    this.sql = prepareStatements(db);
  }

  async create(input: NewTask & { from: string }): Promise<Task> {
    const id = `task_${randomUUID().replaceAll('-', '')}`;
    const now = this.timestamp();
    return this.db.transaction(() => {
      this.sql.insertTask.run({
        id,
        to: input.to,
        from: input.from,
        prompt: input.prompt ?? null,
        greeting: input.greeting ?? null,
        metadata: input.metadata === undefined ? null : JSON.stringify(input.metadata),
        now,
      });
      this.sql.insertHistory.run(id, 'created', now, null);
      return this.mustRead(id);
    })();
  }

  async get(id: string): Promise<Task | undefined> {
    return this.read(id);
  }

  async list({ limit, cursor, status }: ListOptions): Promise<TaskPage> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
    }
    const [afterCreated, afterId] = cursor === undefined ? FIRST_PAGE : decodeCursor(cursor);
    const params = { afterCreated, afterId, status: status ?? null, take: limit + 1 };
    const statement = status === undefined ? this.sql.listAll : this.sql.listByStatus;
    // One read transaction: the page and its histories come from the same snapshot.
    return this.db.transaction(() => {
      const rows = statement.all(params);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      const tasks = this.summaries(page);
      return rows.length > limit && last ? { tasks, nextCursor: encodeCursor(last) } : { tasks };
    })();
  }

  /** Resolves with the task as this transaction left it: its history ends with this move. */
  async transition(id: string, to: TaskStatus, patch: TransitionPatch = {}, source?: string): Promise<Task> {
    return this.db.transaction(() => {
      const from = this.currentStatus(id);
      if (!canTransition(from, to)) throw new InvalidTransitionError(id, from, to);
      const now = this.timestamp();
      this.sql.updateStatus.run({
        ...fieldParams(id, now, patch),
        to,
        dials: flag(to === 'queued' || to === 'ringing' || to === 'in-progress'),
        answers: flag(to === 'in-progress'),
        ends: flag(TERMINAL_STATUSES.has(to)),
      });
      this.sql.insertHistory.run(id, to, now, source ?? null);
      return this.mustRead(id);
    }).immediate();
  }

  async update(id: string, patch: TaskPatch): Promise<Task> {
    const params = { ...fieldParams(id, this.timestamp(), patch), recordingPath: patch.recordingPath ?? null };
    return this.db.transaction(() => {
      if (this.sql.updateFields.run(params).changes === 0) throw new TaskNotFoundError(id);
      return this.mustRead(id);
    }).immediate();
  }

  async appendTranscript(id: string, line: TranscriptLine): Promise<void> {
    try {
      this.sql.insertTranscript.run(id, line.role, line.text, line.atMs, line.interrupted ? 1 : null);
    } catch (error) {
      // The foreign key is the existence check: no extra read on this frequent write.
      if (error instanceof Database.SqliteError && error.code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new TaskNotFoundError(id);
      }
      throw error;
    }
  }

  async setAnalysis(id: string, state: AnalysisState): Promise<Task> {
    return this.db.transaction(() => {
      const result = this.sql.updateAnalysis.run(JSON.stringify(state), this.timestamp(), id);
      if (result.changes === 0) throw new TaskNotFoundError(id);
      return this.mustRead(id);
    }).immediate();
  }

  async claimAnalysis(id: string, claim: AnalysisClaim): Promise<Task | undefined> {
    const params: ClaimParams = {
      id,
      now: this.timestamp(),
      staleBefore: claim.staleBefore.toISOString(),
      retryFailed: flag(claim.retryFailed),
    };
    return this.db.transaction(() => {
      // The conditional UPDATE is the decision: of two racing claims, the second finds the row
      // already pending with a fresh claim time and changes nothing.
      if (this.sql.claimAnalysis.run(params).changes === 1) return this.mustRead(id);
      if (!this.sql.selectStatus.get(id)) throw new TaskNotFoundError(id);
      return undefined;
    }).immediate();
  }

  async findByCallSid(callSid: string): Promise<Task | undefined> {
    const row = this.sql.selectByCallSid.get(callSid);
    return row && this.hydrate([row])[0];
  }

  async offerCallback(callSid: string, seq: number, body: JsonObject, timing: CallbackTiming): Promise<CallbackOffer> {
    const nowMs = this.now().getTime();
    // IMMEDIATE: the call's row is read and written under the write lock, so of two processes
    // offering callbacks of one call, the second decides on what the first left.
    return this.db.transaction((): CallbackOffer => {
      this.sql.insertSequence.run(callSid);
      const sequence = sequenceFromRow(this.sql.selectSequence.get(callSid)!);
      const decision = decideOffer(sequence, seq, this.sql.selectHeld.get(callSid, seq) !== undefined, nowMs);
      if (decision === 'stale') return { outcome: 'stale' };
      if (decision === 'hold') {
        this.sql.insertHeld.run(callSid, seq, JSON.stringify(body), nowMs);
        return { outcome: 'held' };
      }
      const lease: CallbackLease = { holder: randomUUID(), seq };
      this.saveSequence(callSid, { ...sequence, lease: { ...lease, untilMs: nowMs + timing.leaseMs } });
      return { outcome: 'apply', lease };
    }).immediate();
  }

  async finishCallback(callSid: string, lease: CallbackLease, timing: CallbackTiming, ended: boolean): Promise<CallbackTurn> {
    const nowMs = this.now().getTime();
    return this.db.transaction((): CallbackTurn => {
      const row = this.sql.selectSequence.get(callSid);
      const sequence = row && sequenceFromRow(row);
      if (!sequence || sequence.lease?.holder !== lease.holder) return { outcome: 'done' };
      if (ended) {
        this.sql.deleteSequence.run(callSid);
        this.sql.deleteAllHeld.run(callSid);
        return { outcome: 'done' };
      }
      const advanced = { ...sequence, nextSeq: Math.max(sequence.nextSeq, lease.seq + 1), lease: undefined };
      return this.handOn(callSid, advanced, lease.holder, nowMs, timing);
    }).immediate();
  }

  async takeHeldCallback(callSid: string, timing: CallbackTiming): Promise<CallbackTurn> {
    const nowMs = this.now().getTime();
    return this.db.transaction((): CallbackTurn => {
      const row = this.sql.selectSequence.get(callSid);
      if (!row) return { outcome: 'done' };
      const sequence = sequenceFromRow(row);
      const busy = liveLease(sequence, nowMs);
      if (busy) return { outcome: 'wait', ms: busy.untilMs - nowMs };
      return this.handOn(callSid, { ...sequence, lease: undefined }, randomUUID(), nowMs, timing);
    }).immediate();
  }

  async setStreamMember(id: string, member: string | undefined, onlyIf?: { member: string | undefined }): Promise<boolean> {
    const params = { id, member: member ?? null, checked: flag(onlyIf !== undefined), expected: onlyIf?.member ?? null };
    return this.sql.updateStreamMember.run(params).changes === 1;
  }

  async streamMembers(): Promise<StreamHolder[]> {
    return this.sql.selectStreamMembers.all().map((row) => ({ taskId: row.id, member: row.stream_member }));
  }

  async close(): Promise<void> {
    this.db.close();
  }

  /** With the lease free (or `holder`'s, just finished): hands the next due held callback to `holder`, or lets the lease go. */
  private handOn(callSid: string, sequence: CallbackSequence, holder: string, nowMs: number, timing: CallbackTiming): CallbackTurn {
    const next = decideNext(sequence, heldFromRow(this.sql.summarizeHeld.get(callSid)), nowMs, timing.holdMs);
    if (next === 'none' || 'waitMs' in next) {
      this.saveSequence(callSid, sequence);
      return next === 'none' ? { outcome: 'done' } : { outcome: 'wait', ms: next.waitMs };
    }
    const { body } = this.sql.takeHeld.get(callSid, next.take)!;
    const lease: CallbackLease = { holder, seq: next.take };
    this.saveSequence(callSid, { ...sequence, flushThrough: next.flushThrough, lease: { ...lease, untilMs: nowMs + timing.leaseMs } });
    return { outcome: 'apply', lease, body: JSON.parse(body) as JsonObject };
  }

  private saveSequence(callSid: string, sequence: CallbackSequence): void {
    this.sql.updateSequence.run(...sequenceColumns(sequence), callSid);
  }

  private timestamp(): string {
    return this.now().toISOString();
  }

  private currentStatus(id: string): TaskStatus {
    const row = this.sql.selectStatus.get(id);
    if (!row) throw new TaskNotFoundError(id);
    return row.status;
  }

  private read(id: string): Task | undefined {
    const row = this.sql.selectTask.get(id);
    return row && this.hydrate([row])[0];
  }

  private mustRead(id: string): Task {
    const task = this.read(id);
    if (!task) throw new TaskNotFoundError(id);
    return task;
  }

  /** Builds tasks with their history and transcript: two queries for the whole batch, not two per task. */
  private hydrate(rows: TaskRow[]): Task[] {
    if (rows.length === 0) return [];
    const transcript = groupBy(this.sql.selectTranscript.all(JSON.stringify(rows.map((r) => r.id))), toTranscriptLine);
    return this.summaries(rows).map((task) => ({ ...task, transcript: transcript.get(task.id) ?? [] }));
  }

  /** Builds tasks with their history, without reading transcripts (lists do not carry them). */
  private summaries(rows: TaskRow[]): TaskSummary[] {
    if (rows.length === 0) return [];
    const history = groupBy(this.sql.selectHistory.all(JSON.stringify(rows.map((r) => r.id))), toStatusChange);
    return rows.map((row) => toSummary(row, history.get(row.id) ?? []));
  }
}

function prepareStatements(db: Db) {
  const byIds = 'task_id IN (SELECT value FROM json_each(?))';
  return {
    insertTask: db.prepare<InsertParams>(`INSERT INTO tasks (id, to_number, from_number, prompt, greeting, metadata, status,
      created_at, updated_at) VALUES (@id, @to, @from, @prompt, @greeting, @metadata, 'created', @now, @now)`),
    insertHistory: db.prepare<[string, TaskStatus, string, string | null]>('INSERT INTO task_status_history (task_id, status, at, source) VALUES (?, ?, ?, ?)'),
    insertTranscript: db.prepare<[string, string, string, number, 1 | null]>(
      'INSERT INTO task_transcript_lines (task_id, role, text, at_ms, interrupted) VALUES (?, ?, ?, ?, ?)',
    ),
    selectTask: db.prepare<[string], TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks WHERE id = ?`),
    selectByCallSid: db.prepare<[string], TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks WHERE call_sid = ?`),
    selectStatus: db.prepare<[string], { status: TaskStatus }>('SELECT status FROM tasks WHERE id = ?'),
    selectHistory: db.prepare<[string], HistoryRow>(`SELECT task_id, status, at, source FROM task_status_history WHERE ${byIds} ORDER BY seq`),
    selectTranscript: db.prepare<[string], TranscriptRow>(
      `SELECT task_id, role, text, at_ms, interrupted FROM task_transcript_lines WHERE ${byIds} ORDER BY seq`,
    ),
    listAll: db.prepare<ListParams, TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks
      WHERE (created_at, id) < (@afterCreated, @afterId)
      ORDER BY created_at DESC, id DESC LIMIT @take`),
    listByStatus: db.prepare<ListParams, TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks
      WHERE status = @status AND (created_at, id) < (@afterCreated, @afterId)
      ORDER BY created_at DESC, id DESC LIMIT @take`),
    updateStatus: db.prepare<StatusParams>(`UPDATE tasks SET status = @to,
      dialed_at = CASE WHEN @dials THEN COALESCE(dialed_at, @now) ELSE dialed_at END,
      answered_at = CASE WHEN @answers THEN COALESCE(answered_at, @now) ELSE answered_at END,
      ended_at = CASE WHEN @ends THEN COALESCE(ended_at, @now) ELSE ended_at END,
      ${FIELD_UPDATES} WHERE id = @id`),
    updateFields: db.prepare<FieldParams & { recordingPath: string | null }>(`UPDATE tasks SET recording_path = COALESCE(@recordingPath, recording_path),
      ${FIELD_UPDATES} WHERE id = @id`),
    // IS: "only while it names nobody" compares NULL with NULL as equal.
    updateStreamMember: db.prepare<{ id: string; member: string | null; checked: 0 | 1; expected: string | null }>(
      'UPDATE tasks SET stream_member = @member WHERE id = @id AND (NOT @checked OR stream_member IS @expected)',
    ),
    selectStreamMembers: db.prepare<[], { id: string; stream_member: string }>(
      'SELECT id, stream_member FROM tasks WHERE stream_member IS NOT NULL ORDER BY id',
    ),
    updateAnalysis: db.prepare<[string, string, string]>('UPDATE tasks SET analysis = ?, updated_at = ? WHERE id = ?'),
    // A pending analysis with no claim time was left by a build before claims: nobody holds it.
    insertSequence: db.prepare<[string]>('INSERT INTO call_callback_sequences (call_sid) VALUES (?) ON CONFLICT DO NOTHING'),
    selectSequence: db.prepare<[string], SequenceRow>(
      'SELECT next_seq, applying_seq, lease_holder, lease_until_ms, flush_through FROM call_callback_sequences WHERE call_sid = ?',
    ),
    updateSequence: db.prepare<[number, number | null, string | null, number | null, number | null, string]>(`UPDATE call_callback_sequences
      SET next_seq = ?, applying_seq = ?, lease_holder = ?, lease_until_ms = ?, flush_through = ? WHERE call_sid = ?`),
    deleteSequence: db.prepare<[string]>('DELETE FROM call_callback_sequences WHERE call_sid = ?'),
    selectHeld: db.prepare<[string, number], { seq: number }>('SELECT seq FROM held_call_callbacks WHERE call_sid = ? AND seq = ?'),
    insertHeld: db.prepare<[string, number, string, number]>('INSERT INTO held_call_callbacks (call_sid, seq, body, held_at_ms) VALUES (?, ?, ?, ?)'),
    summarizeHeld: db.prepare<[string], HeldSummaryRow>(`SELECT MIN(seq) AS first_seq, MAX(seq) AS last_seq, MIN(held_at_ms) AS oldest_held_at_ms
      FROM held_call_callbacks WHERE call_sid = ?`),
    takeHeld: db.prepare<[string, number], { body: string }>('DELETE FROM held_call_callbacks WHERE call_sid = ? AND seq = ? RETURNING body'),
    deleteAllHeld: db.prepare<[string]>('DELETE FROM held_call_callbacks WHERE call_sid = ?'),
    claimAnalysis: db.prepare<ClaimParams>(`UPDATE tasks SET analysis = '{"state":"pending"}', analysis_claimed_at = @now, updated_at = @now
      WHERE id = @id AND (analysis IS NULL
        OR (analysis ->> '$.state' = 'pending' AND (analysis_claimed_at IS NULL OR analysis_claimed_at < @staleBefore))
        OR (@retryFailed AND analysis ->> '$.state' = 'failed'))`),
  };
}

function fieldParams(id: string, now: string, patch: TransitionPatch): FieldParams {
  return {
    id,
    now,
    callSid: patch.callSid ?? null,
    answeredBy: patch.answeredBy ?? null,
    durationS: patch.durationS ?? null,
    endReason: patch.endReason ?? null,
  };
}

/** better-sqlite3 binds no booleans. */
function flag(value: boolean): 0 | 1 {
  return value ? 1 : 0;
}

function toSummary(row: TaskRow, history: StatusChange[]): TaskSummary {
  const optional = dropNulls({
    prompt: row.prompt,
    greeting: row.greeting,
    metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as JsonObject),
    callSid: row.call_sid,
    dialedAt: row.dialed_at,
    answeredAt: row.answered_at,
    endedAt: row.ended_at,
    durationS: row.duration_s,
    answeredBy: row.answered_by,
    endReason: row.end_reason,
    recordingPath: row.recording_path,
    analysis: row.analysis === null ? null : (JSON.parse(row.analysis) as AnalysisState),
  });
  return {
    id: row.id,
    to: row.to_number,
    from: row.from_number,
    status: row.status,
    history,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...optional,
  };
}

function toStatusChange(row: HistoryRow): StatusChange {
  return row.source === null ? { status: row.status, at: row.at } : { status: row.status, at: row.at, source: row.source };
}

function toTranscriptLine(row: TranscriptRow): TranscriptLine {
  const line: TranscriptLine = { role: row.role, text: row.text, atMs: row.at_ms };
  if (row.interrupted === 1) line.interrupted = true;
  return line;
}

/** Omits null columns so a task carries only the fields it has. */
function dropNulls<T extends Record<string, unknown>>(record: T): { [K in keyof T]?: Exclude<T[K], null> } {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== null)) as {
    [K in keyof T]?: Exclude<T[K], null>;
  };
}

function groupBy<R extends { task_id: string }, V>(rows: R[], map: (row: R) => V): Map<string, V[]> {
  const groups = new Map<string, V[]>();
  for (const row of rows) {
    const group = groups.get(row.task_id);
    if (group) group.push(map(row));
    else groups.set(row.task_id, [map(row)]);
  }
  return groups;
}

// The cursor is the last task's (created_at, id), base64url-encoded so callers treat it as opaque.
function encodeCursor(row: TaskRow): string {
  return Buffer.from(JSON.stringify([row.created_at, row.id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && value.every((part) => typeof part === 'string')) {
      return [value[0] as string, value[1] as string];
    }
  } catch {
    // fall through: not base64url JSON
  }
  throw new InvalidCursorError();
}
