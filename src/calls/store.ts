// The call store seam: SQLite by default (sqlite-store.ts), PostgreSQL with DATABASE_URL
// (pg-store.ts), in the same database as the tasks. What must happen once (a browser call's stream
// claiming it, claiming an analysis) is decided inside one store call.
import type { AnalysisClaim } from '../tasks/store.js';
import type { AnalysisState } from '../tasks/model.js';
import type { Call, CallDirection, CallEntry, CallEvent, CallStatus, CallTranscriptLine } from './model.js';

export interface NewCall {
  id: string;
  direction: CallDirection;
  agent: string;
  taskId?: string;
  callSid?: string;
  streamSid?: string;
  from?: string;
  to?: string;
  /** The stream's start (ISO 8601): the call is `in-progress`. Absent: `pending` (a browser call not streaming yet). */
  startedAt?: string;
  transcriptNote?: string;
  /** The fleet member whose process streams the call (see CallStore.inProgress). */
  member?: string;
}

/** What a pending call learns when its stream starts. */
export interface CallStart {
  callSid: string;
  streamSid: string;
  startedAt: string;
  member: string;
}

/** A call in progress, as a restart or a survivor of the fleet judges whether its stream still lives. */
export interface LiveCall {
  id: string;
  member?: string;
  callSid?: string;
  streamSid?: string;
  startedAt?: string;
}

export interface CallEnd {
  status: Extract<CallStatus, 'completed' | 'failed'>;
  endedAt: string;
  durationMs: number;
  endReason: string;
  endDetail?: string;
  recordingPath?: string;
  recordingMs?: number;
}

/** How a browser call whose stream never came ends: no duration, no recording. */
export type PendingCallEnd = Pick<CallEnd, 'endedAt' | 'endReason' | 'endDetail'>;

/** A call that left a recording before calls were records (imported once, at start). */
export interface RecordedCall {
  id: string;
  direction: CallDirection;
  taskId?: string;
  callSid: string;
  streamSid: string;
  /** When the stream started, as the recording's name says (ISO 8601). */
  startedAt: string;
  recordingPath: string;
  recordingMs: number;
}

export interface CallListOptions {
  /** 1..MAX_CALL_LIST_LIMIT. */
  limit: number;
  /** `nextCursor` of the previous page; opaque to callers. */
  cursor?: string;
  direction?: CallDirection;
  status?: CallStatus;
  agent?: string;
  taskId?: string;
  /** Calls created at or after this instant. */
  since?: Date;
  /** Calls created before this instant. */
  until?: Date;
}

export interface CallEntryPage {
  calls: CallEntry[];
  nextCursor?: string;
}

export interface CallStore {
  /** Rejects with CallExistsError when the id is taken. */
  create(call: NewCall): Promise<Call>;
  /**
   * A pending call's stream started: moves it to `in-progress` with the stream's ids, once.
   * Resolves with the call when this caller took it; undefined when there is no such pending call
   * (never created, already streaming or ended, or created before `createdSince`: expired): such
   * a stream may not be this call.
   */
  claimPending(id: string, start: CallStart, createdSince?: Date): Promise<Call | undefined>;
  /**
   * Ends as `end` says every call still `pending` that was created before `cutoff` (its stream never
   * came); resolves with their ids. Each call is ended by one caller only, across processes.
   */
  expirePending(cutoff: Date, end: PendingCallEnd): Promise<string[]>;
  get(id: string): Promise<Call | undefined>;
  /** Newest first, without transcripts and events. Rejects with InvalidCursorError, RangeError (limit). */
  list(options: CallListOptions): Promise<CallEntryPage>;
  /** Rejects with CallNotFoundError. */
  appendTranscript(id: string, line: CallTranscriptLine): Promise<void>;
  /** Rejects with CallNotFoundError. */
  appendEvent(id: string, event: CallEvent): Promise<void>;
  /** Records the end (the member streaming it is forgotten). Rejects with CallNotFoundError. */
  finish(id: string, end: CallEnd): Promise<Call>;
  /**
   * Stores a completed call for a recording made before calls were records: created, started and
   * ended as the recording says, agent unknown. False when a call with its id exists already.
   */
  importRecorded(call: RecordedCall): Promise<boolean>;
  /** Whether some call's recording is this file. */
  hasRecording(recordingPath: string): Promise<boolean>;
  /** When this database began keeping calls (migration 6 was applied); earlier recordings have no call. */
  recordsSince(): Promise<Date | undefined>;
  /** Every call `in-progress`, with the member streaming it. */
  inProgress(): Promise<LiveCall[]>;
  /** The ids of a task's calls, oldest first. */
  idsOfTask(taskId: string): Promise<string[]>;
  /** As TaskStore.claimAnalysis: `pending` for this caller if it may start now. Rejects with CallNotFoundError. */
  claimAnalysis(id: string, claim: AnalysisClaim): Promise<Call | undefined>;
  /** Rejects with CallNotFoundError. */
  setAnalysis(id: string, state: AnalysisState): Promise<Call>;
  close(): Promise<void>;
}

export { MAX_CALL_LIST_LIMIT } from './schemas.js';

export class CallNotFoundError extends Error {
  constructor(readonly callId: string) {
    super(`call ${callId} not found`);
    this.name = 'CallNotFoundError';
  }
}

export class CallExistsError extends Error {
  constructor(readonly callId: string) {
    super(`call ${callId} already exists`);
    this.name = 'CallExistsError';
  }
}
