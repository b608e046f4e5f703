// What the media thread and an agent worker say to each other. Everything here crosses a thread
// boundary by structured clone: plain data only, no functions, no class instances.
import type { AgentAction, AgentBridge, AgentSink, CallContext, TranscriptLine, UtterancePlayed } from '../bridge.js';
import type { Config } from '../../config.js';

/**
 * An agent a worker can build, named by where its factory lives: the worker imports `module`
 * (a file URL) and calls its export `export`, a HostedAgentFactory. Data, so it can be posted.
 */
export interface HostedAgentKind {
  /** The bridge kind CallSession reports, e.g. `echo` or `livekit`. */
  name: string;
  module: string;
  export: string;
}

/** What a hosted agent's module exports: it builds the bridge inside the worker. */
export type HostedAgentFactory = (call: CallContext, sink: AgentSink, config: Config) => AgentBridge;

/** Given to each worker once, at spawn. */
export interface WorkerSetup {
  config: Config;
  /** The caller-audio ring this worker reads (see audio-ring.ts). */
  ring: SharedArrayBuffer;
}

export type ToWorker =
  /** Import an agent's code now, before a call needs it. */
  | { type: 'load'; kind: HostedAgentKind }
  | { type: 'start'; callId: number; kind: HostedAgentKind; call: CallContext }
  /** A caller frame too large for a ring slot: rare, so it is posted instead. */
  | { type: 'audio'; callId: number; frame: Uint8Array; atMs: number }
  | { type: 'dtmf'; callId: number; digit: string }
  | { type: 'played'; callId: number; played: UtterancePlayed }
  | { type: 'close'; callId: number; reason: string }
  | { type: 'shutdown' };

/** One AgentSink call made by a hosted bridge, replayed on the real sink in the same order. */
export type SinkEvent =
  | { type: 'audio'; chunk: Uint8Array }
  | { type: 'turnStarted' }
  | { type: 'utteranceDone' }
  /** `signalledAt`: epochMs() in the worker, so the call can time its `clear` from the agent's decision. */
  | { type: 'bargeIn'; signalledAt: number }
  | { type: 'transcript'; line: Omit<TranscriptLine, 'atMs'> & { atMs?: number } }
  | { type: 'latency'; metric: string; ms: number; extra?: Record<string, unknown> }
  | { type: 'action'; action: AgentAction }
  | { type: 'error'; message: string; fatal: boolean };

export type FromWorker =
  /** The answer to `load`: the agent's code is ready, or why not. */
  | { type: 'loaded'; module: string; export: string; error?: string }
  /** Sent once at start when AGENT_WORKER_NICE asks for a lower priority: whether the thread got it. */
  | { type: 'priority'; nice: number; ok: boolean; reason?: string }
  | { type: 'sink'; callId: number; event: SinkEvent }
  | { type: 'started'; callId: number }
  | { type: 'startFailed'; callId: number; message: string }
  /** The hosted bridge threw: the worker dropped it; the media thread apologizes and ends the call. */
  | { type: 'crashed'; callId: number; message: string }
  /** `droppedFrames`: caller frames the hosted bridge itself lost (see DropsCallerFrames). */
  | { type: 'closed'; callId: number; droppedFrames: number };

/**
 * A bridge that can lose caller frames of its own (the LiveKit pipeline's input drops the newest
 * audio when the pipeline falls its queue behind) says how many; they are reported when its call ends.
 */
export interface DropsCallerFrames {
  readonly droppedFrames: number;
}

/** The caller frames `bridge` says it lost; 0 for a bridge that cannot lose any. */
export function droppedFramesOf(bridge: AgentBridge | undefined): number {
  const count = (bridge as Partial<DropsCallerFrames> | undefined)?.droppedFrames;
  return typeof count === 'number' ? count : 0;
}
