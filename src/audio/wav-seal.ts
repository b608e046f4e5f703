// Seals a recording file in place: cuts a torn tail to whole stereo frames and writes the header's
// true sizes. Shared by crash recovery (a `.wav.part` a killed process left) and by the recorder
// after a failed write (the file then holds exactly what reached the disk).
import { open } from 'node:fs/promises';
import { MAX_WAV_DATA_BYTES, STEREO_FRAME_BYTES, WAV_HEADER_BYTES, isRecordingHeader, wavHeader } from './wav-header.js';

/**
 * The data size now in the header, or undefined when the file is not one of our recordings (then
 * it is left untouched). `maxDataBytes` cuts the data back to the call's end.
 */
export async function sealRecording(file: string, maxDataBytes = Infinity): Promise<number | undefined> {
  const handle = await open(file, 'r+');
  try {
    const { size } = await handle.stat();
    if (size < WAV_HEADER_BYTES) return undefined;
    const head = Buffer.alloc(WAV_HEADER_BYTES);
    const { bytesRead } = await handle.read(head, 0, WAV_HEADER_BYTES, 0);
    if (bytesRead < WAV_HEADER_BYTES || !isRecordingHeader(head)) return undefined;
    const onDisk = Math.floor((size - WAV_HEADER_BYTES) / STEREO_FRAME_BYTES) * STEREO_FRAME_BYTES;
    const dataBytes = Math.min(onDisk, MAX_WAV_DATA_BYTES, Math.floor(maxDataBytes / STEREO_FRAME_BYTES) * STEREO_FRAME_BYTES);
    if (WAV_HEADER_BYTES + dataBytes < size) await handle.truncate(WAV_HEADER_BYTES + dataBytes);
    const header = wavHeader(dataBytes);
    const { bytesWritten } = await handle.write(header, 0, header.length, 0);
    if (bytesWritten !== header.length) throw new Error(`${file}: short header write`);
    return dataBytes;
  } finally {
    await handle.close();
  }
}
