// A simulated Twilio caller for relay runs against an agent that echoes audio at once. Every frame
// carries its index (frame-tag.ts), so each frame that comes back is matched to its own send time:
// the relay latency of every frame, not of a turn. It counts what never came back, what came back
// twice, and bytes that are not a tagged frame of this call.
import { performance } from 'node:perf_hooks';
import { FRAME_BYTES } from '../../../src/twilio/protocol.js';
import { encodeTag, MAX_TAGGED_FRAMES, readTag } from './frame-tag.js';
import { SimulatedTwilioStream, type StreamOptions } from './twilio-stream.js';

/** After its last frame a call waits at most this long for the echoes still on their way. */
export const DRAIN_MS = 1000;

export interface ProbeCallerOptions extends StreamOptions {
  /** Base64 of each script frame after its tag (tagTails), shared by every call. */
  tails: readonly string[];
  /** Where in the looping script this call starts, in frames. */
  scriptOffset: number;
  /** Told of every frame that came back: its send time and arrival time (performance.now()). */
  onEcho(sentAtMs: number, receivedAtMs: number): void;
}

export class ProbeCaller extends SimulatedTwilioStream {
  framesEchoed = 0;
  /** Frames that came back more than once. */
  duplicates = 0;
  /** 160-byte frames back whose tag is not one this call sent (silence padding, misaligned or corrupt audio). */
  foreignFrames = 0;
  /** Bytes of media payloads that do not fill a whole frame. */
  partialBytes = 0;
  mediaMessages = 0;

  private readonly sentAt: Float64Array;
  private readonly echoed: Uint8Array;
  private lastSentAtMs = 0;

  constructor(private readonly opts: ProbeCallerOptions) {
    super(opts);
    if (opts.totalFrames > MAX_TAGGED_FRAMES) throw new RangeError(`at most ${MAX_TAGGED_FRAMES} frames per call can be tagged`);
    this.sentAt = new Float64Array(opts.totalFrames);
    this.echoed = new Uint8Array(opts.totalFrames);
  }

  get relaying(): boolean {
    return this.framesEchoed > 0;
  }

  get framesLost(): number {
    return this.framesSent - this.framesEchoed;
  }

  /** Every frame sent, and every echo back or the drain time over. */
  readyToStop(now: number): boolean {
    return this.allFramesSent && (this.framesEchoed >= this.framesSent || now - this.lastSentAtMs >= DRAIN_MS);
  }

  protected override payloadFor(index: number): string {
    const { tails, scriptOffset } = this.opts;
    const payload = encodeTag(index) + tails[(index + scriptOffset) % tails.length]!;
    this.lastSentAtMs = performance.now();
    this.sentAt[index] = this.lastSentAtMs;
    return payload;
  }

  protected override onMedia(payload: string, at: number): void {
    this.mediaMessages++;
    const bytes = Buffer.from(payload, 'base64');
    const whole = bytes.length - (bytes.length % FRAME_BYTES);
    this.partialBytes += bytes.length - whole;
    for (let offset = 0; offset < whole; offset += FRAME_BYTES) this.frameBack(readTag(bytes, offset), at);
  }

  private frameBack(index: number, at: number): void {
    if (index < 0 || index >= this.framesSent) {
      this.foreignFrames++;
      return;
    }
    if (this.echoed[index] === 1) {
      this.duplicates++;
      return;
    }
    this.echoed[index] = 1;
    this.framesEchoed++;
    this.opts.onEcho(this.sentAt[index]!, at);
  }
}
