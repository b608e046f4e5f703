// The only seam between telephony and AI. Every agent implements AgentBridge; CallSession never
// knows which one it has. Audio both ways is 8 kHz mono mu-law, as Twilio carries it.

export interface CallContext {
  /** Our own id of the call, the key of its record (CallSession always sets it). */
  callId?: string;
  streamSid: string;
  callSid: string;
  /** From `start.customParameters`: task id, From/To, per-call prompt and greeting. */
  parameters: Readonly<Record<string, string>>;
  /** The task this call belongs to, when the stream carried one. */
  taskId: string | undefined;
  /** Per-call overrides of the configured prompt and greeting. */
  prompt: string | undefined;
  greeting: string | undefined;
}

export type TranscriptRole = 'user' | 'assistant';

export interface TranscriptLine {
  role: TranscriptRole;
  text: string;
  /** Call time (ms since the stream started) the line refers to. */
  atMs: number;
  /** For assistant lines cut by barge-in: the text the caller actually heard. */
  interrupted?: boolean;
}

export type AgentAction =
  | { type: 'hangup'; reason: string }
  | { type: 'transfer'; to: string; reason: string };

/** What happened to one agent utterance once Twilio played it or it was cut. */
export interface UtterancePlayed {
  utteranceId: number;
  playedMs: number;
  totalMs: number;
  interrupted: boolean;
}

/** What a bridge reports to its call. CallSession implements it. */
export interface AgentSink {
  /** Agent voice, mu-law 8 kHz, any chunk size. Dropped while an interrupted turn is still draining. */
  audio(chunk: Buffer): void;
  /** A new agent turn begins: audio after this belongs to it (ends the drop after a barge-in). */
  turnStarted(): void;
  /** The agent finished sending one utterance: Playback marks it so we learn when it has played. */
  utteranceDone(): void;
  /**
   * The caller spoke over the agent: clear Twilio's buffer and drop the rest of the turn.
   * `signalledAt` (epochMs(), comparable across threads): when the agent decided, if not now.
   */
  bargeIn(signalledAt?: number): void;
  /** The agent's connection dropped mid-call and is being reopened (counted in /metrics). */
  reconnecting?(): void;
  transcript(line: Omit<TranscriptLine, 'atMs'> & { atMs?: number }): void;
  /** A latency figure in milliseconds, e.g. `turn_latency`, for telemetry. */
  latency(metric: string, ms: number, extra?: Record<string, unknown>): void;
  action(action: AgentAction): void;
  /** A fatal agent failure ends the call cleanly; a non-fatal one is logged. */
  error(err: Error, fatal: boolean): void;
}

export interface AgentBridge {
  readonly kind: string;
  /** Connects to the agent. Called once, after Twilio `start`. Rejecting ends the call. */
  start(): Promise<void>;
  /**
   * One 20 ms caller frame (160 bytes of mu-law) at call time `atMs`. The buffer is only valid
   * during the call: copy it to keep it. Called on the hot path: no I/O waits, no logging.
   */
  pushCallerAudio(frame: Buffer, atMs: number): void;
  pushDtmf(digit: string): void;
  /** Playback's report on an utterance: played in full, or cut by barge-in. */
  utterancePlayed(played: UtterancePlayed): void;
  /** Ends the agent side. Idempotent; never throws. */
  close(reason: string): Promise<void>;
}

export type AgentFactory = (call: CallContext, sink: AgentSink) => AgentBridge;
