// What every media stream leaves in the call store: the record when it starts, each transcript
// line and timeline event as it happens, the end with its recording. Like the task hooks, these
// run on the call's own path: nothing here may throw or make the call wait, so each call's writes
// are queued and applied in order (the record exists before its first line; the end comes last),
// and each stored line or event goes to live watchers with its place in the call.
//
// A browser call was created by POST /api/calls/browser; its stream names it in
// customParameters.callId and takes it over at `start` (admit): once, and only while it is pending.
// A stream naming any other call id is refused, so no stream can pass itself off as a browser call.
import type { CallContext, TranscriptLine } from '../agents/bridge.js';
import { ADMITTED, refused, type Admission, type StreamStart } from '../call/admission.js';
import type { AgentErrorReport, BargeInTiming, CallHooks, CallSummary, EndReason, TurnTiming } from '../call/call-types.js';
import type { LiveBus } from '../live/bus.js';
import type { Logger } from '../telemetry/logger.js';
import { toError } from '../util/errors.js';
import { statusAfter, transcriptNoteFor, type CallDirection, type CallEvent } from './model.js';
import type { CallStore } from './store.js';

export interface CallRecordsDeps {
  store: CallStore;
  bus: LiveBus;
  logger: Logger;
  /** The configured agent's kind, as records name it. */
  agent: string;
  /** The numbers of a task, for a task's stream that carried none. */
  taskParties: (taskId: string) => Promise<{ from: string; to: string } | undefined>;
  /** This process's id in the fleet, recorded on its calls while they stream (restart-settle.ts). */
  memberId: string;
  /** How long a browser call waits for its stream: one created longer ago has expired (pending-expiry.ts). */
  connectTimeoutMs: number;
  now?: () => Date;
}

/** One call's queue of store writes, and where its next line and event go. */
interface Lane {
  tail: Promise<void>;
  queued: number;
  /** False until the record is stored: writes for a call with no record are dropped. */
  stored: boolean;
  nextLine: number;
  nextEvent: number;
}

export class CallRecords implements CallHooks {
  private readonly lanes = new Map<string, Lane>();
  /** Browser calls whose stream claimed them at admission: their record exists already. */
  private readonly claimed = new Set<string>();
  /** Calls streaming in this process, from admission or start until their end is stored. */
  private readonly streaming = new Set<string>();
  private readonly now: () => Date;

  constructor(private readonly deps: CallRecordsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** A stream naming a call id must be that pending browser call, and takes it over here, once. */
  admit(start: StreamStart): Admission | Promise<Admission> {
    const callId = start.callId;
    if (callId === undefined) return ADMITTED;
    const claim = { callSid: start.callSid, streamSid: start.streamSid, startedAt: this.now().toISOString(), member: this.deps.memberId };
    const createdSince = new Date(this.now().getTime() - this.deps.connectTimeoutMs);
    return this.deps.store.claimPending(callId, claim, createdSince).then((call) => {
      if (!call) return refused(`call ${callId.slice(0, 64)} is not a browser call waiting for its stream`);
      this.claimed.add(callId);
      this.streaming.add(callId);
      return { ok: true, callId };
    });
  }

  /** The stream that claimed a browser call ended (its socket closed, say) before the claim came back: the call is over. */
  abandoned(id: string, reason: EndReason): void {
    if (!this.claimed.delete(id)) return;
    this.enqueue(id, 'ended', async () => {
      try {
        const endedAt = this.now().toISOString();
        const end = { status: 'failed', endedAt, durationMs: 0, endReason: reason, endDetail: 'the stream ended while it was being admitted' } as const;
        await this.deps.store.finish(id, end);
        this.deps.bus.publish(id, { type: 'call_status', status: 'failed' });
      } finally {
        this.streaming.delete(id);
      }
    });
  }

  started(call: CallContext): void {
    const id = call.callId;
    if (id === undefined) return;
    this.streaming.add(id);
    if (this.claimed.delete(id)) {
      this.enqueue(id, 'started', async (lane) => {
        lane.stored = true;
        this.deps.bus.publish(id, { type: 'call_status', status: 'in-progress' });
      });
      return;
    }
    this.enqueue(id, 'started', (lane) => this.storeStart(lane, id, call));
  }

  transcript(call: CallContext, line: TranscriptLine): void {
    const id = call.callId;
    if (id === undefined) return;
    this.enqueue(id, 'transcript', async (lane) => {
      if (!lane.stored) return;
      await this.deps.store.appendTranscript(id, line);
      this.deps.bus.publish(id, { type: 'transcript', line, seq: lane.nextLine++ });
    });
  }

  latency(call: CallContext, metric: string, ms: number): void {
    if (call.callId !== undefined) this.deps.bus.publish(call.callId, { type: 'latency', metric, ms: Math.round(ms) });
  }

  /** The position of the press only: the digit may be part of a PIN. */
  dtmf(call: CallContext, _digit: string, atMs: number): void {
    this.event(call, { type: 'dtmf', atMs });
  }

  turn(call: CallContext, turn: TurnTiming): void {
    this.event(call, { type: 'turn', atMs: turn.agentStartedAtMs, ...turn });
  }

  bargeIn(call: CallContext, bargeIn: BargeInTiming): void {
    this.event(call, { type: 'barge_in', atMs: bargeIn.callerStartedAtMs, ...bargeIn });
  }

  agentError(call: CallContext, error: AgentErrorReport): void {
    this.event(call, { type: 'agent_error', ...error });
  }

  ended(summary: CallSummary): void {
    const id = summary.callId;
    if (id !== undefined) this.enqueue(id, 'ended', (lane) => this.storeEnd(lane, id, summary));
  }

  /** Resolves once every write queued so far is done; the store may then close. */
  async idle(): Promise<void> {
    while ([...this.lanes.values()].some((lane) => lane.queued > 0)) {
      await Promise.all([...this.lanes.values()].map((lane) => lane.tail));
    }
  }

  /** Whether the call streams in this process: its record is not a dead process's. */
  isStreaming(callId: string): boolean {
    return this.streaming.has(callId);
  }

  /** Resolves once the writes queued so far for this call are done. */
  async settled(callId: string): Promise<void> {
    await this.lanes.get(callId)?.tail;
  }

  private event(call: CallContext, event: CallEvent): void {
    const id = call.callId;
    if (id === undefined) return;
    this.enqueue(id, event.type, async (lane) => {
      if (!lane.stored) return;
      await this.deps.store.appendEvent(id, event);
      this.deps.bus.publish(id, { type: 'call_event', event, seq: lane.nextEvent++ });
    });
  }

  private async storeStart(lane: Lane, id: string, call: CallContext): Promise<void> {
    const params = call.parameters;
    const direction: CallDirection = call.taskId === undefined ? 'inbound' : 'outbound';
    let from = params.from || params.From || undefined;
    let to = params.to || params.To || undefined;
    if (call.taskId !== undefined && (from === undefined || to === undefined)) {
      const parties = await this.deps.taskParties(call.taskId);
      from ??= parties?.from;
      to ??= parties?.to;
    }
    const transcriptNote = transcriptNoteFor(this.deps.agent);
    await this.deps.store.create({
      id,
      direction,
      agent: this.deps.agent,
      callSid: call.callSid,
      streamSid: call.streamSid,
      startedAt: this.now().toISOString(),
      ...(call.taskId !== undefined && { taskId: call.taskId }),
      ...(from !== undefined && { from }),
      ...(to !== undefined && { to }),
      ...(transcriptNote !== undefined && { transcriptNote }),
      member: this.deps.memberId,
    });
    lane.stored = true;
    this.deps.bus.publish(id, { type: 'call_status', status: 'in-progress' });
  }

  private async storeEnd(lane: Lane, id: string, summary: CallSummary): Promise<void> {
    // A claimed browser call whose stream ended before it started (an unsupported audio format) is ended too.
    if (this.claimed.delete(id)) lane.stored = true;
    try {
      if (lane.stored) await this.finish(id, summary);
    } finally {
      this.streaming.delete(id);
    }
  }

  private async finish(id: string, summary: CallSummary): Promise<void> {
    const status = statusAfter(summary.reason);
    const recording = summary.recording;
    await this.deps.store.finish(id, {
      status,
      endedAt: summary.endedAt,
      durationMs: summary.durationMs,
      endReason: summary.reason,
      ...(summary.detail !== undefined && { endDetail: summary.detail }),
      ...(recording !== undefined && { recordingPath: recording.path, recordingMs: Math.round(recording.durationMs) }),
    });
    this.deps.bus.publish(id, { type: 'call_status', status });
    this.deps.bus.publish(id, { type: 'call_ended', reason: summary.reason, durationMs: summary.durationMs, recording: recording !== undefined });
  }

  /** Runs `write` after the call's earlier writes; a failure is logged and the next write still runs. */
  private enqueue(id: string, step: string, write: (lane: Lane) => Promise<void>): void {
    let lane = this.lanes.get(id);
    if (!lane) this.lanes.set(id, (lane = { tail: Promise.resolve(), queued: 0, stored: false, nextLine: 0, nextEvent: 0 }));
    const own = lane;
    own.queued++;
    own.tail = own.tail
      .then(() => write(own))
      .catch((err: unknown) => {
        this.deps.logger.error('could not store what a call reported', { callId: id, step, error: toError(err).message });
      })
      .finally(() => {
        own.queued--;
        // The end is the last write of a call: its lane goes with it.
        if (own.queued === 0 && step === 'ended' && this.lanes.get(id) === own) this.lanes.delete(id);
      });
  }
}
