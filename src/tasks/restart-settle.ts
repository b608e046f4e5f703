// After a crash (a SIGKILL, a power cut), settles what the last run left, once, at start: repaired
// recordings are attached to their tasks, and tasks still `in-progress` whose media stream died
// with that process are closed, then analysed on the transcript lines stored during the call.
//
// "Died with that process" is judged the way recovery judges part files (part-owner.ts): a task
// whose recording is still held by a live process (another gateway sharing the folders) is not
// touched, nor one streaming in this process. With Twilio credentials Twilio says how the call
// ended; a call Twilio still reports live is left to its status callback. Without credentials
// (simulated calls) the task is completed with the end reason `gateway_restarted`. A task whose
// stream another live fleet member holds (its `stream_member`) is not touched either; a lost
// member's are fleet-settle.ts's.
import path from 'node:path';
import type { RecoveryResult } from '../audio/recording-recovery.js';
import { isRecordingOfCall } from '../call/recorder-slot.js';
import type { Logger } from '../telemetry/logger.js';
import type { TwilioCalls } from '../twilio/call-control.js';
import type { AnalysisRunner } from './analysis-runner.js';
import type { LiveStreams } from './call-hooks.js';
import type { Task } from './model.js';
import { MAX_LIST_LIMIT, type TaskStore, type TransitionPatch } from './store.js';
import type { TaskTransitions } from './transitions.js';

export const RESTART_END_REASON = 'gateway_restarted';

export interface RestartSettleDeps {
  store: TaskStore;
  transitions: TaskTransitions;
  analysis: AnalysisRunner;
  telephony: TwilioCalls | undefined;
  /** Streams live in this process: their tasks are not the last run's. */
  streams: LiveStreams;
  logger: Logger;
  /** Whether another member of the fleet, alive now, holds a stream recorded under this id. */
  isLiveMember: (member: string) => boolean;
}

export interface SettleReport {
  /** Task ids that got a repaired recording. */
  attached: string[];
  /** Task ids closed here (not those another process sharing the store closed first). */
  settled: string[];
  /** Task ids left in progress: live elsewhere, or still live at Twilio. */
  leftLive: string[];
}

const TWILIO_TERMINAL = new Set(['completed', 'busy', 'no-answer', 'failed', 'canceled']);

export async function settleLastRun(deps: RestartSettleDeps, recovery: RecoveryResult): Promise<SettleReport> {
  const report: SettleReport = { attached: [], settled: [], leftLive: [] };
  for (const file of recovery.repaired) {
    const taskId = await attachRecording(deps, file);
    if (taskId !== undefined) report.attached.push(taskId);
  }
  const holders = new Map((await deps.store.streamMembers()).map((h) => [h.taskId, h.member]));
  for await (const task of inProgressTasks(deps.store)) {
    const holder = holders.get(task.id);
    if (deps.streams.has(task.id) || isHeldElsewhere(task, recovery.inUse) || (holder !== undefined && deps.isLiveMember(holder))) {
      report.leftLive.push(task.id);
      continue;
    }
    const outcome = await settleTask(deps, task);
    // Its holder is gone: nothing is left for a survivor to settle.
    if (holder !== undefined && outcome !== 'live') await deps.store.setStreamMember(task.id, undefined, { member: holder });
    if (outcome === 'settled') report.settled.push(task.id);
    else if (outcome === 'live') report.leftLive.push(task.id);
  }
  if (report.attached.length + report.settled.length > 0) {
    deps.logger.warn('settled calls left by an earlier run', { recordingsAttached: report.attached, tasksSettled: report.settled });
  }
  return report;
}

/** Links a repaired WAV to the task whose CallSid its name carries, unless the task already has one. */
async function attachRecording(deps: RestartSettleDeps, file: string): Promise<string | undefined> {
  const callSid = callSidOf(path.basename(file));
  const task = callSid === undefined ? undefined : await deps.store.findByCallSid(callSid);
  if (!task || task.recordingPath !== undefined) return undefined;
  await deps.store.update(task.id, { recordingPath: file });
  return task.id;
}

/** `<stamp>_<callSid>_<streamSid>...` → callSid (Twilio's sids hold no underscore). */
function callSidOf(fileName: string): string | undefined {
  const part = fileName.split('_')[1];
  return part === undefined || part === '' ? undefined : part;
}

function isHeldElsewhere(task: Task, inUse: string[]): boolean {
  const callSid = task.callSid;
  return callSid !== undefined && inUse.some((part) => isRecordingOfCall(path.basename(part), callSid));
}

async function* inProgressTasks(store: TaskStore): AsyncGenerator<Task> {
  let cursor: string | undefined;
  do {
    const page = await store.list({ limit: MAX_LIST_LIMIT, status: 'in-progress', cursor });
    for (const summary of page.tasks) {
      const task = await store.get(summary.id);
      if (task) yield task;
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
}

/**
 * `settled` when this process closed the task; `live` when it is left to Twilio's callback;
 * `elsewhere` when another process sharing the store moved it first (the store decides the move).
 */
export async function settleTask(
  deps: Pick<RestartSettleDeps, 'telephony' | 'logger' | 'transitions' | 'analysis'>,
  task: Task,
  reason = RESTART_END_REASON,
): Promise<'settled' | 'live' | 'elsewhere'> {
  const { telephony, logger } = deps;
  const endReason = task.endReason ?? reason;
  if (telephony?.fetchCall && task.callSid !== undefined) {
    try {
      const call = await telephony.fetchCall(task.callSid);
      if (!TWILIO_TERMINAL.has(call.status)) {
        logger.info('a call the last run left is still live at Twilio; its status callback will settle it', { taskId: task.id, callSid: task.callSid, status: call.status });
        return 'live';
      }
      const to = call.status === 'completed' ? 'completed' : 'failed';
      const detail = to === 'completed' ? endReason : `${endReason}: Twilio reports ${call.status}`;
      return await closeTask(deps, task.id, to, { endReason: detail, durationS: call.durationS });
    } catch (err) {
      logger.warn('could not ask Twilio how a call the last run left ended; closing it as the restart left it', { taskId: task.id, callSid: task.callSid, error: (err as Error).message });
    }
  }
  // An in-progress task was answered, so its conversation (what was kept of it) is complete.
  return closeTask(deps, task.id, 'completed', { endReason });
}

async function closeTask(deps: Pick<RestartSettleDeps, 'transitions' | 'analysis'>, taskId: string, to: 'completed' | 'failed', patch: TransitionPatch): Promise<'settled' | 'elsewhere'> {
  const result = await deps.transitions.move(taskId, to, patch, 'restart');
  // Whoever closed it, a completed call is analysed once (the store holds the claim).
  await deps.analysis.startIfDue(taskId);
  return result.moved ? 'settled' : 'elsewhere';
}
