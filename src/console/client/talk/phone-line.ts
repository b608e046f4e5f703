// The browser's side of a phone line, shared by the worklet (which runs it on the audio thread)
// and the unit tests: microphone samples in, 20 ms mu-law frames out; the agent's mu-law in,
// speaker samples out, with Twilio's playback rules: marks are echoed only once the audio queued
// before them has played, and `clear` drops whatever is still queued (its marks are echoed at
// once, as Twilio does). Pure: no DOM, no audio API.
import { MULAW_TO_PCM16, encodeMulawSample } from '../../../audio/mulaw.js';
import { FRAME_BYTES, SAMPLE_RATE } from '../../../twilio/protocol.js';
import { Downsampler } from './resample.js';

/** What the line reports back to the page. */
export type LineReport =
  | { type: 'frame'; payload: Uint8Array }
  | { type: 'mark-played'; name: string }
  | { type: 'played'; samples8k: number };

/** Agent audio queued at most (60 s at 8 kHz): past it the oldest is dropped, as a full Twilio buffer would. */
const MAX_QUEUED = 60 * SAMPLE_RATE;

export class PhoneLine {
  private readonly down: Downsampler;
  /** 8 kHz samples per output sample: the speaker side interpolates linearly between two 8 kHz samples. */
  private readonly step: number;
  private previous = 0;
  private current = 0;
  /** Where the next output sample lies between `previous` (0) and `current` (1); past 1, the next sample is needed. */
  private phase = 1;
  private frame = new Uint8Array(FRAME_BYTES);
  private frameFill = 0;
  /** Agent audio waiting to play, as 8 kHz samples -1..1, in a ring. */
  private readonly queue = new Float32Array(MAX_QUEUED);
  private head = 0;
  private queued = 0;
  /** Marks and how many queued samples must play before each. */
  private marks: { name: string; after: number }[] = [];
  private played = 0;

  constructor(
    contextRate: number,
    private readonly report: (report: LineReport) => void,
  ) {
    this.down = new Downsampler(contextRate, SAMPLE_RATE);
    this.step = SAMPLE_RATE / contextRate;
  }

  /** Microphone samples at the context's rate. */
  capture(input: Float32Array): void {
    this.down.push(input, (sample) => {
      const clamped = sample > 1 ? 1 : sample < -1 ? -1 : sample;
      this.frame[this.frameFill++] = encodeMulawSample(Math.round(clamped * 32767));
      if (this.frameFill === FRAME_BYTES) {
        this.report({ type: 'frame', payload: this.frame });
        this.frame = new Uint8Array(FRAME_BYTES);
        this.frameFill = 0;
      }
    });
  }

  /** The agent's mu-law, in order. */
  enqueue(mulaw: Uint8Array): void {
    for (const byte of mulaw) {
      if (this.queued === MAX_QUEUED) this.dropOldest(1);
      this.queue[(this.head + this.queued) % MAX_QUEUED] = MULAW_TO_PCM16[byte]! / 32768;
      this.queued++;
    }
  }

  /** A mark after everything queued so far. */
  mark(name: string): void {
    if (this.queued === 0 && this.marks.length === 0) return this.report({ type: 'mark-played', name });
    this.marks.push({ name, after: this.queued });
  }

  /** Twilio's `clear`: queued audio is dropped, and its marks come back at once. */
  clear(): void {
    this.queued = 0;
    // Not even the sample being interpolated plays on: a cut is a cut.
    this.previous = this.current = 0;
    this.phase = 1;
    for (const { name } of this.marks.splice(0)) this.report({ type: 'mark-played', name });
  }

  /** Fills one output block at the context's rate; silence once nothing is queued. */
  render(output: Float32Array): void {
    let at = 0;
    for (; at < output.length; at++) {
      if (this.phase >= 1) {
        if (this.queued === 0) break;
        this.previous = this.current;
        this.current = this.queue[this.head]!;
        this.head = (this.head + 1) % MAX_QUEUED;
        this.queued--;
        this.played++;
        this.phase -= 1;
        this.markPlayed(1);
      }
      output[at] = this.previous + (this.current - this.previous) * this.phase;
      this.phase += this.step;
    }
    output.fill(0, at);
  }

  /** 8 kHz samples played so far. */
  get samplesPlayed(): number {
    return this.played;
  }

  private dropOldest(count: number): void {
    this.head = (this.head + count) % MAX_QUEUED;
    this.queued -= count;
    this.markPlayed(count);
  }

  private markPlayed(samples: number): void {
    for (const mark of this.marks) mark.after -= samples;
    while (this.marks.length > 0 && this.marks[0]!.after <= 0) this.report({ type: 'mark-played', name: this.marks.shift()!.name });
  }
}
