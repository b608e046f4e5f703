// The media thread's stand-in for a bridge hosted in a worker: CallSession talks to it like any
// AgentBridge; it forwards to the worker and applies the hosted bridge's sink calls, in order, to
// the real sink. Caller audio goes through the worker's shared ring: no message, no allocation.
import type { AgentBridge, AgentSink, CallContext, UtterancePlayed } from '../bridge.js';
import { agentUnavailablePrompt } from '../prompts.js';
import type { HostedAgentKind, SinkEvent, ToWorker } from './protocol.js';

/** How long close() waits for the worker to confirm the hosted bridge closed. */
const CLOSE_ACK_TIMEOUT_MS = 5_000;

/** What a WorkerBridge needs of the worker hosting it. */
export interface BridgeHost {
  post(message: ToWorker): void;
  /** False when the frame was dropped: the worker is a whole ring behind. */
  pushAudio(callId: number, frame: Buffer, atMs: number): boolean;
  /** The call is over on this side: the host stops routing to it. */
  release(callId: number): void;
}

/** `closing`: asked to close, the hosted bridge still reporting what its close adds (a last transcript line). */
type Phase = 'new' | 'starting' | 'live' | 'failed' | 'closing' | 'closed';

export class WorkerBridge implements AgentBridge {
  readonly kind: string;
  private phase: Phase = 'new';
  private pendingStart: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private closeAck: (() => void) | undefined;
  /** Caller frames this call lost because its worker fell a whole ring behind. */
  droppedFrames = 0;
  /** Caller frames the hosted bridge itself lost (its own queue full), as it said when it closed. */
  agentDroppedFrames = 0;

  constructor(
    private readonly host: BridgeHost,
    readonly callId: number,
    private readonly agent: HostedAgentKind,
    private readonly call: CallContext,
    private readonly sink: AgentSink,
  ) {
    this.kind = agent.name;
  }

  get callSid(): string {
    return this.call.callSid;
  }

  get streamSid(): string {
    return this.call.streamSid;
  }

  start(): Promise<void> {
    if (this.phase !== 'new') return Promise.reject(new Error('the hosted agent was already started'));
    this.phase = 'starting';
    return new Promise((resolve, reject) => {
      this.pendingStart = { resolve, reject };
      this.host.post({ type: 'start', callId: this.callId, kind: this.agent, call: this.call });
    });
  }

  pushCallerAudio(frame: Buffer, atMs: number): void {
    if ((this.phase === 'starting' || this.phase === 'live') && !this.host.pushAudio(this.callId, frame, atMs)) this.droppedFrames++;
  }

  pushDtmf(digit: string): void {
    if (this.isOpen) this.host.post({ type: 'dtmf', callId: this.callId, digit });
  }

  utterancePlayed(played: UtterancePlayed): void {
    if (this.isOpen) this.host.post({ type: 'played', callId: this.callId, played });
  }

  async close(reason: string): Promise<void> {
    if (this.phase === 'closing' || this.phase === 'closed') return;
    const wasOpen = this.isOpen;
    this.settleStart(new Error(`the call ended (${reason}) while its agent started`));
    if (wasOpen) {
      // Let the hosted bridge close as it would in-process: a LiveKit session flushes its metrics
      // and writes the reply just heard, reported until the worker confirms the close.
      this.phase = 'closing';
      const acked = new Promise<void>((resolve) => (this.closeAck = resolve));
      this.host.post({ type: 'close', callId: this.callId, reason });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([acked, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_ACK_TIMEOUT_MS).unref()))]);
      clearTimeout(timer);
    }
    this.phase = 'closed';
    this.host.release(this.callId);
  }

  // From the host, in the order the worker sent them.

  started(): void {
    if (this.phase !== 'starting') return;
    this.phase = 'live';
    this.settleStart();
  }

  startFailed(message: string): void {
    if (this.phase !== 'starting') return;
    this.phase = 'failed';
    this.settleStart(new Error(message));
  }

  closed(agentDroppedFrames: number): void {
    this.agentDroppedFrames = agentDroppedFrames;
    this.closeAck?.();
  }

  deliver(event: SinkEvent): void {
    if (!this.isOpen && this.phase !== 'closing') return;
    const sink = this.sink;
    switch (event.type) {
      case 'audio':
        return sink.audio(Buffer.from(event.chunk.buffer, event.chunk.byteOffset, event.chunk.length));
      case 'turnStarted':
        return sink.turnStarted();
      case 'utteranceDone':
        return sink.utteranceDone();
      case 'bargeIn':
        return sink.bargeIn(event.signalledAt);
      case 'transcript':
        return sink.transcript(event.line);
      case 'latency':
        return sink.latency(event.metric, event.ms, event.extra);
      case 'action':
        return sink.action(event.action);
      case 'error':
        return sink.error(new Error(event.message), event.fatal);
    }
  }

  /**
   * The hosted bridge is gone (it threw, or its worker died): the caller hears the recorded
   * apology after whatever already played, and the call ends through the agent-error path, as
   * when the Deepgram agent fails.
   */
  fail(err: Error): void {
    if (!this.isOpen) {
      this.closeAck?.(); // nothing more will come from a closing bridge
      this.closeAck = undefined;
      return;
    }
    this.phase = 'failed';
    this.settleStart(err);
    this.sink.utteranceDone();
    this.sink.turnStarted();
    this.sink.audio(agentUnavailablePrompt());
    this.sink.utteranceDone();
    this.sink.error(err, true);
  }

  private get isOpen(): boolean {
    return this.phase === 'starting' || this.phase === 'live';
  }

  private settleStart(err?: Error): void {
    const pending = this.pendingStart;
    this.pendingStart = undefined;
    if (err) pending?.reject(err);
    else pending?.resolve();
  }
}
