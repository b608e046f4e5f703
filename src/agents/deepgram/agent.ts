// The Deepgram Voice Agent behind a call. Mu-law 8 kHz passes through untouched both ways. The
// converse socket opens when the stream starts; caller audio is held until SettingsApplied. A
// socket that drops mid-call is reopened with backoff within a time budget, the caller hearing
// silence meanwhile, with the conversation as the caller heard it; when the agent cannot be
// reached the caller hears an apology before the call ends.
import { performance } from 'node:perf_hooks';
import type { DeepgramConfig } from '../../config.js';
import type { AgentBridge, AgentSink, CallContext, UtterancePlayed } from '../bridge.js';
import { AssistantTurns, type HeardLine } from '../assistant-turns.js';
import { dtmfUserMessage } from '../dtmf.js';
import { agentUnavailablePrompt } from '../prompts.js';
import type { ToolCall } from '../tools.js';
import { ConverseSocket } from './connection.js';
import type { FunctionCallRequestItem, ServerMessage } from './messages.js';
import { buildSettings, type HistoryLine } from './settings.js';
import { parseFunctionCall } from './tools.js';

export interface DeepgramAgentOptions {
  config: DeepgramConfig;
  systemPrompt: string;
  /** Where transfer_call sends the call; undefined = the tool is not offered. */
  transferNumber: string | undefined;
  /** Connect, Welcome and SettingsApplied must all arrive within this. */
  connectTimeoutMs?: number;
  /** Send KeepAlive when nothing has been sent for this long. */
  keepAliveAfterMs?: number;
  /** Caller audio held before SettingsApplied or during a reconnect, at most. */
  maxHeldFrames?: number;
  /** After a drop, how long reconnecting may take in all before the caller hears the apology. */
  reconnectBudgetMs?: number;
}

type Phase = 'connecting' | 'ready' | 'reconnecting' | 'failed' | 'closed';

/**
 * A hang-up or transfer waits for the agent's last words: for a first sign of them a short while,
 * then, once they show, until they are sent in full (AgentAudioDone), within a bound.
 */
interface PendingAction {
  id: string;
  call: ToolCall;
  requestedAt: number;
  /** The agent showed it is producing its last words (thinking, text, speaking, audio). */
  speaking: boolean;
  timer: NodeJS.Timeout | undefined;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 8000;
const DEFAULT_KEEPALIVE_AFTER_MS = 5000;
const DEFAULT_MAX_HELD_FRAMES = 250; // 5 s of caller audio
/**
 * After end_call or transfer_call: how long to wait for a first sign of the agent's last words
 * (LLM and TTS latency often pass 1.5 s), and how long in all for them to be sent in full.
 * The call session then waits for the caller to hear them.
 */
const GOODBYE_FIRST_SIGN_MS = 3000;
const GOODBYE_MAX_WAIT_MS = 10_000;
const SECONDS_TO_MS = 1000;
/** Waits before each reconnect attempt; the last repeats until the budget is spent. */
const RECONNECT_BACKOFF_MS = [250, 500, 1000, 2000];
const DEFAULT_RECONNECT_BUDGET_MS = 10_000;
/** Outages survived per call; a session that keeps dropping is a failure, not bad luck. */
const MAX_RECONNECTS = 3;
/** The longest wait, after a drop, for the caller to finish hearing what the agent had sent. */
const MAX_PLAYOUT_WAIT_MS = 8000;

export class DeepgramAgent implements AgentBridge {
  readonly kind = 'deepgram';
  private phase: Phase = 'connecting';
  private socket: ConverseSocket | undefined;
  private readonly held: Buffer[] = [];
  private heldDropped = 0;
  private lastSentAt = 0;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private reconnects = 0;
  /** The agent began speaking (its greeting, if it has one): a new session must not greet again. */
  private hasSpoken = false;
  /** Resolved when Playback has reported every voiced turn, for a reconnect waiting on it. */
  private onAllReported: (() => void) | undefined;
  /** After a barge-in, the interrupted turn's late audio is dropped until the next turn starts. */
  private muted = false;
  private readonly turns = new AssistantTurns();
  private readonly history: HistoryLine[] = [];
  private pendingAction: PendingAction | undefined;
  /** Keypad messages sent and not yet echoed back as the user's ConversationText. */
  private readonly keypadMessages: string[] = [];
  /** Settles the connect in progress: resolved by SettingsApplied, rejected by a failure. */
  private pendingConnect: { resolve: () => void; reject: (err: Error) => void } | undefined;

  constructor(
    private readonly options: DeepgramAgentOptions,
    private readonly call: CallContext,
    private readonly sink: AgentSink,
  ) {}

  /**
   * Rejects when the agent cannot be reached; the apology is already queued for the caller then.
   * A call that ends while the agent connects is no failure: start resolves, and nothing follows.
   */
  async start(): Promise<void> {
    try {
      await this.connect();
    } catch (err) {
      if (this.phase === 'closed') return;
      this.fail(err as Error);
      throw err;
    }
    if (this.phase === 'closed') return;
    const keepAliveAfterMs = this.options.keepAliveAfterMs ?? DEFAULT_KEEPALIVE_AFTER_MS;
    this.keepAliveTimer = setInterval(() => this.keepAlive(), Math.min(1000, keepAliveAfterMs / 3));
    this.keepAliveTimer.unref();
  }

  pushCallerAudio(frame: Buffer): void {
    if (this.phase === 'ready' && this.socket?.isOpen) {
      this.socket.sendAudio(frame);
      this.lastSentAt = performance.now();
      return;
    }
    if (this.phase !== 'connecting' && this.phase !== 'reconnecting') return;
    if (this.held.length >= (this.options.maxHeldFrames ?? DEFAULT_MAX_HELD_FRAMES)) {
      this.heldDropped++;
      return;
    }
    this.held.push(Buffer.from(frame));
  }

  /**
   * The converse API has no DTMF message: the agent hears the key as a user message. The service
   * sends it back as the user's ConversationText, which stays off the transcript.
   */
  pushDtmf(digit: string): void {
    if (this.phase !== 'ready' || !this.socket?.isOpen) return;
    const text = dtmfUserMessage(digit);
    this.keypadMessages.push(text);
    this.socket.sendInjectUserMessage(text);
    this.lastSentAt = performance.now();
  }

  utterancePlayed(played: UtterancePlayed): void {
    const line = this.turns.played(played);
    if (line) this.writeAssistantLine(line);
    if (this.turns.awaitingReports === 0) this.onAllReported?.();
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    clearInterval(this.keepAliveTimer);
    clearTimeout(this.pendingAction?.timer);
    // A connect still waiting for SettingsApplied stops now, with its timer, not 8 s later.
    this.pendingConnect?.reject(new Error('the call ended while the agent was connecting'));
    this.onAllReported?.(); // a reconnect waiting for playout stops waiting
    for (const line of this.turns.flush()) this.writeAssistantLine(line);
    this.socket?.close();
  }

  /** Opens the socket and resolves once Deepgram has applied our Settings. */
  private async connect(timeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS): Promise<void> {
    const started = performance.now();
    const socket = new ConverseSocket(
      { url: this.options.config.wsUrl, apiKey: this.options.config.apiKey ?? '', connectTimeoutMs: timeoutMs },
      {
        message: (m) => this.onMessage(m),
        audio: (chunk) => this.onAudio(chunk),
        closed: (code) => void this.onDropped(code),
      },
    );
    this.socket = socket;
    await socket.connect();
    if (this.phase === 'closed') return socket.close();
    const remaining = Math.max(0, timeoutMs - (performance.now() - started));
    const applied = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Deepgram did not apply the settings within ${timeoutMs} ms`)), remaining);
      const settle = () => {
        clearTimeout(timer);
        this.pendingConnect = undefined;
      };
      this.pendingConnect = {
        resolve: () => (settle(), resolve()),
        reject: (err) => (settle(), reject(err)),
      };
    });
    // A session that never applied our Settings is no use: close it, so a retry starts clean.
    await applied.catch((err: Error) => {
      socket.close();
      throw err;
    });
  }

  private onMessage(message: ServerMessage): void {
    if (this.phase === 'closed') return;
    switch (message.type) {
      case 'Welcome':
        return this.sendSettings();
      case 'SettingsApplied':
        return this.onSettingsApplied();
      case 'UserStartedSpeaking':
        return this.onUserStartedSpeaking();
      case 'AgentThinking':
        this.lastWordsStarting();
        return this.beginAgentTurn();
      case 'ConversationText':
        return this.onConversationText(message.role, message.content);
      case 'AgentStartedSpeaking':
        this.lastWordsStarting();
        this.beginAgentTurn();
        // Named apart from LatencyReport's fields, which repeat some of these per turn.
        this.sink.latency('deepgram_started_total_latency', message.total_latency * SECONDS_TO_MS);
        this.sink.latency('deepgram_started_tts_latency', message.tts_latency * SECONDS_TO_MS);
        this.sink.latency('deepgram_started_ttt_latency', message.ttt_latency * SECONDS_TO_MS);
        return;
      case 'AgentAudioDone':
        return this.onAgentAudioDone();
      case 'LatencyReport':
        return this.reportLatency(message as unknown as Record<string, unknown>);
      case 'FunctionCallRequest':
        return this.onFunctionCallRequest(message.functions);
      case 'FunctionCallCancelled':
        return this.onFunctionCallCancelled(message.functions.map((f) => f.id));
      case 'Warning':
        return this.sink.error(new Error(`Deepgram warning ${message.code}: ${message.description}`), false);
      case 'Error':
        return this.fail(new Error(`Deepgram error ${message.code}: ${message.description}`));
      default:
        return;
    }
  }

  private sendSettings(): void {
    const settings = buildSettings(this.options.config, this.call, {
      systemPrompt: this.options.systemPrompt,
      transferAvailable: this.options.transferNumber !== undefined,
      history: this.reconnects > 0 ? this.history : undefined,
      greet: !this.hasSpoken,
    });
    this.socket?.sendSettings(settings);
    this.lastSentAt = performance.now();
  }

  private onSettingsApplied(): void {
    this.phase = 'ready';
    for (const frame of this.held) this.socket!.sendAudio(frame);
    this.held.length = 0;
    this.lastSentAt = performance.now();
    if (this.heldDropped > 0) {
      this.sink.error(new Error(`dropped ${this.heldDropped} caller frames while the agent connected`), false);
      this.heldDropped = 0;
    }
    this.pendingConnect?.resolve();
  }

  private onAudio(chunk: Buffer): void {
    if (this.phase === 'closed' || this.muted) return;
    if (this.pendingAction?.speaking === false) this.lastWordsStarting();
    this.hasSpoken = true;
    this.turns.audio();
    this.sink.audio(chunk);
  }

  private onUserStartedSpeaking(): void {
    this.muted = true;
    const line = this.turns.close(false);
    if (line) this.writeAssistantLine(line);
    this.sink.bargeIn();
  }

  /** Any sign of a new agent turn ends the drop of an interrupted turn's audio. */
  private beginAgentTurn(): void {
    if (!this.muted) return;
    this.muted = false;
    this.sink.turnStarted();
  }

  private onConversationText(role: 'user' | 'assistant', content: string): void {
    if (role === 'user') {
      this.history.push({ role, content });
      const keypad = this.keypadMessages.indexOf(content);
      if (keypad >= 0) this.keypadMessages.splice(keypad, 1);
      else this.sink.transcript({ role, text: content });
      return;
    }
    this.lastWordsStarting();
    this.beginAgentTurn();
    this.hasSpoken = true;
    this.turns.text(content);
  }

  private onAgentAudioDone(): void {
    const line = this.turns.close(true);
    if (line) this.writeAssistantLine(line);
    this.sink.utteranceDone();
    const pending = this.pendingAction;
    if (pending) this.completeAction(pending);
  }

  private writeAssistantLine(line: HeardLine): void {
    if (line.text) this.history.push({ role: 'assistant', content: line.text });
    this.sink.transcript({ role: 'assistant', text: line.text, interrupted: line.interrupted || undefined });
  }

  private reportLatency(report: Record<string, unknown>): void {
    for (const [key, value] of Object.entries(report)) {
      if (key.endsWith('_latency') && typeof value === 'number') this.sink.latency(`deepgram_${key}`, value * SECONDS_TO_MS);
    }
  }

  private onFunctionCallRequest(functions: FunctionCallRequestItem[]): void {
    for (const fn of functions) {
      if (!fn.client_side) continue;
      const parsed = parseFunctionCall(fn.name, fn.arguments);
      if ('error' in parsed) {
        this.socket?.sendFunctionCallResponse(fn.id, fn.name, JSON.stringify({ error: parsed.error }));
        continue;
      }
      if (parsed.tool === 'transfer_call' && !this.options.transferNumber) {
        this.socket?.sendFunctionCallResponse(fn.id, fn.name, JSON.stringify({ error: 'transfers are not available on this line' }));
        continue;
      }
      const note = parsed.tool === 'end_call' ? 'The call will end after your goodbye.' : 'The caller will be transferred after you finish speaking.';
      this.socket?.sendFunctionCallResponse(fn.id, fn.name, JSON.stringify({ ok: true, note }));
      this.scheduleAction({ id: fn.id, call: parsed, requestedAt: performance.now(), speaking: false, timer: undefined });
    }
  }

  /** Lets the agent say its last words: act after its next AgentAudioDone, or soon if it says nothing. */
  private scheduleAction(action: PendingAction): void {
    clearTimeout(this.pendingAction?.timer);
    this.pendingAction = action;
    this.actAfter(action, GOODBYE_FIRST_SIGN_MS);
  }

  /** The agent is producing its last words: wait for them to be sent, up to the overall bound. */
  private lastWordsStarting(): void {
    const action = this.pendingAction;
    if (!action || action.speaking) return;
    action.speaking = true;
    this.actAfter(action, GOODBYE_MAX_WAIT_MS - (performance.now() - action.requestedAt));
  }

  private actAfter(action: PendingAction, ms: number): void {
    clearTimeout(action.timer);
    action.timer = setTimeout(() => this.completeAction(action), Math.max(0, ms));
    action.timer.unref();
  }

  private completeAction(action: PendingAction): void {
    if (this.pendingAction !== action) return;
    clearTimeout(action.timer);
    this.pendingAction = undefined;
    const reason = action.call.reason ?? (action.call.tool === 'end_call' ? 'the agent ended the call' : 'the agent transferred the call');
    if (action.call.tool === 'end_call') this.sink.action({ type: 'hangup', reason });
    else this.sink.action({ type: 'transfer', to: this.options.transferNumber!, reason });
  }

  private onFunctionCallCancelled(ids: string[]): void {
    const pending = this.pendingAction;
    if (pending && ids.includes(pending.id)) {
      clearTimeout(pending.timer);
      this.pendingAction = undefined;
    }
  }

  private keepAlive(): void {
    if (this.phase !== 'ready' || !this.socket?.isOpen) return;
    if (performance.now() - this.lastSentAt < (this.options.keepAliveAfterMs ?? DEFAULT_KEEPALIVE_AFTER_MS)) return;
    this.socket.sendKeepAlive();
    this.lastSentAt = performance.now();
  }

  /**
   * The socket dropped. While connecting, that attempt fails (a first connect apologizes; a
   * reconnect tries again). Mid-call, the session is reopened with backoff within the budget.
   */
  private onDropped(code: number): void {
    if (this.phase === 'closed' || this.phase === 'failed') return;
    const err = new Error(`the Deepgram agent socket closed (code ${code})`);
    if (this.phase === 'reconnecting') return this.pendingConnect?.reject(err);
    if (this.phase !== 'ready' || this.reconnects >= MAX_RECONNECTS) return this.fail(err);
    void this.reconnect(err);
  }

  private async reconnect(cause: Error): Promise<void> {
    this.reconnects++;
    this.phase = 'reconnecting';
    this.socket = undefined;
    this.sink.reconnecting?.();
    this.sink.error(new Error(`${cause.message}; reconnecting with the conversation so far`), false);
    // What the agent had sent still plays; once it has, the history holds what the caller heard.
    const line = this.turns.close(false);
    if (line) this.writeAssistantLine(line);
    this.sink.utteranceDone();
    await this.heardSoFar();
    const started = performance.now();
    const deadline = started + (this.options.reconnectBudgetMs ?? DEFAULT_RECONNECT_BUDGET_MS);
    let lastError = cause;
    for (let attempt = 0; ; attempt++) {
      const backoff = RECONNECT_BACKOFF_MS[Math.min(attempt, RECONNECT_BACKOFF_MS.length - 1)]!;
      if (performance.now() + backoff >= deadline) break;
      await delay(backoff);
      if (!this.inPhase('reconnecting')) return;
      try {
        await this.connect(Math.min(this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, deadline - performance.now()));
        if (this.inPhase('ready')) this.sink.latency('deepgram_reconnect', performance.now() - started, { attempts: attempt + 1 });
        return;
      } catch (err) {
        if (!this.inPhase('reconnecting')) return;
        lastError = err as Error;
      }
    }
    this.fail(new Error(`the Deepgram agent could not be reached again within the reconnect budget: ${lastError.message}`));
  }

  /** A method, not a field test, so the compiler does not narrow the phase across awaits. */
  private inPhase(phase: Phase): boolean {
    return this.phase === phase;
  }

  /** Resolves once Playback has reported every voiced turn (the caller heard or cut it), within a bound. */
  private heardSoFar(): Promise<void> {
    if (this.turns.awaitingReports === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.onAllReported = undefined;
        resolve();
      };
      const timer = setTimeout(done, MAX_PLAYOUT_WAIT_MS);
      timer.unref();
      this.onAllReported = done;
    });
  }

  /** The agent is gone for good: the caller hears an apology, and the call ends after it. */
  private fail(err: Error): void {
    if (this.phase === 'closed' || this.phase === 'failed') return;
    this.phase = 'failed';
    this.held.length = 0;
    this.socket?.close();
    this.pendingConnect?.reject(err);
    const line = this.turns.close(false);
    if (line) this.writeAssistantLine(line);
    // Whatever the agent already said plays out; the apology follows it.
    this.muted = false;
    this.sink.utteranceDone();
    this.sink.turnStarted();
    this.sink.audio(agentUnavailablePrompt());
    this.sink.utteranceDone();
    this.sink.error(err, true);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
