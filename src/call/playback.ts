// Agent audio out to Twilio: re-chunked to whole 20 ms frames, a mark after each utterance, and
// `clear` on barge-in. Twilio plays what it is sent in order, so Playback models its buffer on
// the call clock to know what has been heard: marks confirm an utterance played in full, and at
// a barge-in the played part is the time since the utterance began playing, capped at its length.
// `waitForPlayout()` lets a hang-up or transfer wait until the caller has heard the last words.
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE, type OutboundFrames } from '../twilio/protocol.js';
import type { UtterancePlayed } from '../agents/bridge.js';

export interface PlaybackObserver {
  /** Agent audio sent to Twilio, which will play it from call time `atMs`. Copy to keep. */
  scheduled(audio: Buffer, atMs: number): void;
  /** A `clear` went out at `atMs`: nothing scheduled from then on will be heard. */
  cut(atMs: number): void;
  /** The first audio of an utterance went out at `sentAtMs`, to play from `playsAtMs` (for turn latency and the timeline). */
  utteranceStarted(utteranceId: number, sentAtMs: number, playsAtMs: number): void;
  played(result: UtterancePlayed): void;
  /** Twilio echoed a mark `roundTripMs` after it was sent. */
  markEchoed?(roundTripMs: number): void;
}

export interface PlaybackOptions {
  /** The largest media message, in 20 ms frames; small messages keep `clear` and marks fine-grained. */
  maxFramesPerMessage?: number;
}

export interface PlaybackStats {
  framesSent: number;
  marksSent: number;
  staleMarks: number;
  clears: number;
  /** Agent audio that arrived for a turn the caller had already interrupted. */
  droppedBytes: number;
}

/**
 * How a wait for playout ended: everything sent was heard (its marks echoed), a `clear` discarded
 * what was still queued, or the call stopped first.
 */
export type PlayoutResult = 'heard' | 'cleared' | 'stopped';

/** Call-time spans in which an utterance plays; usually one, more if the agent fell behind real time. */
class Utterance {
  private readonly spans: number[] = [];
  totalMs = 0;
  /** Call time its mark went out. */
  markSentAtMs = 0;
  constructor(
    readonly id: number,
    readonly markName: string,
  ) {}

  add(atMs: number, durationMs: number): void {
    const last = this.spans.length - 1;
    if (last > 0 && this.spans[last] === atMs) this.spans[last] = atMs + durationMs;
    else this.spans.push(atMs, atMs + durationMs);
    this.totalMs += durationMs;
  }

  playedBy(nowMs: number): number {
    let played = 0;
    for (let i = 0; i < this.spans.length; i += 2) {
      const start = this.spans[i]!;
      const end = this.spans[i + 1]!;
      played += Math.max(0, Math.min(nowMs, end) - start);
    }
    return played;
  }
}

export class Playback {
  private readonly out: Buffer;
  private readonly views: Buffer[] = [];
  private outLen = 0;
  private generation = 0;
  private nextUtteranceId = 1;
  /** The utterance audio is being added to; undefined between utterances. */
  private open: Utterance | undefined;
  /** Utterances sent in full whose mark Twilio has not echoed yet, by mark name. */
  private readonly awaitingMark = new Map<string, Utterance>();
  /** Call time at which everything sent so far will have played. */
  private queueEndMs = 0;
  /** After a barge-in, the interrupted turn's late audio is dropped until the next turn starts. */
  private muted = false;
  /** Waits for playout, settled by a mark echo, a clear or stop(): events, never polling. */
  private playoutWaiters: Array<(result: PlayoutResult) => void> = [];
  private stopped = false;
  readonly stats: PlaybackStats = { framesSent: 0, marksSent: 0, staleMarks: 0, clears: 0, droppedBytes: 0 };

  constructor(
    private readonly frames: OutboundFrames,
    private readonly send: (text: string) => void,
    private readonly nowMs: () => number,
    private readonly observer: PlaybackObserver,
    options: PlaybackOptions = {},
  ) {
    this.out = Buffer.alloc((options.maxFramesPerMessage ?? 10) * FRAME_BYTES);
  }

  /** True while Twilio may still be playing or about to play agent audio. */
  get isActive(): boolean {
    return this.open !== undefined || this.awaitingMark.size > 0 || this.queueEndMs > this.nowMs();
  }

  /** Nothing sent is still unheard: no utterance open, no mark waiting for its echo. */
  private get drained(): boolean {
    return this.open === undefined && this.awaitingMark.size === 0;
  }

  /**
   * Resolves once everything sent so far has been heard (every mark echoed and no utterance
   * still open), or when a `clear` discards it or the call stops. Resolves at once when idle.
   * An utterance still open must be ended (`endUtterance`) before it can count as heard.
   */
  waitForPlayout(): Promise<PlayoutResult> {
    if (this.stopped) return Promise.resolve('stopped');
    if (this.drained) return Promise.resolve('heard');
    return new Promise((resolve) => this.playoutWaiters.push(resolve));
  }

  /** The call is over: nothing more will play; pending waits resolve as `stopped`. */
  stop(): void {
    this.stopped = true;
    this.settlePlayout('stopped');
  }

  private settlePlayout(result: PlayoutResult): void {
    if (this.playoutWaiters.length === 0) return;
    const waiters = this.playoutWaiters;
    this.playoutWaiters = [];
    for (const resolve of waiters) resolve(result);
  }

  /** A new agent turn: audio is accepted again after a barge-in. */
  beginTurn(): void {
    this.muted = false;
  }

  push(audio: Buffer): void {
    if (this.muted) {
      this.stats.droppedBytes += audio.length;
      return;
    }
    this.open ??= this.newUtterance();
    let offset = 0;
    while (offset < audio.length) {
      const n = Math.min(audio.length - offset, this.out.length - this.outLen);
      audio.copy(this.out, this.outLen, offset, offset + n);
      this.outLen += n;
      offset += n;
      if (this.outLen === this.out.length) this.sendOut(this.outLen);
    }
    const whole = this.outLen - (this.outLen % FRAME_BYTES);
    if (whole > 0) this.sendOut(whole);
  }

  /** The agent finished an utterance: pad the last frame with silence and mark it. */
  endUtterance(): void {
    const utterance = this.open;
    if (!utterance) return;
    if (this.outLen > 0) {
      this.out.fill(MULAW_SILENCE, this.outLen, FRAME_BYTES);
      this.outLen = FRAME_BYTES;
      this.sendOut(FRAME_BYTES);
    }
    this.open = undefined;
    if (utterance.totalMs === 0) {
      if (this.drained) this.settlePlayout('heard');
      return;
    }
    this.awaitingMark.set(utterance.markName, utterance);
    utterance.markSentAtMs = this.nowMs();
    this.send(this.frames.mark(utterance.markName));
    this.stats.marksSent++;
  }

  /** Twilio echoed a mark: that utterance played in full. Marks of an interrupted turn are stale. */
  onMark(name: string): void {
    const utterance = this.awaitingMark.get(name);
    if (!utterance) {
      this.stats.staleMarks++;
      return;
    }
    this.awaitingMark.delete(name);
    this.observer.markEchoed?.(this.nowMs() - utterance.markSentAtMs);
    // The echo proves everything sent before the mark has played, whatever our clock says.
    if (this.awaitingMark.size === 0 && !this.open) this.queueEndMs = Math.min(this.queueEndMs, this.nowMs());
    this.observer.played({ utteranceId: utterance.id, playedMs: utterance.totalMs, totalMs: utterance.totalMs, interrupted: false });
    if (this.drained) this.settlePlayout('heard');
  }

  /**
   * Barge-in: clear Twilio's buffer, report how much of each pending utterance was heard, and
   * drop the rest of this turn until `beginTurn()`. Sends `clear` only if anything may be playing.
   */
  interrupt(): void {
    const now = this.nowMs();
    const active = this.isActive;
    this.muted = true;
    if (!active) return;
    this.generation++;
    const pending = [...this.awaitingMark.values()];
    if (this.open) pending.push(this.open);
    this.awaitingMark.clear();
    this.open = undefined;
    this.outLen = 0;
    this.queueEndMs = Math.min(this.queueEndMs, now);
    this.send(this.frames.clear());
    this.stats.clears++;
    this.observer.cut(now);
    for (const u of pending) {
      const playedMs = Math.min(u.totalMs, u.playedBy(now));
      this.observer.played({ utteranceId: u.id, playedMs, totalMs: u.totalMs, interrupted: playedMs < u.totalMs });
    }
    this.settlePlayout('cleared');
  }

  private newUtterance(): Utterance {
    const id = this.nextUtteranceId++;
    return new Utterance(id, `u${this.generation}.${id}`);
  }

  private sendOut(length: number): void {
    const utterance = this.open!;
    const chunk = this.view(length);
    const now = this.nowMs();
    const atMs = Math.max(now, this.queueEndMs);
    const durationMs = (length / FRAME_BYTES) * FRAME_MS;
    this.send(this.frames.media(chunk));
    this.observer.scheduled(chunk, atMs);
    if (utterance.totalMs === 0) this.observer.utteranceStarted(utterance.id, now, atMs);
    utterance.add(atMs, durationMs);
    this.queueEndMs = atMs + durationMs;
    this.stats.framesSent += length / FRAME_BYTES;
    if (this.outLen > length) this.out.copyWithin(0, length, this.outLen);
    this.outLen -= length;
  }

  /** The first `length` bytes of the out buffer; whole-frame views are made once, not per message. */
  private view(length: number): Buffer {
    if (length % FRAME_BYTES !== 0) return this.out.subarray(0, length);
    const frames = length / FRAME_BYTES;
    return (this.views[frames] ??= this.out.subarray(0, length));
  }
}
