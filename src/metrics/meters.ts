// What each domain tells the metrics, as narrow interfaces: a call, the task service and the
// Twilio routes see only the few methods they call, never prom-client. Every method is called on
// an event of a call or a request (a turn, a mark echo, a status change), never per frame: the
// per-frame counts stay in each call's own CallStats and are read when Prometheus scrapes.
import type { CallSummary } from '../call/call-types.js';
import type { AnalysisState, TaskStatus } from '../tasks/model.js';

/** What a call reports; `agent` is its bridge's kind (`echo`, `deepgram`, ...). */
export interface CallMeters {
  /** The agent answered its first connect, `seconds` after the stream was admitted. */
  agentConnected(agent: string, seconds: number): void;
  /** The agent's connection dropped mid-call and is being reopened. */
  agentReconnecting(agent: string): void;
  /** End of the caller's speech to the agent's first audio sent back. */
  turnLatency(agent: string, seconds: number): void;
  /** From the agent's barge-in signal to the `clear` sent to Twilio. */
  bargeInStopped(seconds: number): void;
  /** From a `mark` sent to Twilio to its echo: the rest of the utterance's playout plus the network. */
  markRoundTrip(seconds: number): void;
  /** The recording could not be finalized (the call ends without a WAV). */
  recordingFailed(): void;
  /** Once per stream, with its final counts; `agent` undefined when no agent was started. */
  callEnded(summary: CallSummary, agent: string | undefined): void;
}

/** What the task domain reports. */
export interface TaskMeters {
  statusChanged(status: TaskStatus): void;
  analysisSettled(result: Exclude<AnalysisState['state'], 'pending'>): void;
}

/** Where a Twilio signature was refused: a webhook POST, or a media-stream upgrade. */
export type SignatureCheck = 'webhook' | 'media_stream';
