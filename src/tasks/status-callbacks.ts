// Twilio's call-progress callbacks applied to tasks: found by CallSid (or, before our REST call
// has returned the CallSid, by the taskId we put in the callback URL), put back in SequenceNumber
// order, and mapped onto the task's state machine. Duplicates and moves the task cannot make
// are logged and ignored: Twilio gets its 204 either way, since it would only retry.
import type { Logger } from '../telemetry/logger.js';
import type { CallStatusUpdate } from '../twilio/webhooks.js';
import type { AnalysisRunner } from './analysis-runner.js';
import { CallbackOrder } from './callback-order.js';
import { TERMINAL_STATUSES, type Task, type TaskStatus } from './model.js';
import type { TaskStore, TransitionPatch } from './store.js';
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

export interface StatusCallbackDeps {
  store: TaskStore;
  transitions: TaskTransitions;
  analysis: AnalysisRunner;
  logger: Logger;
  holdMs?: number;
}

export class StatusCallbacks {
  private readonly order: CallbackOrder<CallStatusUpdate>;
  /**
   * Per CallSid, the last application queued: one call's callbacks are applied strictly one after
   * another (each is a store round trip now), in the order CallbackOrder released them.
   */
  private readonly applying = new Map<string, Promise<void>>();

  constructor(private readonly deps: StatusCallbackDeps) {
    this.order = new CallbackOrder(deps.holdMs ?? DEFAULT_CALLBACK_HOLD_MS, (callSid, update) =>
      deps.logger.info('ignored a repeated or superseded status callback', {
        callSid,
        status: update.callStatus,
        sequence: update.sequenceNumber,
      }),
    );
  }

  /**
   * Resolves once the update is applied, held for the ones before it, or ignored; never rejects:
   * Twilio is answered 204 whatever happens here.
   */
  async handle(update: CallStatusUpdate): Promise<void> {
    try {
      await this.route(update);
    } catch (err) {
      this.deps.logger.error('could not handle a status callback', { callSid: update.callSid, error: (err as Error).message });
    }
  }

  /** Resolves once every application queued so far is done. */
  async idle(): Promise<void> {
    while (this.applying.size > 0) await Promise.all(this.applying.values());
  }

  close(): void {
    this.order.close();
  }

  private async route(update: CallStatusUpdate): Promise<void> {
    const task = await this.findTask(update);
    if (!task) {
      this.deps.logger.info('status callback for a call no task knows', { callSid: update.callSid, status: update.callStatus });
      return;
    }
    if (task.callSid === undefined) await this.deps.store.update(task.id, { callSid: update.callSid });
    // A finished task cannot move again; an AMD result carries no status: no ordering needed.
    if (update.callStatus === undefined || TERMINAL_STATUSES.has(task.status)) return this.applyInTurn(task.id, update);
    let applied: Promise<void> | undefined;
    this.order.accept(update.callSid, update, (next) => (applied = this.applyInTurn(task.id, next)));
    await applied;
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

  /** Queues the update behind the call's earlier ones; resolves when it is applied. Runs from a timer too: never rejects. */
  private applyInTurn(taskId: string, update: CallStatusUpdate): Promise<void> {
    const callSid = update.callSid;
    const done = (this.applying.get(callSid) ?? Promise.resolve())
      .then(() => this.applyOne(taskId, update))
      .catch((err: unknown) => {
        this.deps.logger.error('could not apply a status callback', { taskId, callSid, error: (err as Error).message });
      })
      .finally(() => {
        if (this.applying.get(callSid) === done) this.applying.delete(callSid);
      });
    this.applying.set(callSid, done);
    return done;
  }

  private async applyOne(taskId: string, update: CallStatusUpdate): Promise<void> {
    const patch = callFacts(update);
    const target = update.callStatus === undefined ? undefined : taskStatusForCallStatus(update.callStatus);
    if (update.callStatus !== undefined && target === undefined) {
      this.deps.logger.warn('status callback with an unknown CallStatus', { taskId, callStatus: update.callStatus });
    }
    const result = target === undefined ? undefined : await this.deps.transitions.move(taskId, target, patch, 'twilio-status');
    if (result?.moved) {
      if (TERMINAL_STATUSES.has(result.task.status)) this.order.forget(update.callSid);
      if (result.task.status === 'completed') await this.deps.analysis.startIfDue(taskId);
      return;
    }
    // Facts such as the duration or the AMD result are worth keeping even when the status is not news.
    if (Object.keys(patch).length > 0 && result?.why !== 'not_found') await this.deps.store.update(taskId, patch);
  }
}

function callFacts(update: CallStatusUpdate): TransitionPatch {
  const patch: TransitionPatch = {};
  if (update.callDuration !== undefined) patch.durationS = update.callDuration;
  if (update.answeredBy !== undefined) patch.answeredBy = update.answeredBy;
  return patch;
}
