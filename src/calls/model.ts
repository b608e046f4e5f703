// The call as a record: one per media stream that started (inbound, a task's outbound call, or a
// browser's), plus browser calls created and not yet streaming. Pure types and rules, no I/O: the
// stores, the hooks that fill them and the routes share them. The API's view of it is in schemas.ts.
import type { EndReason } from '../call/call-types.js';
import type { AnalysisState } from '../tasks/model.js';
import type { CallDirection, CallEvent, CallStatus, CallTranscriptLine } from './schemas.js';

export type { CallDirection, CallEvent, CallStatus, CallTranscriptLine } from './schemas.js';
export { CALL_DIRECTIONS, CALL_STATUSES } from './schemas.js';

export interface Call {
  id: string;
  direction: CallDirection;
  status: CallStatus;
  agent: string;
  taskId?: string;
  callSid?: string;
  streamSid?: string;
  from?: string;
  to?: string;
  /** ISO 8601 UTC: the stream started, or the browser call was created. Lists sort by it. */
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  endReason?: string;
  endDetail?: string;
  /** Server path of the WAV: never shown, the API serves it at the call's audio URL. */
  recordingPath?: string;
  recordingMs?: number;
  /** Set when the agent keeps no transcript: why there is none. */
  transcriptNote?: string;
  /** The call's own analysis (calls without a task; a task call's is the task's). */
  analysis?: AnalysisState;
  transcript: CallTranscriptLine[];
  /** Ordered as they happened. */
  events: CallEvent[];
}

/** A call without its transcript and events, as lists carry it. */
export type CallEntry = Omit<Call, 'transcript' | 'events'>;

/** Ends that mean the call did not work, as opposed to someone hanging up. */
const FAILED_ENDS: ReadonlySet<EndReason> = new Set<EndReason>(['agent_error', 'internal_error', 'unsupported_media_format', 'start_timeout']);

export function statusAfter(reason: EndReason): Extract<CallStatus, 'completed' | 'failed'> {
  return FAILED_ENDS.has(reason) ? 'failed' : 'completed';
}

/** The agents that keep no transcript, and what the call says instead. */
const NO_TRANSCRIPT: Readonly<Record<string, string>> = {
  echo: 'The echo agent plays the caller back and transcribes nothing: this call has no transcript.',
};

export function transcriptNoteFor(agent: string): string | undefined {
  return NO_TRANSCRIPT[agent];
}
