// G.711 mu-law tables built once from alawmulaw, so the hot path decodes a byte with one array
// read and no allocation (alawmulaw's bulk decode allocates a new Int16Array per call).
import alawmulaw from 'alawmulaw';

const { mulaw } = alawmulaw;

/** PCM16 value of each mu-law byte. */
export const MULAW_TO_PCM16: Int16Array = (() => {
  const table = new Int16Array(256);
  for (let byte = 0; byte < 256; byte++) table[byte] = mulaw.decodeSample(byte);
  return table;
})();

/** Encodes one PCM16 sample to a mu-law byte (alawmulaw returns it unmasked). */
export function encodeMulawSample(sample: number): number {
  return mulaw.encodeSample(sample) & 0xff;
}

/** Encodes PCM16 samples into mu-law bytes (off the hot path: tools and tests). */
export function encodeMulaw(samples: Int16Array): Buffer {
  return Buffer.from(mulaw.encode(samples));
}

/** Decodes mu-law bytes into PCM16 samples (off the hot path: tools and tests). */
export function decodeMulaw(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = MULAW_TO_PCM16[bytes[i]!]!;
  return out;
}
