// The LiveKit voice pipeline behind a call: a room-less `voice.AgentSession` (VAD → STT → LLM →
// TTS, each provider with its fallback) on the call's own audio, through the Twilio IO of
// twilio-io.ts. Everything of the call is its own (pipeline, session, IO); only the VAD is shared.
// A provider failing falls back inside the pipeline; when no provider of a kind is left, or the
// session closes on an error, the caller hears the recorded apology and the call ends. The
// plugins' stray rejections are caught in this call's own fault scope, so a provider error that
// the fallback already covered never ends the call.
import { isAPIError, llm, voice, type AgentMetrics } from '@livekit/agents';
import type { PipelineConfig, VadConfig } from '../../config.js';
import { inCallScope, type FaultScope } from '../../call/fault-guard.js';
import type { LogLevel } from '../../telemetry/logger.js';
import type { AgentBridge, AgentSink, CallContext, UtterancePlayed } from '../bridge.js';
import { dtmfUserMessage } from '../dtmf.js';
import type { DropsCallerFrames } from '../worker/protocol.js';
import { agentUnavailablePrompt } from '../prompts.js';
import type { ToolCall } from '../tools.js';
import { initializeFrameworkLogger } from './framework-logger.js';
import { closePipeline, createPipeline, telephonySessionOptions, type Pipeline, type PipelineOverrides } from './pipeline.js';
import { livekitTools, type CallingReply } from './tools.js';
import { TwilioAudioInput, TwilioAudioOutput, TwilioTranscriptOutput } from './twilio-io.js';

export interface LivekitAgentOptions {
  config: { pipeline: PipelineConfig; vad: VadConfig };
  systemPrompt: string;
  /** Where transfer_call sends the call; undefined = the tool is not offered. */
  transferNumber: string | undefined;
  /** The gateway's LOG_LEVEL; the framework's own logger runs one step quieter. */
  logLevel: LogLevel;
  /** Tests only: a VAD or a shorter stall timeout. */
  overrides?: PipelineOverrides;
}

type Phase = 'starting' | 'live' | 'failed' | 'closed';

/** A hang-up or transfer the agent asked for, waiting for its last words to be over. */
interface PendingAction {
  call: ToolCall;
  timer: NodeJS.Timeout;
}

/**
 * After end_call or transfer_call, the longest wait for the agent's last words to be played and
 * written before the hang-up or transfer goes to the call anyway (as the Deepgram agent's bound).
 */
const GOODBYE_MAX_WAIT_MS = 10_000;

export class LivekitAgent implements AgentBridge, DropsCallerFrames {
  readonly kind = 'livekit';
  private phase: Phase = 'starting';
  private pipeline: Pipeline | undefined;
  private session: voice.AgentSession | undefined;
  private readonly transcriptOutput = new TwilioTranscriptOutput();
  private readonly output: TwilioAudioOutput;
  private readonly input: TwilioAudioInput;
  private pendingAction: PendingAction | undefined;
  /** The keypad messages sent to the LLM and not yet seen back in the chat (kept off the transcript). */
  private readonly keypadMessages: string[] = [];
  private teardown: Promise<void> | undefined;
  /** Playback reported the last audio sent as played to its end (mark echoed), nothing sent since. */
  private lastHeardInFull = false;
  /** This call's share of the process's fault guard: the plugins' stray rejections land here. */
  private readonly scope: FaultScope = {
    ids: () => ({ callSid: this.call.callSid, streamSid: this.call.streamSid, agent: this.kind }),
    fault: (err) => this.fail(err instanceof Error ? err : new Error(String(err))),
    // A provider request failing is already reported to the session and covered by the fallback
    // (the plugins leave some of theirs unhandled).
    contains: (err) => isAPIError(err),
  };

  constructor(
    private readonly options: LivekitAgentOptions,
    private readonly call: CallContext,
    private readonly sink: AgentSink,
  ) {
    initializeFrameworkLogger(options.logLevel); // before the IO: the framework's classes log from their constructors
    this.input = new TwilioAudioInput();
    // Audio sent and not yet reported as played: the last reply was not heard in full (yet).
    const notingAudio: AgentSink = { ...sink, audio: (chunk) => ((this.lastHeardInFull = false), sink.audio(chunk)) };
    this.output = new TwilioAudioOutput(notingAudio, this.transcriptOutput);
  }

  /** Rejects when the pipeline cannot start; the apology is already queued for the caller then. */
  async start(): Promise<void> {
    try {
      await inCallScope(this.scope, () => this.startSession());
    } catch (err) {
      if (this.phase === 'closed') return;
      this.fail(err as Error);
      throw err;
    }
  }

  /** Caller frames the pipeline's input dropped, its queue full (the worker pool reports them at the call's end). */
  get droppedFrames(): number {
    return this.input.droppedFrames;
  }

  pushCallerAudio(frame: Buffer): void {
    if (this.phase === 'live') this.input.pushMulaw(frame);
  }

  /** The LLM hears the key as a user message; the digit goes nowhere else. */
  pushDtmf(digit: string): void {
    if (this.phase !== 'live' || !this.session) return;
    const text = dtmfUserMessage(digit);
    this.keypadMessages.push(text);
    try {
      // In the call's scope: Twilio's frames arrive outside it, and the reply's work must not.
      const session = this.session;
      inCallScope(this.scope, () => session.generateReply({ userInput: text }));
    } catch (err) {
      this.sink.error(new Error(`a keypad press could not reach the agent: ${(err as Error).message}`), false);
    }
  }

  utterancePlayed(played: UtterancePlayed): void {
    this.lastHeardInFull = !played.interrupted;
    inCallScope(this.scope, () => this.output.utterancePlayed(played));
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return this.teardown;
    this.phase = 'closed';
    clearTimeout(this.pendingAction?.timer);
    this.pendingAction = undefined;
    await this.shutDown();
  }

  private async startSession(): Promise<void> {
    const pipeline = createPipeline(this.options.config, this.options.overrides);
    this.pipeline = pipeline;
    const session = new voice.AgentSession({
      stt: pipeline.stt,
      llm: pipeline.llm,
      tts: pipeline.tts,
      ...telephonySessionOptions(this.options.config.vad, this.options.overrides),
    });
    this.session = session;
    session.input.audio = this.input;
    session.output.audio = this.output;
    session.output.transcription = this.transcriptOutput.asTextOutput();
    this.listen(session, pipeline);
    const tools = livekitTools({ transferAvailable: this.options.transferNumber !== undefined }, (call, reply) => this.onToolCall(call, reply));
    const agent = new voice.Agent({ instructions: this.call.prompt ?? this.options.systemPrompt, tools });
    await session.start({ agent });
    if (this.phase !== 'starting') return; // ended (or failed) while starting
    this.phase = 'live';
    if (this.call.greeting) session.say(this.call.greeting);
  }

  private listen(session: voice.AgentSession, pipeline: Pipeline): void {
    const E = voice.AgentSessionEventTypes;
    // Each model's own label: an unrecoverable error under it means every provider of that kind
    // failed (a FallbackAdapter reports its providers' failures under theirs, and moves on).
    const lastResort = new Map([
      [pipeline.stt.label, 'speech-to-text'],
      [pipeline.llm.label(), 'LLM'],
      [pipeline.tts.label, 'text-to-speech'],
    ]);
    session.on(E.ConversationItemAdded, (ev) => this.onItem(ev.item));
    session.on(E.MetricsCollected, (ev) => this.onMetrics(ev.metrics));
    session.on(E.UserStateChanged, (ev) => pipeline.callerSpeech.set(ev.newState === 'speaking'));
    session.on(E.Error, (ev) => {
      if (this.phase === 'closed') return;
      const { error, recoverable, label } = ev.error as { error: Error; recoverable: boolean; label?: string };
      const kind = recoverable ? undefined : lastResort.get(label ?? '');
      if (kind === undefined) return this.sink.error(new Error(`${label ?? 'a provider'} failed: ${error?.message}`), false);
      this.fail(new Error(`no ${kind} provider left (${label}): ${error?.message}`));
    });
    for (const provider of pipeline.fallbackStts) {
      provider.on('error', ({ error, label }) => {
        if (this.phase !== 'closed') this.sink.error(new Error(`${label} failed, the next speech-to-text takes over: ${error.message}`), false);
      });
    }
    session.on(E.Close, (ev) => {
      if (ev.reason !== voice.CloseReason.ERROR) return;
      const cause = (ev.error as { error?: Error } | null)?.error?.message ?? 'unknown';
      this.fail(new Error(`the pipeline closed on an error: ${cause}`));
    });
  }

  private onItem(item: llm.ChatMessage | llm.AgentHandoffItem): void {
    // Also while closing: the session adds the last reply as it winds down.
    if (item.type !== 'message') return;
    if (item.role !== 'user' && item.role !== 'assistant') return;
    const text = (item.textContent ?? '').trim();
    if (item.role === 'user') {
      const keypad = this.keypadMessages.indexOf(text);
      if (keypad >= 0) return void this.keypadMessages.splice(keypad, 1);
      if (text) this.sink.transcript({ role: 'user', text });
      return;
    }
    // A call that ends right after a reply was heard closes the session before the reply is
    // written, and the framework calls it interrupted: it was not, the caller heard all of it.
    const interrupted = item.interrupted && !(this.phase === 'closed' && this.lastHeardInFull);
    if (text || interrupted) this.sink.transcript({ role: 'assistant', text, interrupted: interrupted || undefined });
  }

  /** The pipeline's own figures; `turn_latency` is the call's, measured the same for every agent. */
  private onMetrics(metrics: AgentMetrics): void {
    const provider = { provider: 'label' in metrics ? metrics.label : undefined };
    switch (metrics.type) {
      case 'llm_metrics':
        if (metrics.ttftMs >= 0) this.sink.latency('livekit_llm_ttft', metrics.ttftMs, provider);
        return;
      case 'tts_metrics':
        // The session speaks through streams only: a whole-request figure is a recovery check's.
        if (metrics.streamed && metrics.ttfbMs >= 0) this.sink.latency('livekit_tts_ttfb', metrics.ttfbMs, provider);
        return;
      case 'stt_metrics':
        // A streaming STT reports no duration; a whole-request one (OpenAI) does.
        if (!metrics.streamed && metrics.durationMs > 0) this.sink.latency('livekit_stt_duration', metrics.durationMs, provider);
        return;
      case 'eou_metrics':
        this.sink.latency('livekit_stt_transcription_delay', metrics.transcriptionDelayMs);
        this.sink.latency('livekit_end_of_turn_delay', metrics.endOfUtteranceDelayMs);
        return;
      default:
        return;
    }
  }

  /**
   * end_call / transfer_call: the model was told to say its last words first, in the reply that
   * calls the tool. No barge-in may cut them from here on: once the call is ending there is nothing
   * left to answer, and the VAD, when it runs behind the STT (the CPU busy), takes the caller's
   * words of the turn just answered for speech over the reply. The action goes to the call once
   * the reply is over, not at the agent state: "listening" also follows a reply cut short, and the
   * reply's words reach the chat (the transcript) only after its playback-finished event, which
   * the Twilio IO raises at the mark's echo. Returning nothing asks the model for no further reply.
   */
  private onToolCall(call: ToolCall, reply: CallingReply): undefined {
    if (this.phase !== 'live' || this.pendingAction) return undefined;
    reply.protect();
    const timer = setTimeout(() => this.completeAction(), GOODBYE_MAX_WAIT_MS);
    timer.unref();
    this.pendingAction = { call, timer };
    void reply.over().then(() => this.completeAction());
    return undefined;
  }

  private completeAction(): void {
    const pending = this.pendingAction;
    if (!pending || this.phase !== 'live') return;
    clearTimeout(pending.timer);
    this.pendingAction = undefined;
    const { tool, reason } = pending.call;
    if (tool === 'end_call') this.sink.action({ type: 'hangup', reason: reason ?? 'the agent ended the call' });
    else this.sink.action({ type: 'transfer', to: this.options.transferNumber!, reason: reason ?? 'the agent transferred the call' });
  }

  /** The pipeline is beyond saving: the caller hears the apology, and the call ends after it. */
  private fail(err: Error): void {
    if (this.phase === 'closed' || this.phase === 'failed') return;
    this.phase = 'failed';
    clearTimeout(this.pendingAction?.timer);
    this.pendingAction = undefined;
    // Closed first, so no more pipeline audio reaches the call and Playback's report on the
    // apology is not taken for one of the pipeline's segments. What was already sent plays out.
    this.output.close();
    this.sink.utteranceDone();
    this.sink.turnStarted();
    this.sink.audio(agentUnavailablePrompt());
    this.sink.utteranceDone();
    this.sink.error(err, true);
    void this.shutDown();
  }

  /** Output, session, input, then the providers' sockets and timers; once, never throwing. */
  private shutDown(): Promise<void> {
    this.teardown ??= inCallScope(this.scope, async () => {
      this.output.close();
      await this.session?.close().catch(() => undefined);
      await this.input.close().catch(() => undefined);
      if (this.pipeline) await closePipeline(this.pipeline);
    });
    return this.teardown;
  }
}
