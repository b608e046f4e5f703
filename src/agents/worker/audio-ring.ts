// Caller audio from the media thread to one agent worker without a message per frame: a
// single-producer, single-consumer ring of fixed slots in a SharedArrayBuffer. The media thread
// copies a frame into a slot and bumps the write counter (no allocation, no system call); the
// worker reads every slot up to that counter every few milliseconds.

/** Twilio sends 160-byte frames; a slot takes twice that. Larger frames go by postMessage. */
export const MAX_RING_FRAME_BYTES = 320;
/** Slot layout: int32 call id, int32 length, float64 call time, then the frame. */
const SLOT_HEADER_BYTES = 16;
const SLOT_BYTES = SLOT_HEADER_BYTES + MAX_RING_FRAME_BYTES;
/** Two int32 counters (write, read), padded so the slots start 8-byte aligned. */
const HEADER_BYTES = 8;
const WRITE = 0;
const READ = 1;
/** 16384 slots (5.5 MB) hold about 3 s of 100 calls' audio should a worker fall behind. */
export const DEFAULT_RING_SLOTS = 16_384;

export function createAudioRing(slots = DEFAULT_RING_SLOTS): SharedArrayBuffer {
  if (slots <= 0 || (slots & (slots - 1)) !== 0) throw new Error(`audio ring: ${slots} slots is not a power of two`);
  return new SharedArrayBuffer(HEADER_BYTES + slots * SLOT_BYTES);
}

/** The views both ends need. Counters run freely and wrap at 2^32; a slot is `counter & mask`. */
class RingViews {
  protected readonly counters: Int32Array;
  protected readonly ints: Int32Array;
  protected readonly floats: Float64Array;
  protected readonly bytes: Uint8Array;
  protected readonly slots: number;
  protected readonly mask: number;

  constructor(protected readonly sab: SharedArrayBuffer) {
    this.counters = new Int32Array(sab, 0, 2);
    this.ints = new Int32Array(sab);
    this.floats = new Float64Array(sab);
    this.bytes = new Uint8Array(sab);
    this.slots = (sab.byteLength - HEADER_BYTES) / SLOT_BYTES;
    this.mask = this.slots - 1;
  }

  protected slotOffset(counter: number): number {
    return HEADER_BYTES + (counter & this.mask) * SLOT_BYTES;
  }
}

/**
 * What became of a pushed frame: in a slot; dropped because the worker is a whole ring behind (not
 * to be sent another way: a worker that far behind needs less, not more); or too large for a slot
 * (the caller sends it another way).
 */
export type RingPush = 'queued' | 'dropped' | 'too-large';

/** The media thread's end. */
export class AudioRingWriter extends RingViews {
  private written = 0;
  /** The reader's counter when last looked at: the shared one is read only when this says full. */
  private knownRead = 0;
  /** Frames refused because the worker fell a whole ring behind. */
  dropped = 0;

  /** Copies `frame` into the next slot, unless it is too large or the ring is full. */
  push(callId: number, frame: Uint8Array, atMs: number): RingPush {
    if (frame.length > MAX_RING_FRAME_BYTES) return 'too-large';
    const w = this.written;
    if (((w - this.knownRead) | 0) >= this.slots) {
      // Looking only now keeps the media thread off the cache line the worker writes.
      this.knownRead = Atomics.load(this.counters, READ);
      if (((w - this.knownRead) | 0) >= this.slots) {
        this.dropped++;
        return 'dropped';
      }
    }
    const at = this.slotOffset(w);
    this.ints[at >> 2] = callId;
    this.ints[(at >> 2) + 1] = frame.length;
    this.floats[(at >> 3) + 1] = atMs;
    this.bytes.set(frame, at + SLOT_HEADER_BYTES);
    this.written = (w + 1) | 0;
    // The worker polls (see RING_POLL_MS): no wake-up to pay for here.
    Atomics.store(this.counters, WRITE, this.written);
    return 'queued';
  }
}

/**
 * How often the worker reads the ring. Polling, not a wake-up per frame: Atomics.notify on a
 * sleeping worker cost the media thread about 12 µs a frame (measured), polling costs it nothing,
 * and 5 ms is a quarter of a frame of added delay on the way to the agent.
 */
export const RING_POLL_MS = 5;

/** The worker's end. */
export class AudioRingReader extends RingViews {
  private timer: NodeJS.Timeout | undefined;

  /** Hands every frame to `onFrame` as it arrives, until stop(). The frame is valid during the call only. */
  start(onFrame: (callId: number, frame: Buffer, atMs: number) => void, pollMs = RING_POLL_MS): void {
    this.timer = setInterval(() => this.drain(onFrame), pollMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reads what was written when it began; later frames wait for the next poll, so messages interleave. */
  private drain(onFrame: (callId: number, frame: Buffer, atMs: number) => void): void {
    let read = Atomics.load(this.counters, READ);
    const written = Atomics.load(this.counters, WRITE);
    while (read !== written) {
      const at = this.slotOffset(read);
      const frame = Buffer.from(this.sab, at + SLOT_HEADER_BYTES, this.ints[(at >> 2) + 1]!);
      try {
        onFrame(this.ints[at >> 2]!, frame, this.floats[(at >> 3) + 1]!);
      } finally {
        read = (read + 1) | 0;
        // Only now may the writer reuse the slot.
        Atomics.store(this.counters, READ, read);
      }
    }
  }
}
