// Calls a dead process left `in-progress`: settled at start (the last run's) and when a fleet
// member is lost (its calls), the way the tasks' are (tasks/restart-settle.ts): a call streaming
// here, held by a member alive now, or whose recording a live process is still writing, is left
// alone; any other is ended as `gateway_restarted`, with the recording repaired from its part file
// when there is one. Its transcript and events stay as they were stored during the call.
import path from 'node:path';
import type { RecoveryResult } from '../audio/recording-recovery.js';
import { recordingIdPart } from '../call/recorder-slot.js';
import { RESTART_END_REASON } from '../tasks/restart-settle.js';
import type { Logger } from '../telemetry/logger.js';
import type { Call } from './model.js';
import type { CallStore, LiveCall } from './store.js';

export interface CallSettleDeps {
  store: CallStore;
  /** Whether the call streams in this process. */
  isStreaming: (callId: string) => boolean;
  logger: Logger;
  /** Told each call this settles, once ended (the persistence service queues its record). */
  onSettled?: (call: Call) => Promise<void>;
  now?: () => Date;
}

/** `isLiveMember`: whether a member named on a call is alive now and not this process's earlier self. */
export async function settleDeadCalls(
  deps: CallSettleDeps,
  isLiveMember: (member: string) => boolean,
  recovery: Pick<RecoveryResult, 'repaired' | 'inUse'> = { repaired: [], inUse: [] },
): Promise<string[]> {
  const settled: string[] = [];
  for (const call of await deps.store.inProgress()) {
    if (deps.isStreaming(call.id) || (call.member !== undefined && isLiveMember(call.member))) continue;
    if (recovery.inUse.some((part) => isRecordingOf(part, call))) continue;
    const now = deps.now?.() ?? new Date();
    const recordingPath = recovery.repaired.find((file) => isRecordingOf(file, call));
    const startedMs = call.startedAt === undefined ? now.getTime() : Date.parse(call.startedAt);
    const ended = await deps.store.finish(call.id, {
      status: 'completed',
      endedAt: now.toISOString(),
      durationMs: Math.max(0, now.getTime() - startedMs),
      endReason: RESTART_END_REASON,
      endDetail: 'the process streaming the call ended without recording its end',
      ...(recordingPath !== undefined && { recordingPath }),
    });
    await deps.onSettled?.(ended);
    settled.push(call.id);
  }
  if (settled.length > 0) deps.logger.warn('settled calls a process left in progress', { calls: settled });
  return settled;
}

/** Recordings are named `<stamp>_<callSid>_<streamSid>` (recorder-slot.ts). */
function isRecordingOf(file: string, call: LiveCall): boolean {
  if (call.callSid === undefined || call.streamSid === undefined) return false;
  return path.basename(file).includes(`_${recordingIdPart(call.callSid)}_${recordingIdPart(call.streamSid)}`);
}
