// A call's clock, driven by the caller's media timestamps. Twilio stamps each frame with its time
// since the stream started and sends one every 20 ms, even in silence, so the timestamps are the
// call's time; between frames the wall clock carries it on. The clock also judges each caller
// frame against that time: one stamped before the last is stale; one whose gap would make the
// call's missing audio, added up, run further ahead of the wall clock than a few seconds is a jump
// (a forged or corrupt frame that would otherwise be padded into hours of silence); a gap of a few
// missing frames is filled with silence for the agent. Only gaps count against the wall clock, not
// the audio itself: a simulator streaming faster than real time sends no gaps and is never refused.
import { performance } from 'node:perf_hooks';
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE, SAMPLE_RATE } from '../twilio/protocol.js';

/**
 * How far the caller's missing audio (the gaps between frame timestamps, added up over the call)
 * may run ahead of the wall clock since the stream opened. Frames Twilio never delivered cannot
 * add up to more time than has passed, give or take network jitter.
 */
export const DEFAULT_MAX_MEDIA_LEAD_MS = 5000;
/** Longest run of missing caller frames replaced with silence for the agent (the recorder pads on its own). */
const MAX_PAD_FRAMES = 50;
const SILENCE_FRAME = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);

/**
 * A call time as the recording places it: on its sample grid (1/8 ms at 8 kHz), rounded the way
 * the recorder rounds. A position reported so lies on exactly the sample the WAV holds it at.
 */
export function onRecordingAxis(atMs: number): number {
  return Math.round((atMs * SAMPLE_RATE) / 1000) / (SAMPLE_RATE / 1000);
}

/** What the clock made of a caller frame: placed on the clock, or why it was not. */
export type CallerFrameVerdict = 'placed' | 'stale_media' | 'timestamp_jump';

export interface CallClockOptions {
  /** performance.now() when the stream opened: call time 0 on the wall clock. */
  startedWall: number;
  maxLeadMs?: number;
  /** Receives each silence frame standing in for a missing caller frame, at its call time. */
  padSilence: (frame: Buffer, atMs: number) => void;
}

export class CallClock {
  private readonly startedWall: number;
  private readonly maxLeadMs: number;
  private readonly padSilence: CallClockOptions['padSilence'];
  private hasMedia = false;
  /** End of the newest caller frame on the call clock, and the wall time it arrived. */
  private mediaEndMs = 0;
  private mediaWall = 0;
  /** The furthest time handed out: the clock never runs backwards. */
  private clockMs = 0;
  /** Call time covered by no caller frame so far (before the first, and in every gap). */
  private missingMs = 0;

  constructor(options: CallClockOptions) {
    this.startedWall = options.startedWall;
    this.maxLeadMs = options.maxLeadMs ?? DEFAULT_MAX_MEDIA_LEAD_MS;
    this.padSilence = options.padSilence;
  }

  /** Call time in ms: driven by caller media timestamps, carried on by the wall clock between frames. */
  now(): number {
    const base = this.hasMedia ? this.mediaWall : this.startedWall;
    const now = this.mediaEndMs + (performance.now() - base);
    if (now > this.clockMs) this.clockMs = now;
    return this.clockMs;
  }

  /** Wall milliseconds since the newest caller frame arrived, or since the stream opened before the first. */
  idleMs(): number {
    return performance.now() - (this.hasMedia ? this.mediaWall : this.startedWall);
  }

  /**
   * Judges a caller frame of `bytes` mu-law samples stamped `timestampMs`. When it is placed, the
   * clock moves to its end and the frames missing before it (up to a bound) were padded.
   */
  callerFrame(timestampMs: number, bytes: number): CallerFrameVerdict {
    const wall = performance.now();
    if (this.hasMedia && timestampMs < this.mediaEndMs - FRAME_MS / 2) return 'stale_media';
    const gapMs = Math.max(0, timestampMs - this.mediaEndMs);
    if (this.missingMs + gapMs > wall - this.startedWall + this.maxLeadMs) return 'timestamp_jump';
    this.missingMs += gapMs;
    if (this.hasMedia) this.padMissingFrames(gapMs);
    this.hasMedia = true;
    this.mediaEndMs = timestampMs + (bytes / FRAME_BYTES) * FRAME_MS;
    this.mediaWall = wall;
    return 'placed';
  }

  /** Frames Twilio never delivered become silence for the agent, so its clock stays in step. */
  private padMissingFrames(gapMs: number): void {
    const missing = Math.min(MAX_PAD_FRAMES, Math.floor((gapMs + FRAME_MS / 2) / FRAME_MS));
    for (let i = 0; i < missing; i++) this.padSilence(SILENCE_FRAME, this.mediaEndMs + i * FRAME_MS);
  }
}
