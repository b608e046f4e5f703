// The pipeline's VAD, spared the caller's silence. Silero runs a 32 ms window at a time whatever it
// hears, and each window is an event through the framework's streams: measured, about a quarter of
// a pipeline call's CPU, most of it spent while the caller listens to the agent in silence. This VAD
// hands the real one nothing while the line is quiet and the caller is not speaking by its own
// account, and on the first frame loud enough to be speech gives it the quiet audio just before it
// first, so the model starts warm and the utterance keeps its prefix padding. What the caller said
// is heard as before: the gate opens on any frame within reach of speech, and never closes mid-turn.
import { VAD, VADEventType, VADStream, type VADEvent } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';

/**
 * A frame at or above this level (dBFS, mean over the frame) may be speech and opens the gate. The
 * gateway's own energy VAD never calls anything under -40 dBFS speech; this is 15 dB below that, and
 * above a phone line's idle noise (digital silence is about -120, comfort noise -60 to -70).
 */
export const GATE_OPEN_DB = -55;
/**
 * The gate closes after the VAD's own end-of-speech silence and this much more of quiet audio in a
 * row: by then the model has been given all the silence it needs to end an utterance, even when it
 * runs behind (a busy worker) and has not said yet that the caller stopped, or even started.
 */
const CLOSE_MARGIN_MS = 200;
/** Quiet audio given to the model before the frame that reopens the gate, besides the prefix padding. */
const MODEL_CONTEXT_MS = 300;
const FULL_SCALE_SQ = 32768 * 32768;

/** Mean energy of a PCM16 frame's first channel in dBFS. */
export function pcmEnergyDb(frame: AudioFrame): number {
  const { data, channels, samplesPerChannel } = frame;
  let sum = 0;
  for (let i = 0; i < samplesPerChannel; i++) {
    const s = data[i * channels]!;
    sum += s * s;
  }
  return 10 * Math.log10(sum / (samplesPerChannel || 1) / FULL_SCALE_SQ + 1e-12);
}

/** The inner VAD's own timing, in ms. */
export interface GateTiming {
  /** Silence that ends an utterance. */
  minSilenceMs: number;
  /** Audio kept in front of an utterance. */
  prefixPaddingMs: number;
}

/**
 * The decision, frame by frame: which frames the model hears, and when. Pure, so that it is tested
 * without a model.
 */
export class SilenceGate {
  private open = true;
  private quietMs = 0;
  /** Quiet frames kept back while closed, oldest first, at most `prerollMs` of them. */
  private readonly held: AudioFrame[] = [];
  private heldMs = 0;
  /** The caller is speaking, by the model's last START/END_OF_SPEECH read: the gate stays open. */
  speaking = false;

  private readonly closeAfterMs: number;
  /** Quiet audio given to the model before the frame that reopens the gate. */
  private readonly prerollMs: number;

  constructor({ minSilenceMs, prefixPaddingMs }: GateTiming) {
    this.closeAfterMs = minSilenceMs + CLOSE_MARGIN_MS;
    this.prerollMs = prefixPaddingMs + MODEL_CONTEXT_MS;
  }

  /** Whether the model is hearing the caller's audio now. */
  get isOpen(): boolean {
    return this.open;
  }

  /** Gives `frame` (and the quiet audio before it, when it reopens the gate) to `pass`, in order. */
  admit(frame: AudioFrame, pass: (frame: AudioFrame) => void): void {
    const ms = (frame.samplesPerChannel * 1000) / frame.sampleRate;
    const loud = pcmEnergyDb(frame) >= GATE_OPEN_DB;
    if (this.open) {
      pass(frame);
      this.quietMs = loud ? 0 : this.quietMs + ms;
      if (!this.speaking && this.quietMs >= this.closeAfterMs) this.open = false;
      return;
    }
    if (!loud) return this.hold(frame, ms);
    this.open = true;
    this.quietMs = 0;
    for (const quiet of this.held.splice(0)) pass(quiet);
    this.heldMs = 0;
    pass(frame);
  }

  /** A segment boundary (the framework's flush): nothing quiet from before it is given after it. */
  reset(): void {
    this.held.length = 0;
    this.heldMs = 0;
    this.quietMs = 0;
  }

  private hold(frame: AudioFrame, ms: number): void {
    this.held.push(frame);
    this.heldMs += ms;
    while (this.held.length > 1 && this.heldMs - msOf(this.held[0]!) >= this.prerollMs) this.heldMs -= msOf(this.held.shift()!);
  }
}

const msOf = (frame: AudioFrame) => (frame.samplesPerChannel * 1000) / frame.sampleRate;

/** A VAD that runs `inner` only on audio that may be speech (see the file's head). */
export class SilenceGatedVad extends VAD {
  label: string;

  constructor(
    private readonly inner: VAD,
    private readonly timing: GateTiming,
  ) {
    super(inner.capabilities);
    this.label = `${inner.label} (silence-gated)`;
  }

  override get minSilenceDuration(): number | null {
    return this.inner.minSilenceDuration;
  }

  stream(): VADStream {
    return new SilenceGatedVadStream(this, this.inner.stream(), new SilenceGate(this.timing));
  }

  override async close(): Promise<void> {
    await this.inner.close();
  }
}

/**
 * The framework writes to this stream (its input machinery is the base class's) and reads the inner
 * stream's events through `next()` directly: no second hop per event, only a look at START and END.
 */
class SilenceGatedVadStream extends VADStream {
  private readonly pass = (frame: AudioFrame) => this.inner.pushFrame(frame);

  constructor(
    vad: VAD,
    private readonly inner: VADStream,
    private readonly gate: SilenceGate,
  ) {
    super(vad);
    void this.feed().catch(() => undefined); // the inner stream closed under it: nothing left to feed
  }

  private async feed(): Promise<void> {
    for (;;) {
      const { done, value } = await this.inputReader.read();
      if (this.closed) return;
      if (done) return this.inner.endInput();
      if (typeof value === 'symbol') {
        this.gate.reset();
        this.inner.flush();
      } else {
        this.gate.admit(value, this.pass);
      }
    }
  }

  override async next(): Promise<IteratorResult<VADEvent>> {
    const result = await this.inner.next();
    if (!result.done) {
      const { type } = result.value;
      if (type === VADEventType.START_OF_SPEECH) this.gate.speaking = true;
      else if (type === VADEventType.END_OF_SPEECH) this.gate.speaking = false;
    }
    return result;
  }

  override close(): void {
    if (this.closed) return;
    this.inner.close();
    super.close();
  }
}
