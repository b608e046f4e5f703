// The embedded default agent: a line test that needs no keys. It listens with an energy VAD and,
// once the caller stops speaking, plays their utterance back. Speaking over the playback
// interrupts it through the same barge-in path the real agents use.
import type { AgentBridge, AgentSink } from './bridge.js';
import type { VadConfig } from '../config.js';
import { EnergyVad } from '../audio/energy-vad.js';
import { FRAME_BYTES, FRAME_MS } from '../twilio/protocol.js';

/** An utterance longer than this is played back at once rather than buffered further. */
const MAX_UTTERANCE_MS = 30_000;
const INITIAL_UTTERANCE_MS = 2_000;

const framesIn = (seconds: number) => Math.max(0, Math.round((seconds * 1000) / FRAME_MS));

/** The last N frames, in a fixed buffer: the audio just before the VAD declared speech. */
class FrameRing {
  private readonly buf: Buffer;
  private next = 0;
  private count = 0;

  constructor(private readonly capacity: number) {
    this.buf = Buffer.alloc(Math.max(1, capacity) * FRAME_BYTES);
  }

  push(frame: Buffer): void {
    if (this.capacity === 0) return;
    frame.copy(this.buf, this.next * FRAME_BYTES, 0, FRAME_BYTES);
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  /** Appends the held frames, oldest first, to `target`, and empties the ring. */
  drainInto(target: GrowableAudio): void {
    const first = (this.next - this.count + this.capacity) % Math.max(1, this.capacity);
    for (let i = 0; i < this.count; i++) {
      const at = ((first + i) % this.capacity) * FRAME_BYTES;
      target.append(this.buf.subarray(at, at + FRAME_BYTES));
    }
    this.count = 0;
  }
}

/** A byte buffer that doubles as needed up to a cap, reused across utterances. */
class GrowableAudio {
  private buf: Buffer;
  length = 0;

  constructor(
    initialBytes: number,
    private readonly maxBytes: number,
  ) {
    this.buf = Buffer.alloc(initialBytes);
  }

  get full(): boolean {
    return this.length >= this.maxBytes;
  }

  append(frame: Buffer): void {
    if (this.length + frame.length > this.buf.length) {
      const bigger = Buffer.alloc(Math.min(this.maxBytes, Math.max(this.buf.length * 2, this.length + frame.length)));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    const n = Math.min(frame.length, this.buf.length - this.length);
    frame.copy(this.buf, this.length, 0, n);
    this.length += n;
  }

  view(length = this.length): Buffer {
    return this.buf.subarray(0, Math.max(0, Math.min(length, this.length)));
  }
}

export class EchoAgent implements AgentBridge {
  readonly kind = 'echo';
  private readonly vad: EnergyVad;
  private readonly preRoll: FrameRing;
  private readonly utterance: GrowableAudio;
  /** Trailing silence the VAD needed to end a turn, less the padding we keep. */
  private readonly trimBytes: number;

  constructor(
    vad: VadConfig,
    private readonly sink: AgentSink,
  ) {
    this.vad = new EnergyVad(vad);
    const padding = framesIn(vad.paddingS);
    this.preRoll = new FrameRing(padding + this.vad.startLagFrames);
    this.trimBytes = Math.max(0, framesIn(vad.minSilenceS) - padding) * FRAME_BYTES;
    this.utterance = new GrowableAudio(framesIn(INITIAL_UTTERANCE_MS / 1000) * FRAME_BYTES, framesIn(MAX_UTTERANCE_MS / 1000) * FRAME_BYTES);
  }

  async start(): Promise<void> {}

  pushCallerAudio(frame: Buffer): void {
    const event = this.vad.push(frame);
    if (event === 'speech_start') {
      this.preRoll.push(frame);
      this.sink.bargeIn();
      this.utterance.length = 0;
      this.preRoll.drainInto(this.utterance);
      return;
    }
    if (!this.vad.isSpeaking && event !== 'speech_end') {
      this.preRoll.push(frame);
      return;
    }
    this.utterance.append(frame);
    if (event === 'speech_end') this.playBack(this.utterance.length - this.trimBytes);
    else if (this.utterance.full) this.playBack(this.utterance.length);
  }

  pushDtmf(): void {}

  utterancePlayed(): void {}

  async close(): Promise<void> {}

  private playBack(length: number): void {
    const audio = this.utterance.view(length);
    this.utterance.length = 0;
    if (audio.length === 0) return;
    this.sink.turnStarted();
    this.sink.audio(audio);
    this.sink.utteranceDone();
  }
}
