// What a fleet member that died (a SIGKILL, a lost machine) leaves, settled by the survivors: each
// task records the member holding its media stream (`stream_member`, set by call-hooks.ts). When
// a member leaves the fleet, and at start, every survivor looks for tasks whose member is gone and
// takes each over with one conditional update (the store's setStreamMember): exactly one survivor
// wins a task, and only it repairs the call's recording, attaches it, settles the task the way a
// restart does (restart-settle.ts: Twilio asked when configured) and starts its analysis. It then
// clears the stream member, so a survivor that dies half-way leaves the task to the next one.
import path from 'node:path';
import { isThisProcess, partOwnerState, type FleetJudge } from '../audio/part-owner.js';
import { listPartFiles, recoverPart } from '../audio/recording-recovery.js';
import { isRecordingOfCall } from '../call/recorder-slot.js';
import { toError } from '../util/errors.js';
import type { LiveStreams } from './call-hooks.js';
import type { Task } from './model.js';
import { settleTask, type RestartSettleDeps } from './restart-settle.js';
import type { StreamHolder } from './store.js';

/** The end reason of a task whose stream died with its member, naming the member. */
export const lostMemberReason = (member: string): string => `gateway_instance_lost: ${member}`;

/** What restart settling needs, less the live-member check (a lost member is the point here). */
export interface FleetSettleDeps extends Omit<RestartSettleDeps, 'isLiveMember'> {
  recordingsDir: string;
  /** This member's id: what it records as a task's stream member once it takes the task over. */
  memberId: string;
}

/** Which members are gone, as one survivor sees the fleet at one moment. */
export interface LostMembers {
  /** Whether the stream a task records under `member` died with its member. */
  holdsNoStream(holder: StreamHolder): boolean;
  /** Whether a part file's owner (naming a member) is alive: the same judgement for recordings. */
  ownerAlive: FleetJudge;
}

export interface FleetSettleReport {
  /** Task ids this member took over (each is taken by one survivor). */
  taken: string[];
  /** Of those, the ones this member moved out of in-progress. */
  settled: string[];
  /** Of those, the ones that got a repaired recording here. */
  attached: string[];
}

/**
 * The fleet as a survivor sees it: the members alive now. At start (`starting`), this member's own
 * id in a stream record is an earlier process's (a restarted worker keeps its id) unless the
 * stream is live here.
 */
export function lostMembers(members: readonly string[], self: string, streams: LiveStreams, starting: boolean): LostMembers {
  const alive = new Set(members);
  return {
    holdsNoStream: ({ taskId, member }) => (member === self ? starting && !streams.has(taskId) : !alive.has(member)),
    ownerAlive: ownersInFleet(members, self),
  };
}

/** A part file's writer is alive while its member is in the fleet; under this member's own id, only if it is this process. */
export function ownersInFleet(members: readonly string[], self: string): FleetJudge {
  const alive = new Set(members);
  return (owner) => (owner.member === self ? isThisProcess(owner) : alive.has(owner.member));
}

export async function settleLostMembers(deps: FleetSettleDeps, lost: LostMembers): Promise<FleetSettleReport> {
  const report: FleetSettleReport = { taken: [], settled: [], attached: [] };
  for (const holder of await deps.store.streamMembers()) {
    if (!lost.holdsNoStream(holder)) continue;
    // Of the survivors looking at once, one moves the record from the lost member to itself.
    if (!(await deps.store.setStreamMember(holder.taskId, deps.memberId, { member: holder.member }))) continue;
    report.taken.push(holder.taskId);
    try {
      await takeOver(deps, lost, holder, report);
    } catch (err) {
      deps.logger.error('could not settle a task a lost fleet member left', { taskId: holder.taskId, member: holder.member, error: toError(err).message });
    } finally {
      // Done (or given up): nobody holds the stream now.
      await deps.store.setStreamMember(holder.taskId, undefined, { member: deps.memberId }).catch(() => undefined);
    }
  }
  if (report.taken.length > 0) deps.logger.warn('settled calls a lost fleet member left', { ...report });
  return report;
}

async function takeOver(deps: FleetSettleDeps, lost: LostMembers, holder: StreamHolder, report: FleetSettleReport): Promise<void> {
  let task = await deps.store.get(holder.taskId);
  if (!task) return;
  const recording = await repairRecordings(deps, lost, task);
  if (recording !== undefined && task.recordingPath === undefined) {
    task = await deps.store.update(task.id, { recordingPath: recording });
    report.attached.push(task.id);
  }
  if (task.status === 'in-progress') {
    const outcome = await settleTask(deps, task, lostMemberReason(holder.member));
    if (outcome === 'settled') report.settled.push(task.id);
  } else {
    // Ended already (a status callback came): its analysis may have waited for the stream's end.
    await deps.analysis.startIfDue(task.id);
  }
}

/** Repairs the call's part files whose writer is gone; resolves with the last WAV made, if any. */
async function repairRecordings(deps: FleetSettleDeps, lost: LostMembers, task: Task): Promise<string | undefined> {
  const callSid = task.callSid;
  if (callSid === undefined) return undefined;
  let repaired: string | undefined;
  for (const part of await listPartFiles(deps.recordingsDir)) {
    if (!isRecordingOfCall(path.basename(part), callSid)) continue;
    if ((await partOwnerState(part, lost.ownerAlive)) === 'alive') continue;
    repaired = (await recoverPart(part)) ?? repaired;
  }
  return repaired;
}
