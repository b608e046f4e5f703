// The operators' task service: create, list and read tasks, place and stop their calls, serve
// their recordings and analyses. Routes call one method each; Twilio's callbacks and the media
// stream reach tasks through StatusCallbacks and TaskCallHooks.
import { toError } from '../util/errors.js';
import type { MachineDetection } from '../config.js';
import { recordingInside } from '../http/recording.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/events.js';
import { TwilioApiError, type PlacedCall, type TwilioCalls } from '../twilio/call-control.js';
import type { StreamTokens } from '../twilio/stream-token.js';
import type { AnalysisRunner } from './analysis-runner.js';
import { TaskError, taskNotFound } from './errors.js';
import type { FieldError } from '../util/field-error.js';
import { TERMINAL_STATUSES, validateNewTask, type AnalysisState, type Task } from './model.js';
import { outboundCall } from './outbound-call.js';
import { InvalidCursorError, type ListOptions, type TaskPage, type TaskStore } from './store.js';
import type { TaskTransitions } from './transitions.js';

export interface TaskServiceSettings {
  /** Needed to dial: Twilio streams to and calls back this origin. */
  publicUrl: string | undefined;
  /** TWILIO_PHONE_NUMBER: the caller id of tasks that name none. */
  defaultFrom: string | undefined;
  machineDetection: MachineDetection;
  ringTimeoutS: number;
  recordingsDir: string;
  /** Mints each dial's stream token when signature checks are on. */
  streamTokens: StreamTokens | undefined;
}

/** Ends the task's media stream if it is live in this process; false when there is none. */
export type EndLiveCall = (taskId: string, detail: string) => Promise<boolean>;

export interface TaskServiceDeps {
  store: TaskStore;
  transitions: TaskTransitions;
  analysis: AnalysisRunner;
  /** Twilio REST; undefined without credentials (calls are then only simulated). */
  telephony: TwilioCalls | undefined;
  endLiveCall: EndLiveCall;
  settings: TaskServiceSettings;
  logger: Logger;
  telemetry: Telemetry;
}

export interface StopOutcome {
  task: Task;
  /** False when Twilio was asked to end the call and its status callback will settle the task. */
  settled: boolean;
}

const STOPPED_DETAIL = 'stopped through the API';

export class TaskService {
  constructor(private readonly deps: TaskServiceDeps) {}

  /** Validates an untrusted body, naming every bad field; `from` falls back to the default caller id. */
  async create(body: unknown): Promise<Task> {
    const checked = validateNewTask(body);
    const errors: FieldError[] = checked.ok ? [] : [...checked.errors];
    const defaultFrom = this.deps.settings.defaultFrom;
    const fromGiven = typeof body === 'object' && body !== null && (body as { from?: unknown }).from != null;
    if (!fromGiven && defaultFrom === undefined) {
      errors.push({ field: 'from', message: 'is required: no default caller id (TWILIO_PHONE_NUMBER) is configured' });
    }
    if (!checked.ok || errors.length > 0) throw new TaskError('invalid_request', 'the task is not valid', errors);
    const task = await this.deps.store.create({ ...checked.value, from: checked.value.from ?? defaultFrom! });
    this.deps.logger.info('task created', { taskId: task.id });
    return task;
  }

  async get(id: string): Promise<Task> {
    const task = await this.deps.store.get(id);
    if (!task) throw taskNotFound(id);
    return task;
  }

  async list(options: ListOptions): Promise<TaskPage> {
    try {
      return await this.deps.store.list(options);
    } catch (err) {
      if (err instanceof InvalidCursorError) {
        throw new TaskError('invalid_request', 'the list query is not valid', [{ field: 'cursor', message: err.message }]);
      }
      throw err;
    }
  }

  /**
   * Dials the task. It moves to `queued` before the REST request, so a callback that beats the
   * reply finds it dialed; the CallSid is stored when the reply comes. A refusal by Twilio fails
   * the task with Twilio's code and reason.
   */
  async placeCall(id: string): Promise<Task> {
    const task = await this.get(id);
    assertDialable(task);
    const telephony = this.deps.telephony;
    if (!telephony) throw new TaskError('twilio_not_configured', 'placing calls needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN');
    const { publicUrl } = this.deps.settings;
    if (!publicUrl) throw new TaskError('public_url_not_configured', 'placing calls needs PUBLIC_URL: Twilio streams the call to it and reports progress there');
    const moved = await this.deps.transitions.move(id, 'queued', {}, 'api');
    if (!moved.moved) throw new TaskError('call_already_placed', `the task is ${moved.why === 'not_found' ? 'gone' : moved.task.status}`);

    const started = performance.now();
    let placed: PlacedCall;
    try {
      placed = await telephony.place(outboundCall(task, { ...this.deps.settings, publicUrl }));
    } catch (err) {
      const reason = twilioReason(err);
      this.deps.logger.warn('Twilio did not place the call', { taskId: id, reason });
      await this.deps.transitions.move(id, 'failed', { endReason: `twilio_error ${reason}` }, 'api');
      throw new TaskError('twilio_error', `Twilio did not place the call: ${reason}`);
    }
    this.deps.telemetry.record('tasks', 'place_call', { taskId: id, callSid: placed.sid, durationMs: performance.now() - started });
    this.deps.logger.info('call placed', { taskId: id, callSid: placed.sid, status: placed.status });
    return this.deps.store.update(id, { callSid: placed.sid });
  }

  /**
   * Stops the task whatever its stage: a task never dialed is canceled; a queued or ringing call
   * is canceled and a live one hung up through Twilio (its callback then settles the task); a
   * simulated call's stream is ended here. Stopping a finished task changes nothing.
   */
  async stop(id: string): Promise<StopOutcome> {
    const task = await this.get(id);
    if (TERMINAL_STATUSES.has(task.status)) return { task, settled: true };
    if (task.status === 'created') return { task: await this.moveOrCurrent(id, 'canceled', STOPPED_DETAIL), settled: true };
    const telephony = this.deps.telephony;
    if (telephony && task.callSid !== undefined) {
      await this.endThroughTwilio(telephony, task, task.callSid);
      return { task: await this.get(id), settled: false };
    }
    if (await this.deps.endLiveCall(id, STOPPED_DETAIL)) {
      const now = await this.get(id);
      return { task: now, settled: TERMINAL_STATUSES.has(now.status) };
    }
    if (telephony) throw new TaskError('call_not_placed_yet', 'Twilio has not yet returned the call id; try again in a moment');
    if (task.status !== 'in-progress') throw new TaskError('twilio_not_configured', 'canceling a dialed call needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN');
    // In progress with no stream here and no Twilio to ask: the call was lost (e.g. a restart).
    return { task: await this.moveOrCurrent(id, 'failed', `${STOPPED_DETAIL}; its media stream was no longer connected`), settled: true };
  }

  /** The WAV's real path, which must lie inside the recordings folder. */
  async recordingFile(id: string): Promise<string> {
    const stored = (await this.get(id)).recordingPath;
    if (stored === undefined) throw new TaskError('recording_not_found', 'the task has no recording yet');
    const file = await recordingInside(this.deps.settings.recordingsDir, stored);
    if (file === undefined) {
      this.deps.logger.warn('a task recording is missing or outside the recordings folder', { taskId: id });
      throw new TaskError('recording_not_found', 'the recording is not available');
    }
    return file;
  }

  /**
   * The analysis as it stands. One that is due but not running (never started, or left pending
   * by a restart) is started by this read: it is made once either way.
   */
  async analysisOf(id: string): Promise<AnalysisState> {
    assertAnalyzable(await this.get(id));
    await this.deps.analysis.startIfDue(id);
    return (await this.get(id)).analysis ?? { state: 'pending' };
  }

  /** Makes the analysis again after a failure; a ready or running one is returned as it is. */
  async retryAnalysis(id: string): Promise<AnalysisState> {
    const task = await this.get(id);
    assertAnalyzable(task);
    await this.deps.analysis.retry(task);
    return (await this.get(id)).analysis ?? { state: 'pending' };
  }

  private async endThroughTwilio(telephony: TwilioCalls, task: Task, callSid: string): Promise<void> {
    const answered = task.status === 'in-progress';
    try {
      await (answered ? telephony.hangup(callSid) : telephony.cancel(callSid));
      this.deps.logger.info(answered ? 'hung up the call' : 'canceled the call', { taskId: task.id, callSid });
    } catch (err) {
      const reason = twilioReason(err);
      this.deps.logger.warn('Twilio did not end the call', { taskId: task.id, callSid, reason });
      throw new TaskError('twilio_error', `Twilio did not ${answered ? 'hang up' : 'cancel'} the call: ${reason}`);
    }
  }

  private async moveOrCurrent(id: string, to: 'canceled' | 'failed', endReason: string): Promise<Task> {
    const result = await this.deps.transitions.move(id, to, { endReason }, 'api');
    if (result.moved || result.why !== 'not_found') return result.task;
    throw taskNotFound(id);
  }
}

function assertDialable(task: Task): void {
  if (task.status === 'created') return;
  if (task.callSid !== undefined || task.dialedAt !== undefined) {
    throw new TaskError('call_already_placed', `the task's call was already placed (status ${task.status})`);
  }
  throw new TaskError('task_finished', `the task is ${task.status}; it can no longer be called`);
}

function assertAnalyzable(task: Task): void {
  if (!TERMINAL_STATUSES.has(task.status)) {
    throw new TaskError('call_not_ended', `the call has not ended yet (status ${task.status})`);
  }
  if (task.status !== 'completed') {
    throw new TaskError('no_conversation', `the call ended ${task.status}: there was no conversation to analyze`);
  }
}

/** `21211 The 'To' number ... is not valid.`: Twilio's code and message, never credentials. */
function twilioReason(err: unknown): string {
  if (err instanceof TwilioApiError) return err.code === undefined ? err.message : `${err.code} ${err.message}`;
  return toError(err).message;
}
