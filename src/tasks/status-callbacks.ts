// Twilio's call-progress callbacks applied to tasks: found by CallSid (or, before our REST call
// has returned the CallSid, by the taskId we put in the callback URL), put back in SequenceNumber
// order, and mapped onto the task's state machine. Duplicates and moves the task cannot make
// are logged and ignored: Twilio gets its 204 either way, since it would only retry.
//
// The order is decided in the store (callback-order.ts has its rules), never in this process's
// memory: one call's callbacks may land on any worker of any instance, and each applies what the
// store says is its turn, under the call's lease.
import type { Logger } from '../telemetry/logger.js';
import type { CallStatusUpdate } from '../twilio/webhooks.js';
import type { AnalysisRunner } from './analysis-runner.js';
import { TERMINAL_STATUSES, type JsonObject, type Task, type TaskStatus } from './model.js';
import type { CallbackLease, CallbackTiming, CallbackTurn, TaskStore, TransitionPatch } from './store.js';
import type { TaskTransitions } from './transitions.js';

/** Twilio's CallStatus → the task status it means; `initiated` is Twilio accepting the call. */
const STATUS_FOR_CALL_STATUS: Readonly<Record<string, TaskStatus>> = {
  queued: 'queued',
  initiated: 'queued',
  ringing: 'ringing',
  'in-progress': 'in-progress',
  completed: 'completed',
  busy: 'busy',
  'no-answer': 'no-answer',
  failed: 'failed',
  canceled: 'canceled',
};

export function taskStatusForCallStatus(callStatus: string): TaskStatus | undefined {
  return Object.hasOwn(STATUS_FOR_CALL_STATUS, callStatus) ? STATUS_FOR_CALL_STATUS[callStatus] : undefined;
}

/** How long an early callback waits for the ones Twilio numbered before it. */
export const DEFAULT_CALLBACK_HOLD_MS = 2000;
/**
 * How long one callback may take to apply before another process takes its call's lease over
 * (its holder is presumed dead): far beyond a store round trip or two, well short of a call.
 */
export const DEFAULT_CALLBACK_LEASE_MS = 15_000;

export interface StatusCallbackDeps {
  store: TaskStore;
  transitions: TaskTransitions;
  analysis: AnalysisRunner;
  logger: Logger;
  holdMs?: number;
  leaseMs?: number;
}

/** What a held callback keeps of Twilio's form: what applying it needs, no phone numbers. */
type HeldCallback = Pick<CallStatusUpdate, 'callSid' | 'callStatus' | 'sequenceNumber' | 'callDuration' | 'answeredBy'>;

export class StatusCallbacks {
  private readonly timing: CallbackTiming;
  /** Per CallSid, this process's timer to look at the call's held callbacks again, and when it fires. */
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; atMs: number }>();
  /** Work under way (a request's, or a timer's), for idle(). */
  private readonly running = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly deps: StatusCallbackDeps) {
    this.timing = { holdMs: deps.holdMs ?? DEFAULT_CALLBACK_HOLD_MS, leaseMs: deps.leaseMs ?? DEFAULT_CALLBACK_LEASE_MS };
  }

  /**
   * Resolves once the update is applied (with the held ones its turn released), held for the ones
   * before it, or ignored; never rejects: Twilio is answered 204 whatever happens here.
   */
  handle(update: CallStatusUpdate): Promise<void> {
    return this.track(this.route(update), update.callSid);
  }

  /** Resolves once every application under way, or started meanwhile, is done. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }

  /** Stops the hold timers: what this process holds is released by the next callback of its call, on any process. */
  close(): void {
    this.closed = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private async route(update: CallStatusUpdate): Promise<void> {
    const task = await this.findTask(update);
    if (!task) {
      this.deps.logger.info('status callback for a call no task knows', { callSid: update.callSid, status: update.callStatus });
      return;
    }
    if (task.callSid === undefined) await this.deps.store.update(task.id, { callSid: update.callSid });
    // A finished task cannot move again; an AMD result carries no status: no ordering needed.
    const seq = update.sequenceNumber;
    if (seq === undefined || update.callStatus === undefined || TERMINAL_STATUSES.has(task.status)) {
      await this.applyOne(task.id, update);
      return;
    }
    const offer = await this.deps.store.offerCallback(update.callSid, seq, toStored(update), this.timing);
    if (offer.outcome === 'apply') return this.applyInTurn(task.id, offer.lease, update);
    if (offer.outcome === 'held') return this.lookAgainIn(update.callSid, task.id, this.timing.holdMs);
    this.deps.logger.info('ignored a repeated or superseded status callback', { callSid: update.callSid, status: update.callStatus, sequence: seq });
  }

  private async findTask(update: CallStatusUpdate): Promise<Task | undefined> {
    const byCallSid = await this.deps.store.findByCallSid(update.callSid);
    if (byCallSid) return byCallSid;
    if (update.taskId === undefined) return undefined;
    // An early callback, before calls.create returned the CallSid. Only for a task we dialed
    // and that has no other call.
    const task = await this.deps.store.get(update.taskId);
    return task && task.status !== 'created' && task.callSid === undefined ? task : undefined;
  }

  /** Applies `update` under `lease`, then each held callback the store hands on after it, one after another. */
  private async applyInTurn(taskId: string, lease: CallbackLease, update: HeldCallback): Promise<void> {
    for (;;) {
      const ended = await this.applyOne(taskId, update);
      const turn: CallbackTurn = await this.deps.store.finishCallback(update.callSid, lease, this.timing, ended);
      if (turn.outcome === 'wait') this.lookAgainIn(update.callSid, taskId, turn.ms);
      if (turn.outcome !== 'apply') return;
      lease = turn.lease;
      update = fromStored(turn.body);
    }
  }

  /** A hold expired (or a lease may have): releases what is due of the call's held callbacks. */
  private async releaseHeld(callSid: string, taskId: string): Promise<void> {
    let turn: CallbackTurn;
    try {
      turn = await this.deps.store.takeHeldCallback(callSid, this.timing);
    } catch (err) {
      // Nobody else may look at this call again (no timer elsewhere, no further callback): retry.
      this.deps.logger.error('could not release held status callbacks; trying again', { callSid, error: (err as Error).message });
      return this.lookAgainIn(callSid, taskId, this.timing.holdMs);
    }
    if (turn.outcome === 'wait') this.lookAgainIn(callSid, taskId, turn.ms);
    if (turn.outcome === 'apply') await this.applyInTurn(taskId, turn.lease, fromStored(turn.body));
  }

  /** Arms (or brings forward) this process's timer for the call's held callbacks. */
  private lookAgainIn(callSid: string, taskId: string, ms: number): void {
    if (this.closed) return;
    const atMs = Date.now() + ms;
    const armed = this.timers.get(callSid);
    if (armed && armed.atMs <= atMs) return;
    if (armed) clearTimeout(armed.timer);
    const timer = setTimeout(() => {
      this.timers.delete(callSid);
      void this.track(this.releaseHeld(callSid, taskId), callSid);
    }, Math.max(0, ms));
    timer.unref();
    this.timers.set(callSid, { timer, atMs });
  }

  /** Keeps `work` for idle(); logs its failure instead of rejecting. A lease it held expires on its own. */
  private track(work: Promise<void>, callSid: string): Promise<void> {
    const done = work.catch((err: unknown) => {
      this.deps.logger.error('could not handle a status callback', { callSid, error: (err as Error).message });
    });
    this.running.add(done);
    void done.finally(() => this.running.delete(done));
    return done;
  }

  /** Resolves with whether the task is over (its call's sequence can go); logs instead of rejecting. */
  private async applyOne(taskId: string, update: HeldCallback): Promise<boolean> {
    try {
      const patch = callFacts(update);
      const target = update.callStatus === undefined ? undefined : taskStatusForCallStatus(update.callStatus);
      if (update.callStatus !== undefined && target === undefined) {
        this.deps.logger.warn('status callback with an unknown CallStatus', { taskId, callStatus: update.callStatus });
      }
      const result = target === undefined ? undefined : await this.deps.transitions.move(taskId, target, patch, 'twilio-status');
      if (result?.moved) {
        if (result.task.status === 'completed') await this.deps.analysis.startIfDue(taskId);
        return TERMINAL_STATUSES.has(result.task.status);
      }
      // Facts such as the duration or the AMD result are worth keeping even when the status is not news.
      if (Object.keys(patch).length > 0 && result?.why !== 'not_found') await this.deps.store.update(taskId, patch);
      return result !== undefined && result.why !== 'not_found' && TERMINAL_STATUSES.has(result.task.status);
    } catch (err) {
      this.deps.logger.error('could not apply a status callback', { taskId, callSid: update.callSid, error: (err as Error).message });
      return false;
    }
  }
}

function callFacts(update: HeldCallback): TransitionPatch {
  const patch: TransitionPatch = {};
  if (update.callDuration !== undefined) patch.durationS = update.callDuration;
  if (update.answeredBy !== undefined) patch.answeredBy = update.answeredBy;
  return patch;
}

function toStored(update: CallStatusUpdate): JsonObject {
  const held: HeldCallback = {
    callSid: update.callSid,
    callStatus: update.callStatus,
    sequenceNumber: update.sequenceNumber,
    callDuration: update.callDuration,
    answeredBy: update.answeredBy,
  };
  // JSON drops the undefined fields; fromStored reads them back as absent.
  return JSON.parse(JSON.stringify(held)) as JsonObject;
}

/** Our own record, written by toStored: read back without a second validation. */
function fromStored(body: JsonObject): HeldCallback {
  const field = <T>(name: keyof HeldCallback): T | undefined => (body[name] ?? undefined) as T | undefined;
  return {
    callSid: String(body.callSid),
    callStatus: field<string>('callStatus'),
    sequenceNumber: field<number>('sequenceNumber'),
    callDuration: field<number>('callDuration'),
    answeredBy: field<string>('answeredBy'),
  };
}
