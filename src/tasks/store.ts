// The task store seam: SQLite by default (sqlite-store.ts), PostgreSQL with DATABASE_URL (pg-store.ts).
//
// Asynchronous because PostgreSQL is a network round trip; SQLite implements it with its
// synchronous driver behind resolved promises. Nothing may rely on a read-check-write across two
// calls being atomic: several processes or machines share one store. What must happen once
// (a status move, claiming the analysis, a status callback's turn) is decided inside one store call,
// in one transaction.
import type { AnalysisState, JsonObject, NewTask, Task, TaskStatus, TranscriptLine } from './model.js';

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
  create(task: NewTask & { from: string }): Promise<Task>;
  get(id: string): Promise<Task | undefined>;
  /** Newest first, without transcripts; stable under equal creation times. Rejects with InvalidCursorError, RangeError (limit). */
  list(options: ListOptions): Promise<TaskPage>;
  /**
   * Moves the status and records it in the history, checking the move against the state machine
   * inside the same transaction. Resolves with the task as that transaction left it: its history
   * ends with this move (live watchers place the move by its index there). Rejects with
   * TaskNotFoundError, InvalidTransitionError.
   */
  transition(id: string, to: TaskStatus, patch?: TransitionPatch, source?: string): Promise<Task>;
  /** Sets non-status fields; undefined fields are left unchanged. Rejects with TaskNotFoundError. */
  update(id: string, patch: TaskPatch): Promise<Task>;
  /** Rejects with TaskNotFoundError. */
  appendTranscript(id: string, line: TranscriptLine): Promise<void>;
  /** Rejects with TaskNotFoundError. */
  setAnalysis(id: string, state: AnalysisState): Promise<Task>;
  /**
   * Marks the analysis `pending` for this caller, atomically, if it may start now: never started,
   * or `pending` since before `claim.staleBefore` (its maker died), or `failed` when
   * `claim.retryFailed`. Resolves with the task when this caller took the claim, undefined when
   * not (someone else holds it, or it is ready). Rejects with TaskNotFoundError.
   */
  claimAnalysis(id: string, claim: AnalysisClaim): Promise<Task | undefined>;
  findByCallSid(callSid: string): Promise<Task | undefined>;
  /**
   * Twilio's callback `seq` of a call, from any process of any instance (rules: callback-order.ts).
   * `apply`: its turn has come and this caller holds the call's lease: apply it, then finishCallback.
   * `held`: stored until those before it are applied or the hold expires. `stale`: a duplicate, or
   * older than one applied or being applied.
   */
  offerCallback(callSid: string, seq: number, body: JsonObject, timing: CallbackTiming): Promise<CallbackOffer>;
  /**
   * The lease holder applied its callback: the call's sequence moves past it, and the next held
   * callback whose turn has come is handed over under the same lease. `ended`: the call is over,
   * its sequence and anything still held are dropped. `done` also when the lease was lost (it
   * expired and another process took it over).
   */
  finishCallback(callSid: string, lease: CallbackLease, timing: CallbackTiming, ended: boolean): Promise<CallbackTurn>;
  /** A hold timer fired: takes the lease and the next held callback if it is due and nobody holds the lease. */
  takeHeldCallback(callSid: string, timing: CallbackTiming): Promise<CallbackTurn>;
  /**
   * Records which fleet member holds the task's media stream (undefined: none). With `onlyIf`,
   * atomically and only while the task still names that member (undefined: none): of two survivors
   * taking over a lost member's task, one gets true. False when the task does not exist.
   */
  setStreamMember(id: string, member: string | undefined, onlyIf?: { member: string | undefined }): Promise<boolean>;
  /** Every task that names a stream member, with it: the streams the fleet believes live. */
  streamMembers(): Promise<StreamHolder[]>;
  close(): Promise<void>;
}

/** How long a callback waits for those before it, and how long a lease lasts if its holder dies. */
export interface CallbackTiming {
  holdMs: number;
  leaseMs: number;
}

/** The right to apply one callback of a call. `holder` tells this taker from one that took over after it expired. */
export interface CallbackLease {
  holder: string;
  seq: number;
}

export type CallbackOffer = { outcome: 'apply'; lease: CallbackLease } | { outcome: 'held' } | { outcome: 'stale' };

export type CallbackTurn =
  /** Apply `body` (a held callback), then finishCallback. */
  | { outcome: 'apply'; lease: CallbackLease; body: JsonObject }
  /** Callbacks are held but not yet due, or another process holds the lease: ask again in `ms`. */
  | { outcome: 'wait'; ms: number }
  /** Nothing is held for the call (or the lease was lost to another process, which carries on). */
  | { outcome: 'done' };

export interface StreamHolder {
  taskId: string;
  member: string;
}

export interface AnalysisClaim {
  /** A `pending` analysis claimed before this instant is taken over. */
  staleBefore: Date;
  /** An operator asked again: a `failed` analysis may start over. */
  retryFailed: boolean;
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
