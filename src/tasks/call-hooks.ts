// What a media stream tells its task: the stream started (the call was answered), a transcript
// line, a latency figure, the stream ended (with its recording). The hooks are called from the
// call's own code path, synchronously: nothing here may throw (the gateway guards each hook as
// well) or make the call wait. The store is asynchronous, so each task's writes are queued and
// applied one after another, in the order the call reported them: a line is never stored before
// the task adopted its CallSid, and the end is stored after the last line. Before any of that,
// `admit` decides whether the stream may be the task's call at all. While the stream lives, the
// task names this fleet member as its holder: survivors settle it should the member die.
import type { CallContext, TranscriptLine } from '../agents/bridge.js';
import { ADMITTED, refused, type Admission, type StreamStart } from '../call/admission.js';
import type { CallHooks, CallSummary } from '../call/call-types.js';
import type { LiveBus } from '../live/bus.js';
import type { Logger } from '../telemetry/logger.js';
import { toError } from '../util/errors.js';
import type { AnalysisRunner } from './analysis-runner.js';
import { canTransition, TERMINAL_STATUSES, type Task } from './model.js';
import type { TaskStore } from './store.js';
import type { TaskTransitions } from './transitions.js';

/** The media streams live in this process, per task: a task's transcript may grow while it has one. */
export class LiveStreams {
  private readonly counts = new Map<string, number>();

  has(taskId: string): boolean {
    return (this.counts.get(taskId) ?? 0) > 0;
  }

  add(taskId: string): void {
    this.counts.set(taskId, (this.counts.get(taskId) ?? 0) + 1);
  }

  /** A stream that ends without having been added (it never started) changes nothing. */
  remove(taskId: string): void {
    const left = (this.counts.get(taskId) ?? 0) - 1;
    if (left > 0) this.counts.set(taskId, left);
    else this.counts.delete(taskId);
  }
}

export interface TaskCallHooksDeps {
  store: TaskStore;
  transitions: TaskTransitions;
  bus: LiveBus;
  analysis: AnalysisRunner;
  /** Streams are counted from `started` until their end is stored. */
  streams: LiveStreams;
  logger: Logger;
  /**
   * True when no Twilio status callbacks will come (no credentials: simulated calls), so the
   * end of the stream also ends the task.
   */
  streamEndsTask: boolean;
  /** This process's id in the fleet, recorded in the task while it holds the task's stream. */
  memberId: string;
}

/** One task's queue of store writes. It lives while the task has a stream here or writes queued. */
interface Lane {
  tail: Promise<void>;
  queued: number;
  /**
   * The index the next stored transcript line takes in the task's transcript (live watchers
   * place a line by it); undefined while the task is not known to exist, and then lines are not
   * stored. Exact because this lane is the only writer of the task's lines.
   */
  nextLine: number | undefined;
}

type Step = 'started' | 'transcript' | 'ended';

export class TaskCallHooks implements CallHooks {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly deps: TaskCallHooksDeps) {}

  /**
   * A stream may not take over a task that has ended or that belongs to another call: its WAV
   * would replace the task's recording and its words join the task's transcript. A stream naming
   * no task (answered at once), or one that does not exist, is admitted and stores nothing. The
   * verdict carries the task's own prompt and greeting for the agent.
   */
  admit(start: StreamStart): Admission | Promise<Admission> {
    const taskId = start.taskId;
    if (taskId === undefined) return ADMITTED;
    return this.deps.store.get(taskId).then((task) => (task ? admitToTask(task, start) : ADMITTED));
  }

  started(call: CallContext): void {
    const taskId = call.taskId;
    if (taskId === undefined) return;
    // Counted now, not once stored: an analysis must not start while this stream can add lines.
    this.deps.streams.add(taskId);
    this.enqueue(taskId, 'started', (lane) => this.storeStart(lane, taskId, call.callSid));
  }

  transcript(call: CallContext, line: TranscriptLine): void {
    const taskId = call.taskId;
    if (taskId !== undefined) this.enqueue(taskId, 'transcript', (lane) => this.storeLine(lane, taskId, line));
  }

  latency(call: CallContext, metric: string, ms: number): void {
    if (call.taskId !== undefined) this.deps.bus.publish(call.taskId, { type: 'latency', metric, ms: Math.round(ms) });
  }

  ended(summary: CallSummary): void {
    const taskId = summary.taskId;
    if (taskId !== undefined) this.enqueue(taskId, 'ended', () => this.storeEnd(taskId, summary));
  }

  /** Resolves once the writes queued so far for this task are done (its end stored, say). */
  async settled(taskId: string): Promise<void> {
    await this.lanes.get(taskId)?.tail;
  }

  /** Resolves once every write queued so far (and any they queue) is done; the store may then close. */
  async idle(): Promise<void> {
    while ([...this.lanes.values()].some((lane) => lane.queued > 0)) {
      await Promise.all([...this.lanes.values()].map((lane) => lane.tail));
    }
  }

  /** Runs `write` after the task's earlier writes; a failure is logged and the next write still runs. */
  private enqueue(taskId: string, step: Step, write: (lane: Lane) => Promise<void>): void {
    let lane = this.lanes.get(taskId);
    if (!lane) this.lanes.set(taskId, (lane = { tail: Promise.resolve(), queued: 0, nextLine: undefined }));
    const own = lane;
    own.queued++;
    own.tail = own.tail
      .then(() => write(own))
      .catch((err: unknown) => {
        this.deps.logger.error('could not store what a call reported', { taskId, step, error: toError(err).message });
      })
      .finally(() => {
        own.queued--;
        if (own.queued === 0 && !this.deps.streams.has(taskId) && this.lanes.get(taskId) === own) this.lanes.delete(taskId);
      });
  }

  private async storeStart(lane: Lane, taskId: string, callSid: string): Promise<void> {
    const task = await this.deps.store.get(taskId);
    if (!task) {
      this.deps.logger.warn('a media stream names a task that does not exist', { taskId, callSid });
      return;
    }
    lane.nextLine = task.transcript.length;
    await this.recordHolder(taskId);
    // admit() let this stream in: the task had not ended and had no other CallSid.
    if (task.callSid === undefined) await this.adoptCallSid(taskId, callSid);
    // The stream runs only on an answered call, whether or not Twilio's callback said so yet.
    if (canTransition(task.status, 'in-progress')) await this.deps.transitions.move(taskId, 'in-progress', {}, 'media-stream');
  }

  private async storeLine(lane: Lane, taskId: string, line: TranscriptLine): Promise<void> {
    if (lane.nextLine === undefined) return;
    await this.deps.store.appendTranscript(taskId, line);
    this.deps.bus.publish(taskId, { type: 'transcript', line, seq: lane.nextLine++ });
  }

  private async storeEnd(taskId: string, summary: CallSummary): Promise<void> {
    // After the stream's last line is stored: from here an analysis may read the whole transcript.
    this.deps.streams.remove(taskId);
    const task = await this.deps.store.get(taskId);
    if (!task) return;
    const endReason = summary.detail ? `${summary.reason}: ${summary.detail}` : summary.reason;
    const updated = await this.deps.store.update(taskId, {
      recordingPath: summary.recording?.path,
      // A reason recorded earlier (a Twilio error, an operator's stop) says more; keep it.
      endReason: task.endReason === undefined ? endReason : undefined,
    });
    // Its end is stored: nothing is left for a survivor to settle. Unless one already took it over.
    await this.deps.store.setStreamMember(taskId, undefined, { member: this.deps.memberId });
    this.deps.bus.publish(taskId, {
      type: 'call_ended',
      reason: summary.reason,
      durationMs: summary.durationMs,
      recording: summary.recording !== undefined,
    });
    if (this.deps.streamEndsTask) await this.finishTask(updated);
    await this.deps.analysis.startIfDue(taskId);
  }

  /** Names this member as the stream's holder; without it the call goes on, left to restart-settle should this process die. */
  private async recordHolder(taskId: string): Promise<void> {
    try {
      await this.deps.store.setStreamMember(taskId, this.deps.memberId);
    } catch (err) {
      this.deps.logger.warn('could not record which fleet member holds the task\'s stream', { taskId, error: toError(err).message });
    }
  }

  /** A simulated call (or an inbound one) tells us its CallSid only here. */
  private async adoptCallSid(taskId: string, callSid: string): Promise<void> {
    try {
      await this.deps.store.update(taskId, { callSid });
    } catch (err) {
      // Another task already has this CallSid (it is unique): keep going without it.
      this.deps.logger.warn('could not record the CallSid of the task\'s stream', { taskId, callSid, error: (err as Error).message });
    }
  }

  /** Without status callbacks the stream's end is the call's end. */
  private async finishTask(task: Task): Promise<void> {
    if (TERMINAL_STATUSES.has(task.status)) return;
    // A stream that ended before it started (e.g. an unsupported audio format) never connected.
    await this.deps.transitions.move(task.id, task.status === 'in-progress' ? 'completed' : 'failed', {}, 'media-stream');
  }
}

function admitToTask(task: Task, start: StreamStart): Admission {
  if (TERMINAL_STATUSES.has(task.status)) return refused(`task ${task.id} has already ended (${task.status})`);
  if (task.callSid !== undefined && task.callSid !== start.callSid) return refused(`task ${task.id} belongs to another call (${task.callSid})`);
  const overrides = { ...(task.prompt && { prompt: task.prompt }), ...(task.greeting && { greeting: task.greeting }) };
  return { ok: true, overrides };
}
