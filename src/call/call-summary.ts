// What a call leaves behind once it has ended: its summary (for the task service and the live bus),
// one "call ended" log line and the `stop` telemetry event. Built once, at the last step of an end.
import { performance } from 'node:perf_hooks';
import type { CallContext, TranscriptLine } from '../agents/bridge.js';
import type { RecordingInfo } from '../audio/recorder.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/events.js';
import type { CallStats, CallSummary, EndReason } from './call-types.js';

/** What a session has gathered about its call by the time it ends. */
export interface CallRecord {
  sessionId: string;
  /** Undefined when the stream never started, or was refused at `start`. */
  call: CallContext | undefined;
  startedAt: Date;
  /** performance.now() when the stream opened. */
  startedWall: number;
  transcript: TranscriptLine[];
  stats: CallStats;
}

/** How the call ended, as the summary records it. */
export interface CallOutcome {
  reason: EndReason;
  detail: string | undefined;
  recording: RecordingInfo | undefined;
}

/** Ends that an operator should look at: the call did not go the way the caller expected. */
const WARN_REASONS: ReadonlySet<EndReason> = new Set<EndReason>(['agent_error', 'unsupported_media_format', 'internal_error']);

export function summarizeCall(record: CallRecord, outcome: CallOutcome): CallSummary {
  return {
    sessionId: record.sessionId,
    callId: record.call?.callId,
    streamSid: record.call?.streamSid,
    callSid: record.call?.callSid,
    taskId: record.call?.taskId,
    reason: outcome.reason,
    detail: outcome.detail,
    startedAt: record.startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    durationMs: Math.round(performance.now() - record.startedWall),
    recording: outcome.recording,
    transcript: record.transcript,
    stats: record.stats,
  };
}

/** The "call ended" log line and the `stop` telemetry event; `wasLive`: the stream had started and was admitted. */
export function reportCallEnd(
  summary: CallSummary,
  wasLive: boolean,
  ids: Record<string, string | undefined>,
  out: { log: Logger; telemetry: Telemetry },
): void {
  const { reason, detail, recording, stats } = summary;
  const level = WARN_REASONS.has(reason) ? 'warn' : 'info';
  out.log.log(level, 'call ended', { ...ids, reason, detail, recording: recording?.path, framesIn: stats.framesIn });
  out.telemetry.record('media_stream', 'stop', {
    ...ids,
    durationMs: summary.durationMs,
    reason,
    frames_in: stats.framesIn,
    frames_padded: stats.framesPadded,
    bad_frames: Object.values(stats.badFrames).reduce((a, b) => a + b, 0),
    was_live: wasLive,
  });
}
