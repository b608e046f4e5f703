// Whole-file WAV reading and writing through wavefile, for fixtures, tools and tests. The call
// recorder streams its own files (see recorder.ts); this module is not for the hot path.
import { readFile, writeFile } from 'node:fs/promises';
import wavefile from 'wavefile';

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_MULAW = 7;

interface WaveFmt {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  bitsPerSample: number;
}

export interface PcmWav {
  sampleRate: number;
  channels: number;
  /** Interleaved PCM16 samples. */
  samples: Int16Array;
}

function parse(bytes: Uint8Array): { fmt: WaveFmt; data: Uint8Array } {
  const wav = new wavefile.WaveFile(bytes);
  const fmt = wav.fmt as WaveFmt;
  const data = (wav.data as { samples: Uint8Array }).samples;
  return { fmt, data };
}

/** The raw mu-law bytes of an 8 kHz mono mu-law WAV: exactly what Twilio carries in `media.payload`. */
export function mulawFromWav(bytes: Uint8Array, source = 'WAV'): Buffer {
  const { fmt, data } = parse(bytes);
  if (fmt.audioFormat !== WAVE_FORMAT_MULAW || fmt.sampleRate !== 8000 || fmt.numChannels !== 1) {
    throw new Error(
      `${source}: expected 8 kHz mono mu-law, got format ${fmt.audioFormat} at ${fmt.sampleRate} Hz, ${fmt.numChannels} channel(s)`,
    );
  }
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export async function readMulawWav(file: string): Promise<Buffer> {
  return mulawFromWav(await readFile(file), file);
}

/** A 16-bit PCM WAV (any rate, any channel count), e.g. a call recording. */
export function pcmFromWav(bytes: Uint8Array, source = 'WAV'): PcmWav {
  const { fmt, data } = parse(bytes);
  if (fmt.audioFormat !== WAVE_FORMAT_PCM || fmt.bitsPerSample !== 16) {
    throw new Error(`${source}: expected 16-bit PCM, got format ${fmt.audioFormat} with ${fmt.bitsPerSample} bits`);
  }
  const samples = new Int16Array(data.byteLength / 2);
  Buffer.from(samples.buffer).set(data);
  return { sampleRate: fmt.sampleRate, channels: fmt.numChannels, samples };
}

export async function readPcmWav(file: string): Promise<PcmWav> {
  return pcmFromWav(await readFile(file), file);
}

/** Writes interleaved PCM16 samples as a WAV file. */
export async function writePcmWav(file: string, wav: PcmWav): Promise<void> {
  const out = new wavefile.WaveFile();
  out.fromScratch(wav.channels, wav.sampleRate, '16', wav.samples);
  await writeFile(file, out.toBuffer());
}
