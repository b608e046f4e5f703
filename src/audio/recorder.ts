// Per-call streaming recorder: a stereo 8 kHz PCM16 WAV (left caller, right agent) on the call's
// clock. Memory holds only the unflushed span of each channel, as mu-law in a reusable lane
// (mulaw-lane.ts). The caller's furthest end is the "settled" position (Twilio only sends a caller
// frame once that time has passed). Flushes trail it by a small late margin, so a slightly
// reordered caller frame, or agent audio stamped a little behind the caller clock, still lands in
// place; each time that trailing point is flushEveryMs past the last flush, the span is decoded,
// interleaved and appended. Agent audio arrives ahead of time and waits in its lane until the
// caller clock reaches it. The file always has a valid header layout with zero sizes until
// finalize, so a killed process leaves a `.wav.part` that recovery can repair; an owner record
// beside it (part-owner.ts) tells recovery whether its writer is still alive.
//
// A failed write (a full disk, an I/O error) never stops the call: it is reported once, at once,
// through onWriteError; later blocks are still attempted (a disk that recovers leaves a silent gap,
// not a shifted call) and failures are counted. Finalize then seals the header to the bytes that
// actually reached the disk, so what was written stays a valid WAV under the call's name.
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FRAME_BYTES, SAMPLE_RATE } from '../twilio/protocol.js';
import { toError } from '../util/errors.js';
import { MIX_BLOCKS } from './mix-blocks.js';
import { MulawLane } from './mulaw-lane.js';
import { claimPart, releasePart } from './part-owner.js';
import { MAX_WAV_DATA_BYTES, STEREO_FRAME_BYTES, WAV_HEADER_BYTES, wavHeader } from './wav-header.js';
import { sealRecording } from './wav-seal.js';

export interface RecordingInfo {
  path: string;
  durationMs: number;
  /** Size of the finished file, header included. */
  bytes: number;
  droppedLateCallerFrames: number;
  /** Blocks that could not be written (the file holds silence, or ends, where they belonged). */
  failedWrites: number;
  /** Caller frames stamped so far past the caller's end that placing them would pad more than maxCallerGapMs. */
  droppedJumpCallerFrames: number;
}

export interface CallRecorderOptions {
  dir: string;
  /** File stem; must match /^[A-Za-z0-9._-]{1,128}$/ (never trusted as a path). */
  name: string;
  /** How much settled caller time to gather before appending to the file. Default 1000. */
  flushEveryMs?: number;
  /**
   * The longest silence a caller frame may pad past the caller's end (default 5000 ms). A frame
   * stamped further ahead (a corrupt or forged timestamp) is dropped and counted: a single frame
   * could otherwise make the file hours long.
   */
  maxCallerGapMs?: number;
  /** Told after each block reaches the disk: its size and how long the write took (telemetry). */
  onBlockSaved?: (bytes: number, writeMs: number) => void;
  /** Told once, at the first failed write, with its error; later failures are only counted. */
  onWriteError?: (error: Error) => void;
  /** Creates the part file (exclusively); a seam for tests that simulate a failing disk. */
  openPart?: (partPath: string) => Promise<FileHandle>;
}

const openExclusive = (partPath: string): Promise<FileHandle> => open(partPath, 'wx');

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
const DEFAULT_FLUSH_EVERY_MS = 1000;
const DEFAULT_MAX_CALLER_GAP_MS = 5000;
/** Bounds the caller window allocation (flushEveryMs worth of samples). */
const MAX_FLUSH_EVERY_MS = 60_000;
const SAMPLES_PER_MS = SAMPLE_RATE / 1000;
/** How far flushes trail the settled position: input later than this behind it can no longer be placed. */
const LATE_MARGIN_SAMPLES = 200 * SAMPLES_PER_MS;
/** The furthest sample a WAV can hold; input beyond it (a corrupt timestamp) is ignored. */
const MAX_SAMPLES = MAX_WAV_DATA_BYTES / STEREO_FRAME_BYTES;
/** Largest span one write carries; long gaps and agent tails go out in several blocks. */
const MAX_BLOCK_SAMPLES = 4 * SAMPLE_RATE;
/** Shared, never written to: blocks with nothing on either channel cost no allocation. */
const SILENCE_BLOCK = Buffer.alloc(MAX_BLOCK_SAMPLES * STEREO_FRAME_BYTES);

/** Agent audio queued further ahead of the flushed position than this is not recorded (a bound on lane memory). */
const MAX_AGENT_AHEAD_SAMPLES = 10 * 60 * SAMPLE_RATE;

/** Call time in ms → sample index; undefined for times no recording can hold. */
function sampleAt(atMs: number): number | undefined {
  if (!Number.isFinite(atMs) || atMs < 0) return undefined;
  const sample = Math.round(atMs * SAMPLES_PER_MS);
  return sample <= MAX_SAMPLES ? sample : undefined;
}

/** FileHandle.write may write less than asked; loop until the whole buffer is on disk. */
async function writeFully(file: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`short write at byte ${position + done}`);
    done += bytesWritten;
  }
}

export class CallRecorder {
  /** Caller mu-law from the flushed position; its end is the settled position. */
  private readonly caller: MulawLane;
  /** Agent mu-law from the flushed position, usually reaching ahead of the caller. */
  private readonly agent: MulawLane;
  private readonly blockCapacity: number;
  /** Samples already handed to the file (both channels); the file's data length once writes land. */
  private flushedUpTo = 0;
  private droppedLate = 0;
  private droppedJumps = 0;
  /** Appends run one at a time, in order; this promise never rejects (failures are counted). */
  private writes: Promise<void> = Promise.resolve();
  /** Appends that failed; the first one was reported through onWriteError. */
  private failedWrites = 0;
  private finalizing: Promise<RecordingInfo> | undefined;

  private constructor(
    private readonly file: FileHandle,
    readonly partPath: string,
    readonly finalPath: string,
    private readonly flushSamples: number,
    private readonly maxCallerGapSamples: number,
    private readonly onBlockSaved: CallRecorderOptions['onBlockSaved'],
    private readonly onWriteError: CallRecorderOptions['onWriteError'],
  ) {
    // A flush window, the late margin and one frame: the caller lane never grows for 20 ms frames.
    this.blockCapacity = flushSamples + LATE_MARGIN_SAMPLES + FRAME_BYTES;
    this.caller = new MulawLane(this.blockCapacity);
    this.agent = new MulawLane(this.blockCapacity);
  }

  static async open(opts: CallRecorderOptions): Promise<CallRecorder> {
    const { dir, name } = opts;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      throw new Error(`invalid recording name ${JSON.stringify(String(name).slice(0, 40))}: use 1-128 of A-Z a-z 0-9 . _ -`);
    }
    const flushEveryMs = opts.flushEveryMs ?? DEFAULT_FLUSH_EVERY_MS;
    if (!Number.isFinite(flushEveryMs) || flushEveryMs <= 0 || flushEveryMs > MAX_FLUSH_EVERY_MS) {
      throw new RangeError(`flushEveryMs must be in (0, ${MAX_FLUSH_EVERY_MS}], got ${flushEveryMs}`);
    }
    const maxCallerGapMs = opts.maxCallerGapMs ?? DEFAULT_MAX_CALLER_GAP_MS;
    if (!Number.isFinite(maxCallerGapMs) || maxCallerGapMs < 0) throw new RangeError(`maxCallerGapMs must be a number >= 0, got ${maxCallerGapMs}`);
    await mkdir(dir, { recursive: true });
    const partPath = path.join(dir, `${name}.wav.part`);
    // The owner record first: a part file without one is never a live recorder's.
    await claimPart(partPath);
    let file: FileHandle;
    try {
      // 'wx': never share a part file with another live recorder or clobber one awaiting recovery.
      file = await (opts.openPart ?? openExclusive)(partPath);
    } catch (err) {
      await releasePart(partPath).catch(() => undefined);
      throw err;
    }
    try {
      await writeFully(file, wavHeader(0), 0);
    } catch (err) {
      await file.close().catch(() => undefined);
      await unlink(partPath).catch(() => undefined);
      await releasePart(partPath).catch(() => undefined);
      throw err;
    }
    const flushSamples = Math.max(1, Math.round(flushEveryMs * SAMPLES_PER_MS));
    const maxCallerGapSamples = Math.round(maxCallerGapMs * SAMPLES_PER_MS);
    return new CallRecorder(file, partPath, path.join(dir, `${name}.wav`), flushSamples, maxCallerGapSamples, opts.onBlockSaved, opts.onWriteError);
  }

  /** Samples of lane memory in use for the unflushed audio of both channels (for tests and diagnostics). */
  get pendingSamples(): number {
    return this.caller.capacity + this.agent.capacity;
  }

  /** Caller mu-law whose first sample plays at call time atMs. Copied at once: `mulaw` may be reused. */
  callerAudio(mulaw: Buffer, atMs: number): void {
    const at = sampleAt(atMs);
    if (this.finalizing || at === undefined || mulaw.length === 0) return;
    const end = at + mulaw.length;
    if (end > MAX_SAMPLES) return;
    if (at - this.caller.end > this.maxCallerGapSamples) {
      this.droppedJumps++;
      return;
    }
    let start = at;
    if (start < this.flushedUpTo) {
      // The file already holds this span: count the frame, keep any unflushed tail of it.
      this.droppedLate++;
      if (end <= this.flushedUpTo) return;
      start = this.flushedUpTo;
    }
    // Flush before placing, so the lane holds at most a flush span plus the margin. After
    // missing frames the gap is written out here (as silence) rather than growing the lane.
    const target = Math.max(this.caller.end, end) - LATE_MARGIN_SAMPLES;
    if (target - this.flushedUpTo >= this.flushSamples) this.flushTo(Math.min(target, start));
    this.caller.write(mulaw, at, start - at);
  }

  /**
   * Agent mu-law as Twilio will play it, first sample at atMs (usually ahead of the caller).
   * Copied. Any part before the flushed position (over 200 ms behind the caller) is dropped.
   */
  agentAudio(mulaw: Buffer, atMs: number): void {
    const at = sampleAt(atMs);
    if (this.finalizing || at === undefined || at + mulaw.length > MAX_SAMPLES) return;
    if (at + mulaw.length - this.flushedUpTo > MAX_AGENT_AHEAD_SAMPLES) return;
    const skip = Math.max(0, this.flushedUpTo - at);
    if (skip >= mulaw.length) return;
    this.agent.write(mulaw, at, skip);
  }

  /**
   * Barge-in: drops agent audio queued so far at or after atMs, trimming a chunk that straddles it.
   * Audio queued later (the next turn) is kept. Audio already flushed cannot be cut.
   */
  cutAgentFrom(atMs: number): void {
    const cut = sampleAt(atMs);
    if (this.finalizing || cut === undefined) return;
    this.agent.truncate(cut);
  }

  /**
   * Writes everything up to endAtMs (default: the later of caller end and agent end), seals the
   * header and renames the part file. Idempotent. After failed writes the header is sealed to what
   * reached the disk (`failedWrites` says how many blocks are missing); it rejects only when even
   * that fails, leaving the `.wav.part` in place for recovery. An invalid endAtMs (negative, NaN)
   * means the default.
   */
  finalize(endAtMs?: number): Promise<RecordingInfo> {
    this.finalizing ??= this.finish(endAtMs === undefined ? undefined : sampleAt(endAtMs));
    return this.finalizing;
  }

  private async finish(endSample: number | undefined): Promise<RecordingInfo> {
    const end = endSample ?? Math.max(this.caller.end, this.agent.end, this.flushedUpTo);
    const written = this.flushedUpTo;
    if (end > written) this.flushTo(end);
    // Nothing more will be mixed: let the lanes go even if the session keeps us around.
    this.caller.release();
    this.agent.release();
    await this.writes;
    let dataBytes = end * STEREO_FRAME_BYTES;
    try {
      if (this.failedWrites > 0) throw new Error('some blocks were not written');
      // An end before what was already flushed: cut the file back to it.
      if (end < written) await this.file.truncate(WAV_HEADER_BYTES + dataBytes);
      await writeFully(this.file, wavHeader(dataBytes), 0);
      await this.file.close();
    } catch {
      // The handle may be what failed: seal the file by its path to what is really on disk.
      await this.file.close().catch(() => undefined);
      const sealed = await sealRecording(this.partPath, dataBytes);
      if (sealed === undefined) throw new Error(`${this.partPath} no longer holds a recording header`);
      dataBytes = sealed;
    }
    await rename(this.partPath, this.finalPath);
    await releasePart(this.partPath).catch(() => undefined);
    return {
      path: this.finalPath,
      durationMs: dataBytes / STEREO_FRAME_BYTES / SAMPLES_PER_MS,
      bytes: WAV_HEADER_BYTES + dataBytes,
      droppedLateCallerFrames: this.droppedLate,
      failedWrites: this.failedWrites,
      droppedJumpCallerFrames: this.droppedJumps,
    };
  }

  /** Mixes [flushedUpTo, target) and queues it for appending; both lanes then start at target. */
  private flushTo(target: number): void {
    for (let from = this.flushedUpTo; from < target; from += MAX_BLOCK_SAMPLES) {
      const to = Math.min(target, from + MAX_BLOCK_SAMPLES);
      this.append(this.mixBlock(from, to), from);
    }
    this.caller.advance(target);
    this.agent.advance(target);
    this.flushedUpTo = target;
  }

  /** Interleaved little-endian PCM16 for samples [from, to), both lanes starting at or before `from`. */
  private mixBlock(from: number, to: number): Buffer {
    if (this.caller.end <= from && this.agent.end <= from) return SILENCE_BLOCK.subarray(0, (to - from) * STEREO_FRAME_BYTES);
    const words = this.newBlock(to - from);
    MulawLane.mixStereo(this.caller, this.agent, from, to, words);
    return Buffer.from(words.buffer, words.byteOffset, words.byteLength);
  }

  /** Queues an append at the block's own offset. A failure is reported once and counted; later blocks are still tried. */
  private append(bytes: Buffer, fromSample: number): void {
    const position = WAV_HEADER_BYTES + fromSample * STEREO_FRAME_BYTES;
    this.writes = this.writes.then(async () => {
      try {
        const started = performance.now();
        await writeFully(this.file, bytes, position);
        this.onBlockSaved?.(bytes.length, performance.now() - started);
      } catch (error) {
        if (++this.failedWrites === 1) this.reportWriteError(toError(error));
      } finally {
        MIX_BLOCKS.give(bytes);
      }
    });
  }

  private reportWriteError(error: Error): void {
    try {
      this.onWriteError?.(error);
    } catch {
      // A failing listener must not break the write chain.
    }
  }

  /** A block of `samples` stereo words (the mix writes every one): from the process's pool when it fits, else a new one. */
  private newBlock(samples: number): Int32Array {
    if (samples > this.blockCapacity) return new Int32Array(samples);
    return MIX_BLOCKS.take(this.blockCapacity).subarray(0, samples);
  }
}
