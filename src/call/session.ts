// One CallSession per Twilio media stream. It owns everything about the call (stream ids, task,
// agent bridge, recorder, playback, transcript) and ends exactly once, whatever ends first; its
// end always finalizes the recording and reports the call.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AgentBridge, AgentSink, CallContext, TranscriptLine, UtterancePlayed } from '../agents/bridge.js';
import type { RecordingInfo } from '../audio/recorder.js';
import type { Logger } from '../telemetry/logger.js';
import { maskPhone } from '../telemetry/redact.js';
import {
  InboundParser,
  MAX_INBOUND_FRAME_BYTES,
  isSupportedMediaFormat,
  outboundFrames,
  type MediaEvent,
  type StartEvent,
} from '../twilio/protocol.js';
import { epochMs } from '../util/clock.js';
import { toError } from '../util/errors.js';
import { ADMITTED, refused, type Admission, type CallOverrides } from './admission.js';
import { CallEnding, DEFAULT_PLAYOUT_TIMEOUT_MS } from './call-ending.js';
import { inCallScope, type FaultScope } from './fault-guard.js';
import { CallClock, DEFAULT_MAX_MEDIA_LEAD_MS, onRecordingAxis } from './call-clock.js';
import { reportCallEnd, summarizeCall, type CallRecord } from './call-summary.js';
import type { BadFrameKind, BargeInTiming, CallHooks, CallSessionDeps, CallStats, CallSummary, EndReason, MediaSocket, TurnTiming } from './call-types.js';
import { Playback } from './playback.js';
import { RecorderSlot, recordingName } from './recorder-slot.js';
import { TurnLatencyObserver } from './turn-latency.js';

/** Decoded media lands here; 64 KiB of base64 decodes to less than this. */
const SCRATCH_BYTES = 48 * 1024;

/** Twilio sends a frame every 20 ms even in silence: seconds without one mean the caller is gone. */
export const DEFAULT_MEDIA_IDLE_TIMEOUT_S = 10;

/**
 * Frames held while the stream's admission is pending (the store is asked whether its task may
 * take it): 10 s of Twilio's 20 ms frames, about 200 KB of JSON per stream at most. Admission
 * answers within milliseconds and STREAM_START_TIMEOUT_S bounds the wait; frames past this bound
 * are dropped and counted (`held_overflow`).
 */
export const MAX_HELD_FRAMES = 500;

/** `admitting`: `start` came and the verdict on it is pending; frames are held, not played. */
type State = 'awaiting_start' | 'admitting' | 'live' | 'ended';
type HeldFrame = { data: Buffer | string; isBinary: boolean };
type CallIds = { callSid?: string; streamSid?: string; taskId?: string };

export class CallSession {
  readonly sessionId = randomUUID();
  private state: State = 'awaiting_start';
  private readonly inbound = new InboundParser(Buffer.allocUnsafe(SCRATCH_BYTES));
  private readonly startedWall = performance.now();
  private readonly startedAt = new Date();
  private readonly log: Logger;
  private readonly stats: CallStats;
  private readonly transcript: TranscriptLine[] = [];
  private readonly latencyObserver: TurnLatencyObserver;
  private call: CallContext | undefined;
  private callIds: CallIds = {};
  private bridge: AgentBridge | undefined;
  private playback: Playback | undefined;
  private recorder: RecorderSlot | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  /** Why the call ended, once end() chose it. */
  private endReason: EndReason | undefined;
  /** Where the last `clear` cut the agent's audio, on the call clock. */
  private lastCutAtMs = 0;
  private held: HeldFrame[] = [];
  private lastSequence = 0;
  private readonly clock: CallClock;
  private endPromise: Promise<CallSummary> | undefined;
  private readonly ending: CallEnding;
  /** This call, for the process-level fault guard: its ids, and how to end it after a fault. */
  private readonly scope: FaultScope = { ids: () => this.ids(), fault: (err) => this.fault(err) };
  private resolveEnded!: (summary: CallSummary) => void;
  /** Resolves with the summary once the call has ended, whoever ended it. */
  readonly ended = new Promise<CallSummary>((resolve) => (this.resolveEnded = resolve));

  constructor(
    private readonly socket: MediaSocket,
    private readonly deps: CallSessionDeps,
  ) {
    this.log = deps.logger.child({ session: this.sessionId });
    this.latencyObserver = new TurnLatencyObserver(deps.vad);
    this.ending = new CallEnding(
      {
        isLive: () => this.state === 'live',
        callSid: () => this.call!.callSid,
        ids: () => this.ids(),
        waitForPlayout: () => this.playback?.waitForPlayout() ?? Promise.resolve('heard'),
        end: (reason, detail) => this.end(reason, detail),
      },
      { telephony: deps.telephony, log: this.log, telemetry: deps.telemetry, playoutTimeoutMs: deps.goodbyeTimeoutMs ?? DEFAULT_PLAYOUT_TIMEOUT_MS },
    );
    this.clock = new CallClock({
      startedWall: this.startedWall,
      maxLeadMs: deps.maxMediaLeadMs,
      padSilence: (frame, atMs) => {
        this.stats.framesPadded++;
        this.bridge?.pushCallerAudio(frame, atMs);
      },
    });
    this.stats = { framesIn: 0, framesPadded: 0, badFrames: {}, sequenceGaps: 0, playback: { framesSent: 0, marksSent: 0, staleMarks: 0, clears: 0, droppedBytes: 0 } };
    this.startTimer = inCallScope(this.scope, () =>
      setTimeout(() => void this.end('start_timeout', this.state === 'admitting' ? 'no admission verdict' : 'no start event'), deps.streamStartTimeoutS * 1000),
    );
    this.startTimer.unref();
  }

  get context(): CallContext | undefined {
    return this.call;
  }

  get isEnded(): boolean {
    return this.state === 'ended';
  }

  /** What the call has counted so far (its playback's counts included), read by /metrics at scrape time. */
  get counters(): Readonly<CallStats> {
    return this.stats;
  }

  /** Call time in ms (see CallClock). */
  nowMs(): number {
    return this.clock.now();
  }

  /** Milliseconds since the last caller media frame, or since the stream opened before the first. */
  mediaIdleMs(): number {
    return this.clock.idleMs();
  }

  /**
   * One WebSocket message from Twilio. An exception in handling it ends this call only. Until the
   * stream starts, handling runs in the call's fault scope, so what `start` sets going (the agent,
   * the recorder, their timers and sockets) is attributed to this call.
   */
  handleMessage(data: Buffer | string, isBinary: boolean): void {
    try {
      if (this.state === 'admitting') this.hold(data, isBinary);
      else if (this.state === 'awaiting_start') inCallScope(this.scope, () => this.dispatch(data, isBinary));
      else this.dispatch(data, isBinary);
    } catch (err) {
      this.log.error('a frame from Twilio could not be handled; ending the call', { ...this.ids(), error: (err as Error).message });
      this.fault(err);
    }
  }

  /** Bad input is counted and skipped; the call goes on. */
  private dispatch(data: Buffer | string, isBinary: boolean): void {
    if (this.state === 'ended') return;
    if (isBinary) return this.badFrame('binary_frame', 'binary frames are not part of the protocol');
    if (data.length > MAX_INBOUND_FRAME_BYTES) return this.badFrame('frame_too_large', `${data.length} bytes`);
    const parsed = this.inbound.parse(data);
    if (!parsed.ok) return this.badFrame(parsed.error.kind, parsed.error.detail);
    const event = parsed.event;
    if (event.type === 'connected') return;
    if (event.type === 'start') return this.onStart(event);
    if (this.state !== 'live') return this.badFrame('media_before_start', `${event.type} before start`);
    if (event.streamSid !== this.call!.streamSid) return this.badFrame('wrong_stream_sid', `streamSid ${event.streamSid.slice(0, 40)}`);
    this.trackSequence(event.sequenceNumber);
    switch (event.type) {
      case 'media':
        return this.onMedia(event);
      case 'mark':
        this.deps.telemetry.record('media_stream', 'media_mark_received', this.ids());
        return this.playback!.onMark(event.name);
      case 'dtmf':
        return this.onDtmf(event.digit);
      case 'stop':
        void this.end('twilio_stop');
    }
  }

  handleSocketClosed(code: number): void {
    if (this.state !== 'ended') void this.end('socket_closed', `code ${code}`);
  }

  /** An unexpected exception in this call's code, already logged by whoever caught it: the call ends. */
  private fault(err: unknown): void {
    if (this.endPromise) return;
    void this.end('internal_error', toError(err).message);
  }

  /**
   * Ends the call once: closes the agent, finalizes the recording, closes the socket, reports.
   * After our own hang-up or transfer, Twilio's `stop` or the socket closing keeps our reason.
   */
  end(reason: EndReason, detail?: string): Promise<CallSummary> {
    if (!this.endPromise) {
      const chosen = this.ending.reasonFor(reason, detail);
      this.endReason = chosen.reason;
      // Whatever throws while ending, the call still ends: the summary goes out and the socket closes.
      this.endPromise = inCallScope(this.scope, () => this.finish(chosen.reason, chosen.detail)).catch((err: Error) => {
        this.log.error('ending the call failed; reporting it as ended', { ...this.ids(), error: err.message });
        return this.report(chosen.reason, chosen.detail, undefined, false);
      });
    }
    return this.endPromise;
  }

  private onStart(event: StartEvent): void {
    if (this.state !== 'awaiting_start') return this.badFrame('duplicate_start', 'second start event');
    const params = event.customParameters;
    const taskId = params.taskId || params.task_id || undefined;
    const callId = params.callId || undefined;
    // Named from here on: a refused or abandoned stream's logs still say which call it was.
    this.callIds = { callSid: event.callSid, streamSid: event.streamSid, ...(taskId && { taskId }) };
    const verdict = this.deps.admit?.({ callSid: event.callSid, streamSid: event.streamSid, taskId, ...(callId && { callId }) }) ?? ADMITTED;
    if (!(verdict instanceof Promise)) return this.onVerdict(event, taskId, verdict);
    // The start timer keeps running: it bounds the wait for the verdict too.
    this.state = 'admitting';
    verdict
      .catch((err: unknown) => refused(`admission failed: ${toError(err).message}`))
      .then((answer) => {
        try {
          this.onVerdict(event, taskId, answer);
        } catch (err) {
          this.log.error('the call could not start; ending it', { ...this.ids(), error: (err as Error).message });
          this.fault(err);
        }
      });
  }

  /** Builds the call once admitted, then plays the frames held meanwhile into it, in order. */
  private onVerdict(event: StartEvent, taskId: string | undefined, verdict: Admission): void {
    // A socket close or the start timeout ended the stream while admission was pending.
    if (this.state === 'ended') {
      this.held = [];
      if (verdict.ok && verdict.callId !== undefined) this.notify('abandoned', (h) => h.abandoned?.(verdict.callId!, this.endReason ?? 'socket_closed'));
      return;
    }
    clearTimeout(this.startTimer);
    if (!verdict.ok) {
      // No call context: the refused stream's end names no task, so no task hears of it.
      this.held = [];
      this.log.warn('refused a media stream', { ...this.callIds, reason: verdict.reason });
      void this.end('stream_refused', verdict.reason);
      return;
    }
    const params = event.customParameters;
    const injected = taskId ? this.lookUpOverrides(taskId) : undefined;
    this.call = {
      // A call created before it streamed (a browser's) keeps its id; any other is new.
      callId: verdict.callId ?? this.sessionId,
      streamSid: event.streamSid,
      callSid: event.callSid,
      parameters: params,
      taskId,
      prompt: injected?.prompt || verdict.overrides?.prompt || params.prompt || undefined,
      greeting: injected?.greeting || verdict.overrides?.greeting || params.greeting || undefined,
    };
    this.callIds = { callSid: event.callSid, streamSid: event.streamSid, taskId: this.call.taskId };
    this.lastSequence = event.sequenceNumber;
    this.state = 'live';
    this.log.info('media stream started', { ...this.ids(), from: maskPhone(params.from), to: maskPhone(params.to), tracks: event.tracks.join(',') });
    this.deps.telemetry.record('media_stream', 'start', this.ids());
    if (!isSupportedMediaFormat(event.mediaFormat)) {
      const f = event.mediaFormat;
      void this.end('unsupported_media_format', `${f.encoding} ${f.sampleRate} Hz ${f.channels} ch`);
      return;
    }
    this.recorder = new RecorderSlot(
      {
        dir: this.deps.recordingsDir,
        name: recordingName(this.startedAt, this.call),
        maxCallerGapMs: maxCallerGapMs(this.deps),
        onBlockSaved: (bytes, writeMs) => this.deps.telemetry.record('recorder', 'save_audio_chunk', { ...this.ids(), durationMs: writeMs, bytes }),
      },
      this.log,
      this.ids(),
    );
    const frames = outboundFrames(event.streamSid);
    this.playback = new Playback(frames, (text) => this.sendToTwilio(text), () => this.nowMs(), {
      scheduled: (audio, atMs) => this.recorder!.agentAudio(audio, atMs),
      cut: (atMs) => {
        this.lastCutAtMs = atMs;
        this.recorder!.cutAgentFrom(atMs);
      },
      utteranceStarted: (_id, sentAtMs, playsAtMs) => this.onAgentAudioStarted(sentAtMs, playsAtMs),
      played: (played) => this.onUtterancePlayed(played),
      markEchoed: (ms) => this.deps.metrics?.markRoundTrip(ms / 1000),
    });
    // Live counts, read at scrape time; the summary keeps a copy of them at the end.
    this.stats.playback = this.playback.stats;
    this.notify('started', (h) => h.started?.(this.call!));
    this.startBridge(this.call);
    this.replayHeld();
  }

  /** While admission is pending. */
  private hold(data: Buffer | string, isBinary: boolean): void {
    if (this.held.length < MAX_HELD_FRAMES) this.held.push({ data, isBinary });
    else this.badFrame('held_overflow', `over ${MAX_HELD_FRAMES} frames arrived before the stream was admitted`);
  }

  private replayHeld(): void {
    const held = this.held;
    this.held = [];
    for (const frame of held) this.handleMessage(frame.data, frame.isBinary);
  }

  /** Overrides a gateway's embedder injects; the task's own come with the admission verdict. */
  private lookUpOverrides(taskId: string): CallOverrides | undefined {
    try {
      return this.deps.callOverrides?.(taskId);
    } catch (err) {
      this.log.error('could not look up the overrides for this call; using the task\'s or the default prompt', { taskId, error: (err as Error).message });
      return undefined;
    }
  }

  private startBridge(call: CallContext): void {
    try {
      this.bridge = this.deps.agentFactory(call, this.sink());
    } catch (err) {
      void this.end('agent_error', (err as Error).message);
      return;
    }
    const started = performance.now();
    // A call that ended while its agent connected hears nothing more of it, nor logs for it.
    this.bridge.start().then(
      () => this.state === 'live' && this.onAgentConnected(performance.now() - started),
      (err: Error) => {
        if (this.state !== 'live') return;
        this.log.error('agent failed to start', { ...this.ids(), error: err.message });
        void this.ending.finishAfterPlayback('agent_error', err.message);
      },
    );
  }

  private onAgentConnected(ms: number): void {
    const agent = this.bridge!.kind;
    this.deps.telemetry.record('agent', 'connect', { ...this.ids(), durationMs: ms, agent });
    this.deps.metrics?.agentConnected(agent, ms / 1000);
  }

  private onMedia(event: MediaEvent): void {
    if (event.track !== 'inbound') return;
    const verdict = this.clock.callerFrame(event.timestampMs, event.audio.length);
    if (verdict !== 'placed') return this.badFrame(verdict, `timestamp ${event.timestampMs} at call time ${Math.round(this.nowMs())}`);
    this.stats.framesIn++;
    this.recorder!.callerAudio(event.audio, event.timestampMs);
    this.latencyObserver.callerFrame(event.audio, event.timestampMs);
    this.bridge?.pushCallerAudio(event.audio, event.timestampMs);
    this.deps.telemetry.record('media_stream', 'media_event', this.ids());
  }

  /** Callers key in PINs and card numbers: logs and telemetry say a digit was pressed, not which, unless asked to. */
  private onDtmf(digit: string): void {
    const shown = this.deps.logDtmfDigits ? { digit } : undefined;
    this.log.info('dtmf', { ...this.ids(), ...shown });
    this.deps.telemetry.record('media_stream', 'dtmf', { ...this.ids(), ...shown });
    this.bridge?.pushDtmf(digit);
    const atMs = onRecordingAxis(this.nowMs());
    this.notify('dtmf', (h) => h.dtmf?.(this.call!, digit, atMs));
  }

  private trackSequence(sequence: number): void {
    if (sequence !== this.lastSequence + 1) this.stats.sequenceGaps++;
    this.lastSequence = sequence;
  }

  private sink(): AgentSink {
    return {
      audio: (chunk) => this.state === 'live' && this.playback!.push(chunk),
      turnStarted: () => this.playback?.beginTurn(),
      utteranceDone: () => this.playback?.endUtterance(),
      bargeIn: (signalledAt) => this.onBargeIn(signalledAt),
      reconnecting: () => void (this.bridge && this.deps.metrics?.agentReconnecting(this.bridge.kind)),
      transcript: (line) => this.addTranscript({ ...line, atMs: line.atMs ?? Math.round(this.nowMs()) }),
      latency: (metric, ms, extra) => this.onLatency(metric, ms, extra),
      action: (action) => void this.ending.onAction(action),
      error: (err, fatal) => this.onAgentError(err, fatal),
    };
  }

  private onBargeIn(signalledAt = epochMs()): void {
    if (this.state !== 'live') return;
    const signalAtMs = this.nowMs();
    const clearsBefore = this.playback!.stats.clears;
    this.playback!.interrupt();
    if (this.playback!.stats.clears === clearsBefore) return;
    this.deps.metrics?.bargeInStopped(Math.max(0, epochMs() - signalledAt) / 1000);
    this.deps.telemetry.record('playback', 'barge_in', this.ids());
    const bargeIn: BargeInTiming = {
      callerStartedAtMs: onRecordingAxis(this.latencyObserver.callerSpeechStartedAtMs() ?? signalAtMs),
      signalAtMs: onRecordingAxis(signalAtMs),
      cutAtMs: onRecordingAxis(this.lastCutAtMs),
    };
    this.notify('bargeIn', (h) => h.bargeIn?.(this.call!, bargeIn));
  }

  private onAgentAudioStarted(sentAtMs: number, playsAtMs: number): void {
    const answer = this.latencyObserver.answer(sentAtMs);
    if (answer === undefined) return;
    this.onLatency('turn_latency', answer.latencyMs);
    const userStoppedAtMs = onRecordingAxis(answer.userStoppedAtMs);
    const agentStartedAtMs = onRecordingAxis(playsAtMs);
    const turn: TurnTiming = { userStoppedAtMs, agentStartedAtMs, latencyMs: agentStartedAtMs - userStoppedAtMs };
    this.notify('turn', (h) => h.turn?.(this.call!, turn));
  }

  private onUtterancePlayed(played: UtterancePlayed): void {
    this.deps.telemetry.record('playback', played.interrupted ? 'utterance_interrupted' : 'utterance_played', {
      ...this.ids(),
      durationMs: played.playedMs,
      total_ms: played.totalMs,
    });
    this.bridge?.utterancePlayed(played);
  }

  private onLatency(metric: string, ms: number, extra?: Record<string, unknown>): void {
    this.deps.telemetry.record('agent', metric, { ...this.ids(), ...extra, durationMs: ms });
    if (metric === 'turn_latency' && this.bridge) this.deps.metrics?.turnLatency(this.bridge.kind, ms / 1000);
    if (this.call) this.notify('latency', (h) => h.latency?.(this.call!, metric, ms));
  }

  private addTranscript(line: TranscriptLine): void {
    this.transcript.push(line);
    if (this.call) this.notify('transcript', (h) => h.transcript?.(this.call!, line));
  }

  private onAgentError(err: Error, fatal: boolean): void {
    if (this.call) {
      const report = { atMs: onRecordingAxis(this.nowMs()), message: err.message, fatal };
      this.notify('agentError', (h) => h.agentError?.(this.call!, report));
    }
    if (!fatal) {
      this.log.warn('agent warning', { ...this.ids(), error: err.message });
      return;
    }
    this.log.error('agent error; ending the call', { ...this.ids(), error: err.message });
    void this.ending.finishAfterPlayback('agent_error', err.message);
  }

  /** Listeners (task service, live bus) are told what happened; a failing one never breaks the call. */
  private notify(hook: keyof CallHooks, call: (hooks: CallHooks) => void): void {
    const hooks = this.deps.hooks;
    if (!hooks) return;
    try {
      call(hooks);
    } catch (err) {
      this.log.error('a call listener failed', { ...this.ids(), hook, error: (err as Error).message });
    }
  }

  private sendToTwilio(text: string): void {
    if (this.socket.isOpen) this.socket.send(text);
  }

  private badFrame(kind: BadFrameKind, detail: string): void {
    const count = (this.stats.badFrames[kind] ?? 0) + 1;
    this.stats.badFrames[kind] = count;
    if (count === 1 || count % this.deps.logEveryN === 0) {
      this.log.warn('skipped a bad frame from Twilio', { ...this.ids(), kind, detail, count });
    }
    this.deps.telemetry.record('media_stream', 'bad_frame', { ...this.ids(), kind });
  }

  /** The call's ids for logs and telemetry; one object per call, so per-frame events allocate nothing. */
  private ids(): CallIds {
    return this.callIds;
  }

  private async finish(reason: EndReason, detail: string | undefined): Promise<CallSummary> {
    const wasLive = this.state === 'live';
    this.state = 'ended';
    clearTimeout(this.startTimer);
    const endMs = this.nowMs();
    this.playback?.stop();
    // A bridge that throws (even synchronously) on close must not cost the call its recording.
    await Promise.resolve()
      .then(() => this.bridge?.close(reason))
      .catch((err: Error) => this.log.error('the agent did not close cleanly', { ...this.ids(), error: err.message }));
    const recording = await this.recorder?.finalize(endMs).catch((err: Error) => {
      this.log.error('recording could not be finalized', { ...this.ids(), error: err.message });
      this.deps.metrics?.recordingFailed();
      return undefined;
    });
    return this.report(reason, detail, recording, wasLive);
  }

  /** The last step of every end: close the socket, then log, record and announce the summary once. */
  private report(reason: EndReason, detail: string | undefined, recording: RecordingInfo | undefined, wasLive: boolean): CallSummary {
    this.state = 'ended';
    try {
      if (this.socket.isOpen) this.socket.close(reason === 'start_timeout' ? 1008 : 1000, reason);
    } catch (err) {
      this.log.error('the media socket could not be closed', { ...this.ids(), error: (err as Error).message });
    }
    if (this.playback) this.stats.playback = { ...this.playback.stats };
    const summary = summarizeCall(this.record(), { reason, detail, recording });
    reportCallEnd(summary, wasLive, this.ids(), { log: this.log, telemetry: this.deps.telemetry });
    this.deps.metrics?.callEnded(summary, this.bridge?.kind);
    this.resolveEnded(summary);
    this.notify('ended', (h) => h.ended?.(summary));
    return summary;
  }

  /** What the summary is built from. */
  private record(): CallRecord {
    const { sessionId, call, startedAt, startedWall, transcript, stats } = this;
    return { sessionId, call, startedAt, startedWall, transcript, stats };
  }
}

/**
 * The longest silence the recorder may pad before a caller frame. Past the media idle timeout the
 * call would have ended, and the clock refuses frames that lead the wall clock by more than the
 * lead: a larger gap cannot come from a live stream.
 */
function maxCallerGapMs(deps: CallSessionDeps): number {
  return (deps.maxMediaLeadMs ?? DEFAULT_MAX_MEDIA_LEAD_MS) + (deps.mediaIdleTimeoutS ?? DEFAULT_MEDIA_IDLE_TIMEOUT_S) * 1000;
}
