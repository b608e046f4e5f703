// The room sessions store seam: SQLite beside the tasks by default (sqlite-store.ts), PostgreSQL
// with DATABASE_URL (pg-store.ts). What must happen once (a session created for one idempotency
// key, a session ending) is decided inside one store call, in one statement or transaction.
import type { JsonObject } from '../tasks/model.js';
import type { SessionState } from './schemas.js';

export type { SessionState } from './schemas.js';

export interface SessionLine {
  role: 'user' | 'assistant';
  text: string;
  /** Milliseconds since the agent's job started in the room. */
  atMs: number;
  interrupted?: boolean;
}

export interface NewSession {
  room: string;
  identity?: string;
  systemPrompt?: string;
  greeting?: string;
  metadata?: JsonObject;
  /** A client's Idempotency-Key: a second create with it returns the first session. */
  idempotencyKey?: string;
}

export interface RoomSession {
  id: string;
  room: string;
  identity?: string;
  state: SessionState;
  dispatchId?: string;
  systemPrompt?: string;
  greeting?: string;
  metadata?: JsonObject;
  idempotencyKey?: string;
  participant?: string;
  jobId?: string;
  /** ISO 8601, UTC. */
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  endReason?: string;
  transcript: SessionLine[];
}

export type SessionSummary = Omit<RoomSession, 'transcript'>;

export type FinalState = Extract<SessionState, 'ended' | 'failed'>;

export const TERMINAL_STATES: ReadonlySet<SessionState> = new Set<SessionState>(['ended', 'failed']);

/** Ended or failed: nothing more happens to it. */
export const isOver = (state: SessionState): boolean => TERMINAL_STATES.has(state);

export interface SessionListOptions {
  /** 1..MAX_SESSION_LIST_LIMIT. */
  limit: number;
  /** `nextCursor` of the previous page; opaque to callers. */
  cursor?: string;
  state?: SessionState;
}

export interface SessionPage {
  sessions: SessionSummary[];
  nextCursor?: string;
}

export const MAX_SESSION_LIST_LIMIT = 200;

/** A store call's session, and whether this call changed it (a transition happens for one caller only). */
export interface Changed {
  session: RoomSession;
  changed: boolean;
}

export interface SessionStore {
  /**
   * Stores a new session in state `created`. With an idempotency key already held by a session,
   * stores nothing and resolves with that one (`changed: false`), whichever process made it.
   */
  create(input: NewSession): Promise<Changed>;
  get(id: string): Promise<RoomSession | undefined>;
  findByIdempotencyKey(key: string): Promise<RoomSession | undefined>;
  /** Newest first, without transcripts. Rejects with InvalidSessionCursorError, RangeError (limit). */
  list(options: SessionListOptions): Promise<SessionPage>;
  /** Records LiveKit's dispatch id. Rejects with SessionNotFoundError. */
  setDispatch(id: string, dispatchId: string): Promise<RoomSession>;
  /** `created` → `active`: the agent joined. Anything else is left as it is (`changed: false`). Rejects with SessionNotFoundError. */
  markStarted(id: string, info: { participant?: string; jobId?: string }): Promise<Changed>;
  /**
   * Ends a session that is not over yet; one that is stays as it was (`changed: false`). A failed
   * one also gives up its idempotency key, so a retry with it starts afresh. Rejects with SessionNotFoundError.
   */
  finish(id: string, state: FinalState, reason: string): Promise<Changed>;
  /** The sessions still `created` (no agent joined) that were created before `cutoff`, oldest first. */
  createdBefore(cutoff: Date): Promise<SessionSummary[]>;
  /** Appends a transcript line; resolves with its position (0, 1, ...). Lines of one session are kept in call order. Rejects with SessionNotFoundError. */
  appendLine(id: string, line: SessionLine): Promise<number>;
  close(): Promise<void>;
}

export class SessionNotFoundError extends Error {
  constructor(readonly sessionId: string) {
    super(`session ${sessionId} not found`);
    this.name = 'SessionNotFoundError';
  }
}

export class InvalidSessionCursorError extends Error {
  constructor() {
    super('cursor is not one this server issued');
    this.name = 'InvalidSessionCursorError';
  }
}

/** The cursor is the last session's (created_at, id), base64url-encoded so callers treat it as opaque. */
export function encodeSessionCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Sorts after every timestamp, so the first page needs no special query. */
export const FIRST_SESSION_PAGE: readonly [string, string] = ['9999-12-31T23:59:59.999Z', ''];

export function decodeSessionCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    // Only what encodeSessionCursor can give: a real time and a session id (PostgreSQL errs on a 13th month or a NUL).
    if (Array.isArray(value) && value.length === 2 && isCursorTime(value[0]) && typeof value[1] === 'string' && isSessionId(value[1])) {
      return [value[0], value[1]];
    }
  } catch {
    // fall through: not base64url JSON
  }
  throw new InvalidSessionCursorError();
}

function isCursorTime(value: unknown): value is string {
  return typeof value === 'string' && ISO_TIME.test(value) && !Number.isNaN(Date.parse(value)) && new Date(value).toISOString() === value;
}

export function checkListLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SESSION_LIST_LIMIT) {
    throw new RangeError(`limit must be an integer from 1 to ${MAX_SESSION_LIST_LIMIT}`);
  }
}

/** A sessions row as both engines read it (times as ISO strings, metadata parsed). */
export interface SessionRowFields {
  id: string;
  room: string;
  identity: string | null;
  state: SessionState;
  dispatch_id: string | null;
  system_prompt: string | null;
  greeting: string | null;
  metadata: JsonObject | null;
  idempotency_key: string | null;
  participant: string | null;
  job_id: string | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
}

/** A row as a session summary: absent columns (NULL) are left off. */
export function summaryFromRow(row: SessionRowFields): SessionSummary {
  const optional = <K extends string, V>(key: K, value: V | null) => (value === null ? {} : ({ [key]: value } as { [P in K]: V }));
  return {
    id: row.id,
    room: row.room,
    ...optional('identity', row.identity),
    state: row.state,
    ...optional('dispatchId', row.dispatch_id),
    ...optional('systemPrompt', row.system_prompt),
    ...optional('greeting', row.greeting),
    ...optional('metadata', row.metadata),
    ...optional('idempotencyKey', row.idempotency_key),
    ...optional('participant', row.participant),
    ...optional('jobId', row.job_id),
    createdAt: row.created_at,
    ...optional('startedAt', row.started_at),
    ...optional('endedAt', row.ended_at),
    ...optional('endReason', row.end_reason),
  };
}

export function newSessionId(uuid: string): string {
  return `ses_${uuid.replaceAll('-', '')}`;
}

const SESSION_ID = /^ses_[0-9a-f]{32}$/;
/**
 * Whether `id` has the form newSessionId gives. A path's id is anything the client typed (`%00`
 * decodes to a NUL, which PostgreSQL's text refuses with an error): any other form is no session.
 */
export function isSessionId(id: string): boolean {
  return SESSION_ID.test(id);
}
