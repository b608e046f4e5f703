// Makes each caller frame identifiable after a round trip through the relay and an echoing agent:
// the frame's index is written into its first bytes. Both relays pass mu-law through untouched and
// in whole 160-byte frames, so the index comes back where it was put.
//
// Each tag byte is 0xF0 | 4 bits: the quietest positive mu-law codes (0 to 120 in PCM16, -49 dBFS
// at most), never 0x00 (which old digital trunks rewrite), so the tag is an inaudible 0.75 ms at
// the start of the frame and cannot be mistaken for speech by any VAD. Six bytes carry 24 bits, and six is a
// multiple of three, so the tag's base64 (8 characters, no padding) can be prepended to the
// precomputed base64 of the rest of the frame: no per-frame encoding of 160 bytes.
import { FRAME_BYTES } from '../../../src/twilio/protocol.js';

export const TAG_BYTES = 6;
const BITS_PER_BYTE = 4;
const TAG_MARK = 0xf0;
/**
 * Frames per call a tag can number: 2^24 - 1, over 93 hours of 20 ms frames. The last index would
 * be six 0xFF bytes, mu-law silence, so it is never used: silence padding is never read as a frame.
 */
export const MAX_TAGGED_FRAMES = 2 ** (TAG_BYTES * BITS_PER_BYTE) - 1;

const scratch = Buffer.alloc(TAG_BYTES);

/** The base64 of frame `index`'s tag bytes (8 characters). */
export function encodeTag(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_TAGGED_FRAMES) throw new RangeError(`frame index ${index} cannot be tagged`);
  let rest = index;
  for (let b = TAG_BYTES - 1; b >= 0; b--) {
    scratch[b] = TAG_MARK | (rest & 0x0f);
    rest >>>= BITS_PER_BYTE;
  }
  return scratch.toString('base64');
}

/** The index tagged at `offset`, or -1 when those bytes are not a tag (padding, misalignment, corruption). */
export function readTag(bytes: Buffer, offset: number): number {
  if (offset + TAG_BYTES > bytes.length) return -1;
  let index = 0;
  for (let b = 0; b < TAG_BYTES; b++) {
    const byte = bytes[offset + b]!;
    if ((byte & 0xf0) !== TAG_MARK) return -1;
    index = (index << BITS_PER_BYTE) | (byte & 0x0f);
  }
  return index;
}

/** The base64 of each frame after its tag bytes: what follows `encodeTag(i)` in a payload. */
export function tagTails(frames: readonly Buffer[]): string[] {
  return frames.map((frame) => {
    if (frame.length !== FRAME_BYTES) throw new Error(`frames must be ${FRAME_BYTES} bytes, got ${frame.length}`);
    return frame.subarray(TAG_BYTES).toString('base64');
  });
}

/** Fails loudly if a tagged payload does not decode back to its index: the latency figures rest on it. */
export function checkTagRoundTrip(tail: string): void {
  for (const index of [0, 1, 15, 16, 4095, 54_321, MAX_TAGGED_FRAMES - 1]) {
    const bytes = Buffer.from(encodeTag(index) + tail, 'base64');
    if (bytes.length !== FRAME_BYTES || readTag(bytes, 0) !== index) throw new Error(`frame tag: index ${index} does not survive base64`);
  }
}
