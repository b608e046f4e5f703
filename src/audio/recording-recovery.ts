// Crash recovery for call recordings. A recorder killed mid-call leaves `<name>.wav.part`: a
// canonical header with zero sizes followed by whole blocks of audio, perhaps with a torn last
// write. Only part files whose owner (part-owner.ts) is gone are repaired: a live recorder of this
// or another process sharing the folder is left alone, so this may run while calls are live.
import type { Dirent } from 'node:fs';
import { readdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { hasCode } from '../util/errors.js';
import { OWNER_SUFFIX, partOwnerState, releasePart, type FleetJudge } from './part-owner.js';
import { sealRecording } from './wav-seal.js';

const PART_SUFFIX = '.wav.part';
const WAV_SUFFIX = '.wav';
const CORRUPT_SUFFIX = '.wav.corrupt';
/** Attempts at a free file name before giving up. */
const MAX_NAME_TRIES = 1000;

export interface RecoveryResult {
  /** Repaired WAVs, named after their part files (`<name>.wav`, or `<name>.recovered.wav` if taken). */
  repaired: string[];
  /** Part files a live process is still writing, or a lost fleet member's on another host: left alone. */
  inUse: string[];
}

/**
 * Repairs every `*.wav.part` directly in `dir` whose writer is gone into a playable `.wav`. Files
 * that are not our recordings become `.wav.corrupt`. Every file is attempted; if any fails, the
 * function rejects with an AggregateError after the others are done.
 */
export async function recoverPartialRecordings(dir: string, fleet?: FleetJudge): Promise<RecoveryResult> {
  const entries = await listFiles(dir);
  const parts = entries.filter((name) => name.endsWith(PART_SUFFIX));
  const result: RecoveryResult = { repaired: [], inUse: [] };
  const failures: unknown[] = [];
  for (const fileName of parts) {
    try {
      const partPath = path.join(dir, fileName);
      const state = await partOwnerState(partPath, fleet);
      // A lost member's file is repaired by the survivor that takes over its task, not by all at once.
      if (state === 'alive' || state === 'lost') {
        result.inUse.push(partPath);
        continue;
      }
      const out = await recoverOne(dir, fileName.slice(0, -PART_SUFFIX.length));
      if (out !== undefined) result.repaired.push(out);
      await releasePart(partPath);
    } catch (err) {
      failures.push(err);
    }
  }
  await removeOrphanOwnerRecords(dir, entries, parts);
  if (failures.length > 0) {
    throw new AggregateError(failures, `could not recover ${failures.length} of ${parts.length} partial recordings in ${dir}`);
  }
  return result;
}

/**
 * Repairs one part file whose writer is gone (the caller judged it) and removes its owner record;
 * resolves with the WAV, or undefined when the file was set aside as corrupt or is already gone
 * (another survivor repaired it first).
 */
export async function recoverPart(partPath: string): Promise<string | undefined> {
  const dir = path.dirname(partPath);
  let out: string | undefined;
  try {
    out = await recoverOne(dir, path.basename(partPath).slice(0, -PART_SUFFIX.length));
  } catch (err) {
    if (!hasCode(err, 'ENOENT')) throw err;
  }
  await releasePart(partPath);
  return out;
}

/** The part files directly in `dir`, full paths, sorted. */
export async function listPartFiles(dir: string): Promise<string[]> {
  return (await listFiles(dir)).filter((name) => name.endsWith(PART_SUFFIX)).map((name) => path.join(dir, name));
}

/** Plain files directly in `dir`, sorted; none when it does not exist. */
async function listFiles(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return [];
    throw err;
  }
  return entries
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
}

/** Owner records of a dead process whose part file is gone (it died between the two, or after the rename). */
async function removeOrphanOwnerRecords(dir: string, entries: string[], parts: string[]): Promise<void> {
  const ownerSuffix = PART_SUFFIX + OWNER_SUFFIX;
  for (const name of entries) {
    if (!name.endsWith(ownerSuffix)) continue;
    const partPath = path.join(dir, name.slice(0, -OWNER_SUFFIX.length));
    if (parts.includes(path.basename(partPath))) continue;
    if ((await partOwnerState(partPath).catch(() => 'alive' as const)) === 'dead') await releasePart(partPath).catch(() => undefined);
  }
}

/** The repaired path, or undefined when the file was set aside as corrupt. */
async function recoverOne(dir: string, stem: string): Promise<string | undefined> {
  const partPath = path.join(dir, stem + PART_SUFFIX);
  if ((await sealRecording(partPath)) === undefined) {
    await rename(partPath, await freePath(dir, stem, CORRUPT_SUFFIX));
    return undefined;
  }
  const finalPath = await freePath(dir, stem, WAV_SUFFIX);
  await rename(partPath, finalPath);
  return finalPath;
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
