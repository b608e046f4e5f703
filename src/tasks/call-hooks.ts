// What a media stream tells its task: the stream started (the call was answered), a transcript
// line, a latency figure, the stream ended (with its recording). Called from the call's own code
// path, so nothing here may throw (the gateway guards each hook as well) or wait. Before any of
// that, `admit` decides whether the stream may be the task's call at all.
import type { CallContext, TranscriptLine } from '../agents/bridge.js';
import { ADMITTED, refused, type Admission, type StreamStart } from '../call/admission.js';
import type { CallHooks, CallSummary } from '../call/call-types.js';
import type { LiveBus } from '../live/bus.js';
import type { Logger } from '../telemetry/logger.js';
import type { AnalysisRunner } from './analysis-runner.js';
import { canTransition, TERMINAL_STATUSES } from './model.js';
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
  /** Only streams of existing tasks are counted; lines of streams naming no task are not stored. */
  streams: LiveStreams;
  logger: Logger;
  /**
   * True when no Twilio status callbacks will come (no credentials: simulated calls), so the
   * end of the stream also ends the task.
   */
  streamEndsTask: boolean;
}

export class TaskCallHooks implements CallHooks {
  constructor(private readonly deps: TaskCallHooksDeps) {}

  /**
   * A stream may not take over a task that has ended or that belongs to another call: its WAV
   * would replace the task's recording and its words join the task's transcript. A stream naming
   * no task, or one that does not exist, is admitted and stores nothing.
   */
  admit(start: StreamStart): Admission {
    if (start.taskId === undefined) return ADMITTED;
    const task = this.deps.store.get(start.taskId);
    if (!task) return ADMITTED;
    if (TERMINAL_STATUSES.has(task.status)) return refused(`task ${task.id} has already ended (${task.status})`);
    if (task.callSid !== undefined && task.callSid !== start.callSid) return refused(`task ${task.id} belongs to another call (${task.callSid})`);
    return ADMITTED;
  }

  started(call: CallContext): void {
    const taskId = call.taskId;
    if (taskId === undefined) return;
    const task = this.deps.store.get(taskId);
    if (!task) {
      this.deps.logger.warn('a media stream names a task that does not exist', { taskId, callSid: call.callSid });
      return;
    }
    // admit() let this stream in: the task has not ended and has no other CallSid.
    this.deps.streams.add(taskId);
    if (task.callSid === undefined) this.adoptCallSid(taskId, call.callSid);
    // The stream runs only on an answered call, whether or not Twilio's callback said so yet.
    if (canTransition(task.status, 'in-progress')) this.deps.transitions.move(taskId, 'in-progress', {}, 'media-stream');
  }

  transcript(call: CallContext, line: TranscriptLine): void {
    if (call.taskId === undefined || !this.deps.streams.has(call.taskId)) return;
    this.deps.store.appendTranscript(call.taskId, line);
    this.deps.bus.publish(call.taskId, { type: 'transcript', line });
  }

  latency(call: CallContext, metric: string, ms: number): void {
    if (call.taskId !== undefined) this.deps.bus.publish(call.taskId, { type: 'latency', metric, ms: Math.round(ms) });
  }

  ended(summary: CallSummary): void {
    const taskId = summary.taskId;
    if (taskId === undefined) return;
    this.deps.streams.remove(taskId);
    const task = this.deps.store.get(taskId);
    if (!task) return;
    const endReason = summary.detail ? `${summary.reason}: ${summary.detail}` : summary.reason;
    this.deps.store.update(taskId, {
      recordingPath: summary.recording?.path,
      // A reason recorded earlier (a Twilio error, an operator's stop) says more; keep it.
      endReason: task.endReason === undefined ? endReason : undefined,
    });
    this.deps.bus.publish(taskId, {
      type: 'call_ended',
      reason: summary.reason,
      durationMs: summary.durationMs,
      recording: summary.recording !== undefined,
    });
    if (this.deps.streamEndsTask) this.finishTask(taskId);
    this.deps.analysis.startIfDue(taskId);
  }

  /** A simulated call (or an inbound one) tells us its CallSid only here. */
  private adoptCallSid(taskId: string, callSid: string): void {
    try {
      this.deps.store.update(taskId, { callSid });
    } catch (err) {
      // Another task already has this CallSid (it is unique): keep going without it.
      this.deps.logger.warn('could not record the CallSid of the task\'s stream', { taskId, callSid, error: (err as Error).message });
    }
  }

  /** Without status callbacks the stream's end is the call's end. */
  private finishTask(taskId: string): void {
    const task = this.deps.store.get(taskId);
    if (!task || TERMINAL_STATUSES.has(task.status)) return;
    // A stream that ended before it started (e.g. an unsupported audio format) never connected.
    this.deps.transitions.move(taskId, task.status === 'in-progress' ? 'completed' : 'failed', {}, 'media-stream');
  }
}
