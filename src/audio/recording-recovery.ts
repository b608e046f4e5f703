// Crash recovery for call recordings. A recorder killed mid-call leaves `<name>.wav.part`: a
// canonical header with zero sizes followed by whole blocks of audio, perhaps with a torn last
// write. Run this at start-up, before any call opens a recorder in the same directory (a live
// recorder's part file would be taken for a crashed one).
import type { Dirent } from 'node:fs';
import { open, readdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { STEREO_FRAME_BYTES, WAV_HEADER_BYTES, isRecordingHeader, wavHeader } from './wav-header.js';

const PART_SUFFIX = '.wav.part';
const WAV_SUFFIX = '.wav';
const CORRUPT_SUFFIX = '.wav.corrupt';
/** Attempts at a free file name before giving up. */
const MAX_NAME_TRIES = 1000;

const hasCode = (err: unknown, code: string): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;

/**
 * Repairs every `*.wav.part` directly in `dir` into a playable `.wav` and returns their paths.
 * Files that are not our recordings become `.wav.corrupt`. Every file is attempted; if any fails,
 * the function rejects with an AggregateError after the others are done.
 */
export async function recoverPartialRecordings(dir: string): Promise<string[]> {
  const parts = await listPartFiles(dir);
  const repaired: string[] = [];
  const failures: unknown[] = [];
  for (const fileName of parts) {
    try {
      const out = await recoverOne(dir, fileName.slice(0, -PART_SUFFIX.length));
      if (out !== undefined) repaired.push(out);
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0) {
    throw new AggregateError(failures, `could not recover ${failures.length} of ${parts.length} partial recordings in ${dir}`);
  }
  return repaired;
}

async function listPartFiles(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return [];
    throw err;
  }
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(PART_SUFFIX))
    .map((e) => e.name)
    .sort();
}

/** The repaired path, or undefined when the file was set aside as corrupt. */
async function recoverOne(dir: string, stem: string): Promise<string | undefined> {
  const partPath = path.join(dir, stem + PART_SUFFIX);
  if (!(await repairInPlace(partPath))) {
    await rename(partPath, await freePath(dir, stem, CORRUPT_SUFFIX));
    return undefined;
  }
  const finalPath = await freePath(dir, stem, WAV_SUFFIX);
  await rename(partPath, finalPath);
  return finalPath;
}

/** Cuts a torn tail to whole stereo frames and writes true sizes; false if it is not our WAV. */
async function repairInPlace(partPath: string): Promise<boolean> {
  const file = await open(partPath, 'r+');
  try {
    const { size } = await file.stat();
    if (size < WAV_HEADER_BYTES) return false;
    const head = Buffer.alloc(WAV_HEADER_BYTES);
    const { bytesRead } = await file.read(head, 0, WAV_HEADER_BYTES, 0);
    if (bytesRead < WAV_HEADER_BYTES || !isRecordingHeader(head)) return false;
    const dataBytes = Math.floor((size - WAV_HEADER_BYTES) / STEREO_FRAME_BYTES) * STEREO_FRAME_BYTES;
    if (WAV_HEADER_BYTES + dataBytes < size) await file.truncate(WAV_HEADER_BYTES + dataBytes);
    const header = wavHeader(dataBytes);
    const { bytesWritten } = await file.write(header, 0, header.length, 0);
    if (bytesWritten !== header.length) throw new Error(`${partPath}: short header write`);
    return true;
  } finally {
    await file.close();
  }
}

/** `<stem><suffix>`, else `<stem>.recovered<suffix>`, `<stem>.recovered-2<suffix>`, ...: never overwrites. */
async function freePath(dir: string, stem: string, suffix: string): Promise<string> {
  for (let n = 0; n < MAX_NAME_TRIES; n++) {
    const tag = n === 0 ? '' : n === 1 ? '.recovered' : `.recovered-${n}`;
    const candidate = path.join(dir, `${stem}${tag}${suffix}`);
    if (!(await exists(candidate))) return candidate;
  }
  throw new Error(`no free name for ${stem}${suffix} in ${dir}`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return false;
    throw err;
  }
}
