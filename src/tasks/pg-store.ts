// The PostgreSQL task store (DATABASE_URL): the same behaviour as the SQLite store, shared by
// every instance on one database. What must happen once is decided in one statement or one
// transaction here, never by a read in one call and a write in the next.
import { randomUUID } from 'node:crypto';
import { runMigrations } from '../db/migrations.js';
import { createPool, inTransaction, sqlState, type Pool, type Queryable } from '../db/pool.js';
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
import { PG_MIGRATIONS } from './pg-migrations.js';
import { InvalidCursorError, InvalidTransitionError, MAX_LIST_LIMIT, TaskNotFoundError } from './store.js';
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

export interface PgTaskStoreOptions {
  /** Clock for timestamps; tests pin it to create tasks with equal creation times. */
  now?: () => Date;
  /** A pooled connection broke while idle; the pool has replaced it. */
  onIdleError?: (error: Error) => void;
  /** Connections at most (default 10). */
  maxConnections?: number;
}

/** Connects to `url`, brings the schema up to date (once across instances) and returns the store. */
export async function openPgTaskStore(url: string, options: PgTaskStoreOptions = {}): Promise<TaskStore> {
  const pool = createPool(url, {
    max: options.maxConnections ?? 10,
    applicationName: 'telephony-gateway tasks',
    onIdleError: options.onIdleError ?? (() => undefined),
  });
  try {
    await runMigrations(pool, PG_MIGRATIONS);
    return new PgTaskStore(pool, options.now ?? (() => new Date()));
  } catch (error) {
    await pool.end();
    throw error;
  }
}

/** A timestamptz as the API's ISO string (`2026-12-03T11:00:00.000Z`), whatever the session's time zone. */
const iso = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

// History and transcript come aggregated into the task's own row: one round trip per read.
const HISTORY = `(SELECT json_agg(json_build_object('status', h.status, 'at', ${iso('h.at')}, 'source', h.source) ORDER BY h.seq)
  FROM task_status_history h WHERE h.task_id = t.id) AS history`;
const TRANSCRIPT = `(SELECT json_agg(json_build_object('role', l.role, 'text', l.text, 'atMs', l.at_ms, 'interrupted', l.interrupted)
  ORDER BY l.seq) FROM task_transcript_lines l WHERE l.task_id = t.id) AS transcript`;
const SUMMARY_COLUMNS = `t.id, t.to_number, t.from_number, t.prompt, t.greeting, t.metadata, t.status, t.call_sid,
  ${iso('t.created_at')} AS created_at, ${iso('t.updated_at')} AS updated_at, ${iso('t.dialed_at')} AS dialed_at,
  ${iso('t.answered_at')} AS answered_at, ${iso('t.ended_at')} AS ended_at, t.duration_s, t.answered_by, t.end_reason,
  t.recording_path, t.analysis, ${HISTORY}`;
const TASK_COLUMNS = `${SUMMARY_COLUMNS}, ${TRANSCRIPT}`;

// $2 is the time; $3.. the patch. A null leaves its column unchanged.
const FIELD_UPDATES = `call_sid = COALESCE($3, call_sid),
  answered_by = COALESCE($4, answered_by),
  duration_s = COALESCE($5, duration_s),
  end_reason = COALESCE($6, end_reason),
  updated_at = $2`;

const PENDING: AnalysisState = { state: 'pending' };

const SEQUENCE_COLUMNS = 'next_seq, applying_seq, lease_holder, lease_until_ms, flush_through';
/** The database's clock, in epoch ms: leases and holds are judged by one clock whichever instance asks. */
const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

/** Sorts after every timestamp, so the first page needs no special query. */
const FIRST_PAGE: readonly [string, string] = ['9999-12-31T23:59:59.999Z', ''];
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface SummaryRow {
  id: string;
  to_number: string;
  from_number: string;
  prompt: string | null;
  greeting: string | null;
  metadata: JsonObject | null;
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
  analysis: AnalysisState | null;
  history: { status: TaskStatus; at: string; source: string | null }[] | null;
}

interface TaskRow extends SummaryRow {
  transcript: { role: TranscriptLine['role']; text: string; atMs: number; interrupted: boolean | null }[] | null;
}

class PgTaskStore implements TaskStore {
  /** The last pending append per task: lines of one task reach the database in the order they were given. */
  private readonly appends = new Map<string, Promise<void>>();

  constructor(
    private readonly pool: Pool,
    private readonly now: () => Date,
  ) {}

  async create(input: NewTask & { from: string }): Promise<Task> {
    const id = `task_${randomUUID().replaceAll('-', '')}`;
    // One statement: the task and its first history entry commit together.
    await this.pool.query(
      `WITH task AS (
         INSERT INTO tasks (id, to_number, from_number, prompt, greeting, metadata, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'created', $7, $7) RETURNING id, created_at)
       INSERT INTO task_status_history (task_id, status, at) SELECT id, 'created', created_at FROM task`,
      [id, input.to, input.from, input.prompt ?? null, input.greeting ?? null, jsonParam(input.metadata), this.timestamp()],
    );
    return this.mustGet(this.pool, id);
  }

  async get(id: string): Promise<Task | undefined> {
    if (!storable(id)) return undefined;
    const { rows } = await this.pool.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.id = $1`, [id]);
    return rows[0] && toTask(rows[0]);
  }

  async list({ limit, cursor, status }: ListOptions): Promise<TaskPage> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
    }
    const [afterCreated, afterId] = cursor === undefined ? FIRST_PAGE : decodeCursor(cursor);
    const byStatus = status === undefined ? '' : 'AND t.status = $4';
    const { rows } = await this.pool.query<SummaryRow>(
      `SELECT ${SUMMARY_COLUMNS} FROM tasks t
       WHERE (t.created_at, t.id) < ($1::timestamptz, $2) ${byStatus}
       ORDER BY t.created_at DESC, t.id DESC LIMIT $3`,
      status === undefined ? [afterCreated, afterId, limit + 1] : [afterCreated, afterId, limit + 1, status],
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const tasks = page.map(toSummary);
    return rows.length > limit && last ? { tasks, nextCursor: encodeCursor(last) } : { tasks };
  }

  async transition(id: string, to: TaskStatus, patch: TransitionPatch = {}, source?: string): Promise<Task> {
    if (!storable(id)) throw new TaskNotFoundError(id);
    return inTransaction(this.pool, async (client) => {
      // The row lock makes a concurrent move of the same task (another instance's callback) wait
      // here, then check against the status that move left: a move is recorded once.
      const { rows } = await client.query<{ status: TaskStatus }>('SELECT status FROM tasks WHERE id = $1 FOR UPDATE', [id]);
      const from = rows[0]?.status;
      if (from === undefined) throw new TaskNotFoundError(id);
      if (!canTransition(from, to)) throw new InvalidTransitionError(id, from, to);
      const dials = to === 'queued' || to === 'ringing' || to === 'in-progress';
      await client.query(
        `WITH moved AS (
           UPDATE tasks SET status = $7,
             dialed_at = CASE WHEN $8 THEN COALESCE(dialed_at, $2) ELSE dialed_at END,
             answered_at = CASE WHEN $9 THEN COALESCE(answered_at, $2) ELSE answered_at END,
             ended_at = CASE WHEN $10 THEN COALESCE(ended_at, $2) ELSE ended_at END,
             ${FIELD_UPDATES}
           WHERE id = $1 RETURNING id)
         INSERT INTO task_status_history (task_id, status, at, source) SELECT id, $7, $2, $11 FROM moved`,
        [...fieldParams(id, this.timestamp(), patch), to, dials, to === 'in-progress', TERMINAL_STATUSES.has(to), source ?? null],
      );
      return this.mustGet(client, id);
    });
  }

  async update(id: string, patch: TaskPatch): Promise<Task> {
    // RETURNING sees the updated row; the history and transcript subqueries, unchanged by it, are current.
    return this.updateOne(
      id,
      `UPDATE tasks t SET recording_path = COALESCE($7, recording_path), ${FIELD_UPDATES} WHERE t.id = $1`,
      [...fieldParams(id, this.timestamp(), patch), patch.recordingPath ?? null],
    );
  }

  appendTranscript(id: string, line: TranscriptLine): Promise<void> {
    const previous = this.appends.get(id);
    const append = (previous ?? Promise.resolve()).catch(() => undefined).then(() => this.insertLine(id, line));
    this.appends.set(id, append);
    void append.finally(() => {
      if (this.appends.get(id) === append) this.appends.delete(id);
    }).catch(() => undefined);
    return append;
  }

  async setAnalysis(id: string, state: AnalysisState): Promise<Task> {
    // Only claimAnalysis stamps a claim time, as on SQLite: a pending state set here is nobody's claim.
    return this.updateOne(id, 'UPDATE tasks t SET analysis = $2, updated_at = $3 WHERE t.id = $1', [id, JSON.stringify(state), this.timestamp()]);
  }

  async claimAnalysis(id: string, claim: AnalysisClaim): Promise<Task | undefined> {
    if (!storable(id)) throw new TaskNotFoundError(id);
    // One conditional UPDATE: of two instances claiming at once, the second waits for the first's
    // row lock, re-checks the condition against the committed row, and updates nothing.
    const { rows } = await this.pool.query<TaskRow>(
      `UPDATE tasks t SET analysis = $2, analysis_claimed_at = $3, updated_at = $3
       WHERE t.id = $1 AND (
         t.analysis IS NULL
         OR (t.analysis->>'state' = 'pending' AND COALESCE(t.analysis_claimed_at, '-infinity') < $4)
         OR ($5 AND t.analysis->>'state' = 'failed'))
       RETURNING ${TASK_COLUMNS}`,
      [id, JSON.stringify(PENDING), this.timestamp(), claim.staleBefore.toISOString(), claim.retryFailed],
    );
    if (rows[0]) return toTask(rows[0]);
    const exists = await this.pool.query('SELECT 1 FROM tasks WHERE id = $1', [id]);
    if (exists.rowCount === 0) throw new TaskNotFoundError(id);
    return undefined;
  }

  async findByCallSid(callSid: string): Promise<Task | undefined> {
    if (!storable(callSid)) return undefined;
    const { rows } = await this.pool.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.call_sid = $1`, [callSid]);
    return rows[0] && toTask(rows[0]);
  }

  async offerCallback(callSid: string, seq: number, body: JsonObject, timing: CallbackTiming): Promise<CallbackOffer> {
    return inTransaction(this.pool, async (client) => {
      // Creates or locks the call's row: another instance offering a callback of this call waits
      // here, then decides on what this transaction left.
      const { rows } = await client.query<SequenceRow>(
        `INSERT INTO call_callback_sequences (call_sid) VALUES ($1)
         ON CONFLICT (call_sid) DO UPDATE SET call_sid = EXCLUDED.call_sid RETURNING ${SEQUENCE_COLUMNS}`,
        [callSid],
      );
      const sequence = sequenceFromRow(rows[0]!);
      // A statement of its own, so it reads what was committed before the lock was granted.
      const { rows: seen } = await client.query<{ now_ms: string; held: boolean }>(
        `SELECT ${NOW_MS} AS now_ms, EXISTS (SELECT 1 FROM held_call_callbacks WHERE call_sid = $1 AND seq = $2) AS held`,
        [callSid, seq],
      );
      const nowMs = Number(seen[0]!.now_ms);
      const decision = decideOffer(sequence, seq, seen[0]!.held, nowMs);
      if (decision === 'stale') return { outcome: 'stale' };
      if (decision === 'hold') {
        await client.query('INSERT INTO held_call_callbacks (call_sid, seq, body, held_at_ms) VALUES ($1, $2, $3, $4)', [
          callSid,
          seq,
          JSON.stringify(body),
          nowMs,
        ]);
        return { outcome: 'held' };
      }
      const lease: CallbackLease = { holder: randomUUID(), seq };
      await saveSequence(client, callSid, { ...sequence, lease: { ...lease, untilMs: nowMs + timing.leaseMs } });
      return { outcome: 'apply', lease };
    });
  }

  async finishCallback(callSid: string, lease: CallbackLease, timing: CallbackTiming, ended: boolean): Promise<CallbackTurn> {
    return inTransaction(this.pool, async (client) => {
      const sequence = await lockSequence(client, callSid);
      if (!sequence || sequence.lease?.holder !== lease.holder) return { outcome: 'done' };
      if (ended) {
        await client.query('DELETE FROM held_call_callbacks WHERE call_sid = $1', [callSid]);
        await client.query('DELETE FROM call_callback_sequences WHERE call_sid = $1', [callSid]);
        return { outcome: 'done' };
      }
      const advanced = { ...sequence, nextSeq: Math.max(sequence.nextSeq, lease.seq + 1), lease: undefined };
      return handOn(client, callSid, advanced, lease.holder, timing);
    });
  }

  async takeHeldCallback(callSid: string, timing: CallbackTiming): Promise<CallbackTurn> {
    return inTransaction(this.pool, async (client) => {
      const sequence = await lockSequence(client, callSid);
      if (!sequence) return { outcome: 'done' };
      const nowMs = await databaseNow(client);
      const busy = liveLease(sequence, nowMs);
      if (busy) return { outcome: 'wait', ms: busy.untilMs - nowMs };
      return handOn(client, callSid, { ...sequence, lease: undefined }, randomUUID(), timing);
    });
  }

  async setStreamMember(id: string, member: string | undefined, onlyIf?: { member: string | undefined }): Promise<boolean> {
    if (!storable(id)) return false;
    // IS NOT DISTINCT FROM: "only while it names nobody" compares NULL with NULL as equal.
    const { rowCount } = await this.pool.query(
      `UPDATE tasks SET stream_member = $2 WHERE id = $1 AND (NOT $3 OR stream_member IS NOT DISTINCT FROM $4)`,
      [id, member ?? null, onlyIf !== undefined, onlyIf?.member ?? null],
    );
    return rowCount === 1;
  }

  async streamMembers(): Promise<StreamHolder[]> {
    const { rows } = await this.pool.query<{ id: string; stream_member: string }>(
      'SELECT id, stream_member FROM tasks WHERE stream_member IS NOT NULL ORDER BY id',
    );
    return rows.map((row) => ({ taskId: row.id, member: row.stream_member }));
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.appends.values()]);
    await this.pool.end();
  }

  private timestamp(): string {
    return this.now().toISOString();
  }

  private async insertLine(id: string, line: TranscriptLine): Promise<void> {
    if (!storable(id)) throw new TaskNotFoundError(id);
    try {
      await this.pool.query('INSERT INTO task_transcript_lines (task_id, role, text, at_ms, interrupted) VALUES ($1, $2, $3, $4, $5)', [
        id,
        line.role,
        line.text,
        line.atMs,
        line.interrupted ? true : null,
      ]);
    } catch (error) {
      // The foreign key is the existence check: no extra read on this frequent write.
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) throw new TaskNotFoundError(id);
      throw error;
    }
  }

  /** Runs an `UPDATE tasks t … WHERE t.id = $1` and returns the task it changed. */
  private async updateOne(id: string, update: string, params: unknown[]): Promise<Task> {
    if (!storable(id)) throw new TaskNotFoundError(id);
    const { rows } = await this.pool.query<TaskRow>(`${update} RETURNING ${TASK_COLUMNS}`, params);
    if (!rows[0]) throw new TaskNotFoundError(id);
    return toTask(rows[0]);
  }

  private async mustGet(db: Queryable, id: string): Promise<Task> {
    const { rows } = await db.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.id = $1`, [id]);
    if (!rows[0]) throw new TaskNotFoundError(id);
    return toTask(rows[0]);
  }
}

const FOREIGN_KEY_VIOLATION = '23503';

async function lockSequence(client: Queryable, callSid: string): Promise<CallbackSequence | undefined> {
  const { rows } = await client.query<SequenceRow>(`SELECT ${SEQUENCE_COLUMNS} FROM call_callback_sequences WHERE call_sid = $1 FOR UPDATE`, [callSid]);
  return rows[0] && sequenceFromRow(rows[0]);
}

async function databaseNow(client: Queryable): Promise<number> {
  const { rows } = await client.query<{ now_ms: string }>(`SELECT ${NOW_MS} AS now_ms`);
  return Number(rows[0]!.now_ms);
}

/** With the call's row locked and the lease free (or `holder`'s, just finished): hands the next due held callback to `holder`, or lets the lease go. */
async function handOn(client: Queryable, callSid: string, sequence: CallbackSequence, holder: string, timing: CallbackTiming): Promise<CallbackTurn> {
  const { rows } = await client.query<HeldSummaryRow & { now_ms: string }>(
    `SELECT MIN(seq) AS first_seq, MAX(seq) AS last_seq, MIN(held_at_ms) AS oldest_held_at_ms, ${NOW_MS} AS now_ms
     FROM held_call_callbacks WHERE call_sid = $1`,
    [callSid],
  );
  const nowMs = Number(rows[0]!.now_ms);
  const next = decideNext(sequence, heldFromRow(rows[0]), nowMs, timing.holdMs);
  if (next === 'none' || 'waitMs' in next) {
    await saveSequence(client, callSid, sequence);
    return next === 'none' ? { outcome: 'done' } : { outcome: 'wait', ms: next.waitMs };
  }
  const taken = await client.query<{ body: JsonObject }>('DELETE FROM held_call_callbacks WHERE call_sid = $1 AND seq = $2 RETURNING body', [
    callSid,
    next.take,
  ]);
  const lease: CallbackLease = { holder, seq: next.take };
  await saveSequence(client, callSid, { ...sequence, flushThrough: next.flushThrough, lease: { ...lease, untilMs: nowMs + timing.leaseMs } });
  return { outcome: 'apply', lease, body: taken.rows[0]!.body };
}

async function saveSequence(client: Queryable, callSid: string, sequence: CallbackSequence): Promise<void> {
  await client.query(
    `UPDATE call_callback_sequences SET next_seq = $2, applying_seq = $3, lease_holder = $4, lease_until_ms = $5, flush_through = $6
     WHERE call_sid = $1`,
    [callSid, ...sequenceColumns(sequence)],
  );
}

/** $1 id, $2 time, $3..$6 the patch, in FIELD_UPDATES' order. */
function fieldParams(id: string, now: string, patch: TransitionPatch): [string, string, string | null, string | null, number | null, string | null] {
  return [id, now, patch.callSid ?? null, patch.answeredBy ?? null, patch.durationS ?? null, patch.endReason ?? null];
}

/** pg would send an object as JSON anyway; stringifying here keeps it exactly as JSON.stringify writes it. */
function jsonParam(value: JsonObject | undefined): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/**
 * PostgreSQL text cannot hold U+0000, and a query with one fails; no task id or call sid has one,
 * so such a key is simply not found (as on SQLite) instead of a server error.
 */
function storable(key: string): boolean {
  return !key.includes('\u0000');
}

function toTask(row: TaskRow): Task {
  const transcript = (row.transcript ?? []).map((line): TranscriptLine => {
    const out: TranscriptLine = { role: line.role, text: line.text, atMs: line.atMs };
    if (line.interrupted === true) out.interrupted = true;
    return out;
  });
  return { ...toSummary(row), transcript };
}

function toSummary(row: SummaryRow): TaskSummary {
  const optional = dropNulls({
    prompt: row.prompt,
    greeting: row.greeting,
    metadata: row.metadata,
    callSid: row.call_sid,
    dialedAt: row.dialed_at,
    answeredAt: row.answered_at,
    endedAt: row.ended_at,
    durationS: row.duration_s,
    answeredBy: row.answered_by,
    endReason: row.end_reason,
    recordingPath: row.recording_path,
    analysis: row.analysis,
  });
  return {
    id: row.id,
    to: row.to_number,
    from: row.from_number,
    status: row.status,
    history: (row.history ?? []).map(toStatusChange),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...optional,
  };
}

function toStatusChange(change: { status: TaskStatus; at: string; source: string | null }): StatusChange {
  return change.source === null ? { status: change.status, at: change.at } : { status: change.status, at: change.at, source: change.source };
}

/** Omits null columns so a task carries only the fields it has. */
function dropNulls<T extends Record<string, unknown>>(record: T): { [K in keyof T]?: Exclude<T[K], null> } {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== null)) as {
    [K in keyof T]?: Exclude<T[K], null>;
  };
}

// The cursor is the last task's (created_at, id), base64url-encoded: the SQLite store's format.
function encodeCursor(row: SummaryRow): string {
  return Buffer.from(JSON.stringify([row.created_at, row.id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    // The time goes to a timestamptz parameter: anything but our own ISO format would be a query error.
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
      const [created, id] = value as [string, string];
      if (ISO_TIME.test(created) && !Number.isNaN(Date.parse(created)) && storable(id)) return [created, id];
    }
  } catch {
    // fall through: not base64url JSON
  }
  throw new InvalidCursorError();
}
