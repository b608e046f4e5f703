// One channel of a recording while it is still open: mu-law samples on the call's sample axis,
// from the flushed position (`base`) onward, in one reusable buffer. Audio is placed with a byte
// copy (no per-chunk objects: at a few hundred calls, holding each 20 ms chunk as its own Buffer
// until it was mixed promoted megabytes a second into the old generation and caused collector
// pauses). Anything never written reads as mu-law silence, which decodes to 0.
import { MULAW_SILENCE } from '../twilio/protocol.js';
import { MULAW_TO_PCM16 } from './mulaw.js';

export class MulawLane {
  private bytes: Buffer;
  /** Absolute sample index of bytes[0]: everything before it has been handed on. */
  private base = 0;
  /** One past the furthest sample written (never before `base`). */
  private endSample = 0;

  constructor(initialSamples: number) {
    this.bytes = Buffer.alloc(Math.max(1, initialSamples), MULAW_SILENCE);
  }

  get start(): number {
    return this.base;
  }

  get end(): number {
    return this.endSample;
  }

  /** Samples the buffer holds room for (memory in use, in bytes). */
  get capacity(): number {
    return this.bytes.length;
  }

  /** Writes mulaw[skip..] at sample `at + skip`; `at + skip` must not be before `start`. Later writes win. */
  write(mulaw: Uint8Array, at: number, skip = 0): void {
    const from = at + skip;
    const end = at + mulaw.length;
    if (end <= from) return;
    this.ensure(end - this.base);
    this.bytes.set(skip === 0 ? mulaw : mulaw.subarray(skip), from - this.base);
    if (end > this.endSample) this.endSample = end;
  }

  /** Silences [from, end): what was queued there is dropped, and the lane ends at `from`. */
  truncate(from: number): void {
    const cut = Math.max(from, this.base);
    if (cut >= this.endSample) return;
    this.bytes.fill(MULAW_SILENCE, cut - this.base, this.endSample - this.base);
    this.endSample = cut;
  }

  /** Decodes [from, to) into every other slot of `pcm` starting at `offset` (interleaved stereo). */
  decodeInto(pcm: Int16Array, offset: number, from: number, to: number): void {
    const last = Math.min(to, this.endSample);
    const bytes = this.bytes;
    let o = offset;
    for (let i = from - this.base, n = last - this.base; i < n; i++, o += 2) pcm[o] = MULAW_TO_PCM16[bytes[i]!]!;
  }

  /** Drops everything before `to` and moves the rest to the front of the buffer. */
  advance(to: number): void {
    const n = to - this.base;
    if (n <= 0) return;
    const used = Math.max(0, this.endSample - this.base);
    if (n < used) this.bytes.copyWithin(0, n, used);
    this.bytes.fill(MULAW_SILENCE, Math.max(0, used - n), used);
    this.base = to;
    if (this.endSample < to) this.endSample = to;
  }

  /** Lets the buffer go; the lane holds nothing afterwards. */
  release(): void {
    this.bytes = Buffer.alloc(0);
    this.endSample = this.base;
  }

  private ensure(samples: number): void {
    if (samples <= this.bytes.length) return;
    const grown = Buffer.alloc(Math.max(samples, this.bytes.length * 2), MULAW_SILENCE);
    this.bytes.copy(grown, 0, 0, Math.max(0, this.endSample - this.base));
    this.bytes = grown;
  }
}
