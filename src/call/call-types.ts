// The call's public shapes: how it ends, what it counts, what it reports, and what it is given.
// Code that only hears about calls (the task service, the routes, the registry) imports these,
// not the session.
import type { AgentFactory, CallContext, TranscriptLine } from '../agents/bridge.js';
import type { RecordingInfo } from '../audio/recorder.js';
import type { VadConfig } from '../config.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/events.js';
import type { ProtocolErrorKind } from '../twilio/protocol.js';
import type { CallMeters } from '../metrics/meters.js';
import type { AdmissionCheck, CallOverrides } from './admission.js';
import type { PlaybackStats } from './playback.js';

export type EndReason =
  | 'twilio_stop'
  | 'socket_closed'
  | 'start_timeout'
  | 'unsupported_media_format'
  | 'agent_error'
  | 'agent_hangup'
  | 'transferred'
  | 'operator_stop'
  | 'shutdown'
  /** `start` named a call its URL's token was not issued for, or a task it may not join. */
  | 'stream_refused'
  | 'internal_error'
  /** No caller media for MEDIA_IDLE_TIMEOUT_S: the caller's side is gone though the socket is open. */
  | 'media_timeout'
  /** The socket did not answer a WebSocket ping in time. */
  | 'ping_timeout'
  /** Twilio stopped reading: our unsent audio for it passed the send-buffer bound. */
  | 'send_buffer_full'
  /** A WebSocket message over the socket's size limit: ws closed the socket with 1009 (Message Too Big). */
  | 'message_too_big';

/** Problems with inbound frames, counted per call; the call goes on. */
export type BadFrameKind =
  | ProtocolErrorKind
  | 'media_before_start'
  | 'wrong_stream_sid'
  | 'duplicate_start'
  | 'stale_media'
  /** A caller timestamp further ahead of the wall clock than any real stream runs. */
  | 'timestamp_jump'
  /** More frames arrived while the stream's admission was pending than are held (MAX_HELD_FRAMES). */
  | 'held_overflow';

export interface CallStats {
  framesIn: number;
  /** Caller frames missing from the stream and replaced with silence for the agent. */
  framesPadded: number;
  badFrames: Partial<Record<BadFrameKind, number>>;
  sequenceGaps: number;
  playback: PlaybackStats;
}

export interface CallSummary {
  sessionId: string;
  /** The call's record id (CallContext.callId); undefined when the stream never started. */
  callId?: string;
  streamSid: string | undefined;
  callSid: string | undefined;
  taskId: string | undefined;
  reason: EndReason;
  detail: string | undefined;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  recording: RecordingInfo | undefined;
  transcript: TranscriptLine[];
  stats: CallStats;
}

// What the timeline of a call shows. Every `...AtMs` is call time, which is the time axis of the
// call's recording (the recorder places sample n at n / 8 ms of call time), on its sample grid
// (onRecordingAxis): the position names exactly the sample the WAV holds the moment at.

/** A turn answered: the caller stopped speaking, then the agent's answer started playing. */
export interface TurnTiming {
  userStoppedAtMs: number;
  /** Where the answer's first audio plays (its place in the recording's agent channel). */
  agentStartedAtMs: number;
  /**
   * The gap as the caller heard it: agentStartedAtMs − userStoppedAtMs. The `turn_latency` figure
   * counts to when the audio was sent; the two differ only when the answer queued behind audio
   * still playing.
   */
  latencyMs: number;
}

/** The caller spoke over the agent and its audio was cut. */
export interface BargeInTiming {
  /** Where the caller's speech began, as the gateway's own VAD placed it (the signal's time when it heard none). */
  callerStartedAtMs: number;
  /** When the agent said the caller is speaking. */
  signalAtMs: number;
  /** When `clear` went out: the recording's agent channel is silent from here. */
  cutAtMs: number;
}

export interface AgentErrorReport {
  atMs: number;
  message: string;
  /** A fatal error ends the call; another was recovered from (a fallback took over). */
  fatal: boolean;
}

/**
 * Who else hears about a call: the task service, the call records, the live event bus. All
 * optional; none is called per frame.
 */
export interface CallHooks {
  started?(call: CallContext): void;
  transcript?(call: CallContext, line: TranscriptLine): void;
  latency?(call: CallContext, metric: string, ms: number): void;
  /** The digit is for the agent's listeners alone: never log or store it. */
  dtmf?(call: CallContext, digit: string, atMs: number): void;
  turn?(call: CallContext, turn: TurnTiming): void;
  bargeIn?(call: CallContext, bargeIn: BargeInTiming): void;
  agentError?(call: CallContext, error: AgentErrorReport): void;
  ended?(summary: CallSummary): void;
  /** Admission vouched this stream is call `callId` (a browser's), but the stream had ended by then: it never starts. */
  abandoned?(callId: string, reason: EndReason): void;
}

/** Twilio REST control of the live call, when credentials are configured. */
export interface TelephonyControl {
  hangup(callSid: string): Promise<void>;
  transfer(callSid: string, to: string): Promise<void>;
}

/** The socket Twilio streams on, as the session needs it. */
export interface MediaSocket {
  send(text: string): void;
  close(code: number, reason: string): void;
  readonly isOpen: boolean;
}

export interface CallSessionDeps {
  agentFactory: AgentFactory;
  recordingsDir: string;
  vad: VadConfig;
  streamStartTimeoutS: number;
  /** Seconds without a caller media frame after which the call ends as `media_timeout` (checked by the media-stream route). */
  mediaIdleTimeoutS?: number;
  /** Seconds between WebSocket pings on the media socket (sent by the media-stream route). */
  mediaPingIntervalS?: number;
  logger: Logger;
  telemetry: Telemetry;
  logEveryN: number;
  /** LOG_DTMF_DIGITS: write the digits themselves to logs and telemetry. */
  logDtmfDigits?: boolean;
  hooks?: CallHooks;
  /**
   * Per-call agent overrides looked up by task id when the stream is admitted, before those the
   * admission verdict carries (the task's own: a task's prompt may be longer than TwiML allows,
   * so it does not travel as a stream parameter).
   */
  callOverrides?: (taskId: string) => CallOverrides | undefined;
  telephony?: TelephonyControl;
  /** How long a hang-up or transfer waits for the agent's last words to finish playing. */
  goodbyeTimeoutMs?: number;
  /**
   * Decides at `start` whether this stream may be the call it claims; admitted when absent. A
   * verdict that comes later (a store read) holds the stream's frames until it does.
   */
  admit?: AdmissionCheck;
  /** How far caller timestamps may lead the wall clock (default DEFAULT_MAX_MEDIA_LEAD_MS); also bounds the recorder's padding. */
  maxMediaLeadMs?: number;
  /** The gateway's Prometheus metrics: told of the call's events, never of its frames. */
  metrics?: CallMeters;
}
