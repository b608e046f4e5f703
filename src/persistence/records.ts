// Builds the records the persistence service receives from what the gateway knows when a call or
// a room session ends. Only what the contract lists goes in: no secret, no DTMF digit, no path
// of this machine.
import path from 'node:path';
import type { CallContext, TranscriptLine } from '../agents/bridge.js';
import type { CallSummary } from '../call/call-types.js';
import type { Call } from '../calls/model.js';
import type { RoomSession } from '../rooms/store.js';
import type { CallRecord, RecordTranscriptLine, SessionRecord } from './schemas.js';

/** What a stream's `start` told about its call, beyond its ids: kept from `started` to the end. */
export interface CallParties {
  from: string | undefined;
  to: string | undefined;
  direction: string | undefined;
}

/** The parties as the voice webhook's TwiML passed them (`<Parameter>`s, see twilio/twiml.ts). */
export function partiesOf(call: CallContext): CallParties {
  const { from, to, direction } = call.parameters;
  return { from: from || undefined, to: to || undefined, direction: direction || undefined };
}

/**
 * The record of a call ended from its stored form, not its summary: a call whose process died
 * ends without a summary (calls/restart-settle.ts). Undefined for a call that never streamed or
 * has not ended.
 */
export function storedCallRecord(call: Call): CallRecord | undefined {
  const { callSid, streamSid, startedAt, endedAt } = call;
  if (callSid === undefined || streamSid === undefined || startedAt === undefined || endedAt === undefined) return undefined;
  return {
    call_id: streamSid,
    call_sid: callSid,
    stream_sid: streamSid,
    task_id: call.taskId ?? null,
    from: call.from ?? null,
    to: call.to ?? null,
    direction: TWILIO_DIRECTIONS[call.direction],
    agent: call.agent,
    started_at: startedAt,
    ended_at: endedAt,
    duration_ms: Math.max(0, Math.round(call.durationMs ?? Date.parse(endedAt) - Date.parse(startedAt))),
    end_reason: call.endReason ?? call.status,
    recording: call.recordingPath === undefined ? null : path.basename(call.recordingPath),
    // The contract's lines are the parties' words: a stored `system` line (a note of ours) is not one.
    transcript: call.transcript.flatMap((line) => (line.role === 'system' ? [] : [recordLine({ ...line, role: line.role })])),
  };
}

/**
 * Twilio's Direction as the stored call's direction implies it: a task's calls are placed through
 * the REST API (`outbound-api`); a browser's call never went through Twilio's webhook.
 */
const TWILIO_DIRECTIONS: Readonly<Record<Call['direction'], string | null>> = { inbound: 'inbound', outbound: 'outbound-api', browser: null };

/** A finished room session, as the rooms service reports it (`onSessionEnded`). */
export interface FinishedRoomSession {
  sessionId: string;
  room: string;
  identity?: string;
  /** ISO 8601 times. */
  startedAt: string;
  endedAt: string;
  endReason: string;
  metadata?: unknown;
  transcript: readonly TranscriptLine[];
}

/** The call's record; undefined for a stream that never became a call (no `start`, or refused at it). */
export function callRecord(summary: CallSummary, parties: CallParties | undefined, agent: string): CallRecord | undefined {
  const { callSid, streamSid } = summary;
  if (callSid === undefined || streamSid === undefined) return undefined;
  return {
    call_id: streamSid,
    call_sid: callSid,
    stream_sid: streamSid,
    task_id: summary.taskId ?? null,
    from: parties?.from ?? null,
    to: parties?.to ?? null,
    direction: parties?.direction ?? null,
    agent,
    started_at: summary.startedAt,
    ended_at: summary.endedAt,
    duration_ms: Math.max(0, Math.round(summary.durationMs)),
    end_reason: summary.reason,
    recording: summary.recording === undefined ? null : path.basename(summary.recording.path),
    transcript: summary.transcript.map(recordLine),
  };
}

/** A room session as the rooms domain keeps it, once over: what its record needs. */
export function finishedRoomSession(session: RoomSession): FinishedRoomSession {
  return {
    sessionId: session.id,
    room: session.room,
    ...(session.identity !== undefined && { identity: session.identity }),
    // A session whose agent never joined has no start of its own: it existed from its creation.
    startedAt: session.startedAt ?? session.createdAt,
    endedAt: session.endedAt ?? new Date().toISOString(),
    endReason: session.endReason ?? session.state,
    ...(session.metadata !== undefined && { metadata: session.metadata }),
    transcript: session.transcript,
  };
}

export function sessionRecord(session: FinishedRoomSession): SessionRecord {
  return {
    session_id: session.sessionId,
    room: session.room,
    identity: session.identity ?? null,
    started_at: session.startedAt,
    ended_at: session.endedAt,
    end_reason: session.endReason,
    metadata: session.metadata ?? null,
    transcript: session.transcript.map(recordLine),
  };
}

function recordLine(line: TranscriptLine): RecordTranscriptLine {
  return { role: line.role, text: line.text, at_ms: line.atMs, ...(line.interrupted ? { interrupted: true } : {}) };
}
