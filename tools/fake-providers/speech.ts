// Real speech for the TTS stand-ins, so whatever hears their output downstream (a VAD, the
// recorder, a test reading a WAV) gets a voice and not a tone.
import { fileURLToPath } from 'node:url';
import { readPcmWav } from '../../src/audio/wav-io.js';

export const TTS_SAMPLE_RATE = 24_000;
const REPLY_WAV = fileURLToPath(new URL('../../fixtures/speech/agent-reply-24k-pcm16.wav', import.meta.url));

let reply: Promise<Buffer> | undefined;

/** "Sure. I have booked your flight to Paris…" (5.46 s) as raw PCM s16le, 24 kHz mono, no header. */
export function replySpeechPcm24k(): Promise<Buffer> {
  reply ??= readPcmWav(REPLY_WAV).then((wav) => {
    if (wav.sampleRate !== TTS_SAMPLE_RATE || wav.channels !== 1) {
      throw new Error(`${REPLY_WAV}: expected 24 kHz mono, got ${wav.sampleRate} Hz, ${wav.channels} channel(s)`);
    }
    return Buffer.from(wav.samples.buffer, wav.samples.byteOffset, wav.samples.byteLength);
  });
  return reply;
}

/** Root mean square of PCM s16le bytes, on a 0..1 scale. */
export function rmsOfPcm16(bytes: Buffer): number {
  const samples = Math.floor(bytes.length / 2);
  if (samples === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples; i++) {
    const s = bytes.readInt16LE(i * 2) / 32768;
    sum += s * s;
  }
  return Math.sqrt(sum / samples);
}

/** Splits `bytes` into chunks of `size` (the last may be shorter), as views, without copying. */
export function chunksOf(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, Math.min(at + size, bytes.length)));
  return out;
}
