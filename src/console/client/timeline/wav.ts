// Reads the gateway's recordings in the page: a RIFF/WAVE file of 16-bit PCM. The gateway writes
// stereo 8 kHz (left: caller, right: agent); the reader takes any PCM16 layout and says what it
// found, so a time drawn from it is sample index / sample rate, exactly as in the file.
// Pure: no DOM, so the unit tests run it in Node.

export interface PcmRecording {
  sampleRate: number;
  /** One array per channel, samples as -1..1. */
  channels: Float32Array[];
  /** Samples per channel. */
  frames: number;
  durationS: number;
}

export class WavFormatError extends Error {}

/** Parses a PCM16 WAV; a file cut short (a recording still being written) keeps its whole frames. */
export function parseWav(bytes: ArrayBuffer): PcmRecording {
  const view = new DataView(bytes);
  const tag = (at: number) => String.fromCharCode(view.getUint8(at), view.getUint8(at + 1), view.getUint8(at + 2), view.getUint8(at + 3));
  if (bytes.byteLength < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new WavFormatError('not a RIFF/WAVE file');
  let format: { channels: number; sampleRate: number; bits: number; code: number } | undefined;
  for (let at = 12; at + 8 <= bytes.byteLength; ) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      format = { code: view.getUint16(body, true), channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), bits: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!format) throw new WavFormatError('the data chunk comes before the format chunk');
      if (format.code !== 1 || format.bits !== 16) throw new WavFormatError(`only 16-bit PCM is read (format ${format.code}, ${format.bits} bits)`);
      // A header written before the end of the call may claim more (or 0) bytes than the file holds.
      const available = bytes.byteLength - body;
      const length = size === 0 || size > available ? available : size;
      return deinterleave(view, body, length, format.channels, format.sampleRate);
    }
    at = body + size + (size % 2); // chunks are padded to an even size
  }
  throw new WavFormatError('no data chunk');
}

function deinterleave(view: DataView, offset: number, length: number, channelCount: number, sampleRate: number): PcmRecording {
  const frames = Math.floor(length / (2 * channelCount));
  const channels = Array.from({ length: channelCount }, () => new Float32Array(frames));
  for (let frame = 0, at = offset; frame < frames; frame++) {
    for (let channel = 0; channel < channelCount; channel++, at += 2) channels[channel]![frame] = view.getInt16(at, true) / 32768;
  }
  return { sampleRate, channels, frames, durationS: frames / sampleRate };
}
