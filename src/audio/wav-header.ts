// The one WAV header layout call recordings use: canonical 44-byte RIFF/WAVE, PCM16 stereo 8 kHz
// (left caller, right agent). Shared by the recorder and crash recovery so both agree byte for byte.
import { SAMPLE_RATE } from '../twilio/protocol.js';

export const WAV_HEADER_BYTES = 44;
export const RECORDING_CHANNELS = 2;
const BYTES_PER_SAMPLE = 2;
/** One stereo sample frame: caller PCM16 then agent PCM16. */
export const STEREO_FRAME_BYTES = RECORDING_CHANNELS * BYTES_PER_SAMPLE;
/** The RIFF size field (36 + data) is 32-bit: the most whole stereo frames a WAV can hold (~37 h). */
export const MAX_WAV_DATA_BYTES =
  Math.floor((0xffffffff - (WAV_HEADER_BYTES - 8)) / STEREO_FRAME_BYTES) * STEREO_FRAME_BYTES;

const RIFF_SIZE_OFFSET = 4;
const DATA_SIZE_OFFSET = 40;

/** The header for `dataBytes` bytes of interleaved stereo PCM16 (0 while recording). */
export function wavHeader(dataBytes: number): Buffer {
  if (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > MAX_WAV_DATA_BYTES || dataBytes % STEREO_FRAME_BYTES !== 0) {
    throw new RangeError(`WAV data size ${dataBytes} is not a whole number of stereo frames within the 32-bit limit`);
  }
  const h = Buffer.alloc(WAV_HEADER_BYTES);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(WAV_HEADER_BYTES - 8 + dataBytes, RIFF_SIZE_OFFSET);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16); // fmt chunk size for plain PCM
  h.writeUInt16LE(1, 20); // WAVE_FORMAT_PCM
  h.writeUInt16LE(RECORDING_CHANNELS, 22);
  h.writeUInt32LE(SAMPLE_RATE, 24);
  h.writeUInt32LE(SAMPLE_RATE * STEREO_FRAME_BYTES, 28); // byte rate
  h.writeUInt16LE(STEREO_FRAME_BYTES, 32); // block align
  h.writeUInt16LE(BYTES_PER_SAMPLE * 8, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, DATA_SIZE_OFFSET);
  return h;
}

const EMPTY_HEADER = wavHeader(0);

/**
 * True when `head` is our header apart from its two size fields. Recovery relies on data starting
 * at byte 44, so any other layout (extra chunks, another format) is not ours to patch.
 */
export function isRecordingHeader(head: Uint8Array): boolean {
  if (head.length < WAV_HEADER_BYTES) return false;
  for (let i = 0; i < WAV_HEADER_BYTES; i++) {
    const isSizeField =
      (i >= RIFF_SIZE_OFFSET && i < RIFF_SIZE_OFFSET + 4) || (i >= DATA_SIZE_OFFSET && i < DATA_SIZE_OFFSET + 4);
    if (!isSizeField && head[i] !== EMPTY_HEADER[i]) return false;
  }
  return true;
}
