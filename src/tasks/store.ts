// The task store seam. SQLite serves today (sqlite-store.ts); another engine can implement this later.
//
// Synchronous on purpose: better-sqlite3 runs each statement in microseconds, and in WAL mode with
// synchronous=NORMAL a commit does not wait for fsync. The store is called on task events (an API
// request, a Twilio status callback, one transcript line per utterance), never per audio frame,
// so a call blocks the event loop for far less than one 20 ms media frame. A synchronous API also
// makes read-check-write sequences in one tick atomic with respect to other callbacks.
import type { AnalysisState, NewTask, Task, TaskStatus, TranscriptLine } from './model.js';

/** Fields a status change may carry along (from Twilio's status callback, or our own call end). */
export interface TransitionPatch {
  callSid?: string;
  answeredBy?: string;
  durationS?: number;
  endReason?: string;
}

/** Fields that change without a status change. */
export interface TaskPatch extends TransitionPatch {
  recordingPath?: string;
}

export interface ListOptions {
  /** 1..MAX_LIST_LIMIT. */
  limit: number;
  /** `nextCursor` of the previous page; opaque to callers. */
  cursor?: string;
  status?: TaskStatus;
}

/** A task without its transcript, as lists carry it: GET /api/tasks/{id} has the transcript. */
export type TaskSummary = Omit<Task, 'transcript'>;

export interface TaskPage {
  tasks: TaskSummary[];
  /** Present when more tasks may follow. */
  nextCursor?: string;
}

export const MAX_LIST_LIMIT = 200;

export interface TaskStore {
  /** Stores a new task in status `created`. `from` must be resolved (default caller id) by then. */
  create(task: NewTask & { from: string }): Task;
  get(id: string): Task | undefined;
  /** Newest first, without transcripts; stable under equal creation times. Throws InvalidCursorError, RangeError (limit). */
  list(options: ListOptions): TaskPage;
  /** Moves the status and records it in the history. Throws TaskNotFoundError, InvalidTransitionError. */
  transition(id: string, to: TaskStatus, patch?: TransitionPatch, source?: string): Task;
  /** Sets non-status fields; undefined fields are left unchanged. Throws TaskNotFoundError. */
  update(id: string, patch: TaskPatch): Task;
  /** Throws TaskNotFoundError. */
  appendTranscript(id: string, line: TranscriptLine): void;
  /** Throws TaskNotFoundError. */
  setAnalysis(id: string, state: AnalysisState): Task;
  findByCallSid(callSid: string): Task | undefined;
  close(): void;
}

export class TaskNotFoundError extends Error {
  constructor(readonly taskId: string) {
    super(`task ${taskId} not found`);
    this.name = 'TaskNotFoundError';
  }
}

export class InvalidTransitionError extends Error {
  constructor(
    readonly taskId: string,
    readonly from: TaskStatus,
    readonly to: TaskStatus,
  ) {
    super(`task ${taskId} cannot move from ${from} to ${to}`);
    this.name = 'InvalidTransitionError';
  }
}

export class InvalidCursorError extends Error {
  constructor() {
    super('cursor is not one this server issued');
    this.name = 'InvalidCursorError';
  }
}
