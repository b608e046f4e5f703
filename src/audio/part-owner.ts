// Which process is writing a `.wav.part`. Node has no flock, and two gateways may share
// RECORDINGS_DIR (a blue/green deploy, a second instance started by mistake), so each part file
// has an owner record beside it, `<name>.wav.part.owner`: the writer's host, pid and process start
// time. Crash recovery repairs a part file only when its owner is gone. The start time (from
// /proc/<pid>/stat) defeats pid reuse: a new process with the old pid has another start time.
// An owner on another host cannot be checked from here, so its files are left alone, unless the
// record names a fleet member (instances sharing PostgreSQL and RECORDINGS_DIR): then the fleet
// says whether the writer is alive, whatever its host, and a part file of a member that left the
// fleet on another host is `lost`: the survivor that takes over its task repairs it (fleet-settle.ts).
import { readFileSync } from 'node:fs';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { hasCode } from '../util/errors.js';

export interface PartOwner {
  host: string;
  pid: number;
  /** Clock ticks after boot at which the process started; undefined where /proc is missing. */
  startTime: string | undefined;
  /** The fleet member this process is, when it is one on PostgreSQL. */
  member?: string;
}

/** `lost`: its writer's fleet member has left the fleet, on another host. */
export type OwnerState = 'alive' | 'dead' | 'lost' | 'none';

/** Says whether the fleet member an owner record names is still in the fleet. */
export type FleetJudge = (owner: PartOwner & { member: string }) => boolean;

export const OWNER_SUFFIX = '.owner';

export const ownerPathOf = (partPath: string): string => partPath + OWNER_SUFFIX;

/** Field 22 of /proc/<pid>/stat; the command name before it may hold spaces and parentheses. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

let self: PartOwner | undefined;

/** This process, as its owner records name it. */
export function thisProcess(): PartOwner {
  self ??= { host: os.hostname(), pid: process.pid, startTime: processStartTime(process.pid) };
  return self;
}

/**
 * Names the fleet member this process is in the owner records it writes from now on. A process
 * runs one gateway, so the member is the process's; set once it has joined the fleet.
 */
export function recordAsMember(member: string): void {
  self = { ...thisProcess(), member };
}

/** Whether an owner record names this very process (not an earlier one that had its member id). */
export function isThisProcess(owner: PartOwner): boolean {
  const me = thisProcess();
  return owner.host === me.host && owner.pid === me.pid && owner.startTime === me.startTime;
}

/** Whether the process an owner record names is still running (when in doubt: alive). */
export function isOwnerAlive(owner: PartOwner): boolean {
  if (owner.host !== os.hostname()) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: the pid exists but belongs to another user; it is running.
    if (hasCode(err, 'ESRCH')) return false;
  }
  if (owner.startTime === undefined) return true;
  const now = processStartTime(owner.pid);
  return now === undefined || now === owner.startTime;
}

/**
 * Records this process as the part file's owner, atomically and only if no record exists
 * (link() fails with EEXIST): never two owners for one file. Call before creating the part file,
 * so a part file without a record can only be one that no live gateway is writing.
 */
export async function claimPart(partPath: string): Promise<void> {
  const ownerPath = ownerPathOf(partPath);
  const draft = `${ownerPath}.${process.pid}.tmp`;
  await writeFile(draft, JSON.stringify(thisProcess()));
  try {
    await link(draft, ownerPath);
  } finally {
    await unlink(draft).catch(() => undefined);
  }
}

/** Removes the owner record (once the part file is renamed or given up). */
export async function releasePart(partPath: string): Promise<void> {
  await unlink(ownerPathOf(partPath)).catch((err: unknown) => {
    if (!hasCode(err, 'ENOENT')) throw err;
  });
}

/**
 * `none`: no record (a file from a build before owner records, or never claimed). With `fleet`, a
 * record naming a member is judged by the fleet first: a member still in it is alive; one gone is
 * checked by pid on this host, and `lost` on another.
 */
export async function partOwnerState(partPath: string, fleet?: FleetJudge): Promise<OwnerState> {
  let text: string;
  try {
    text = await readFile(ownerPathOf(partPath), 'utf8');
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return 'none';
    throw err;
  }
  const owner = parseOwner(text);
  // A record we cannot read is not proof that its writer is gone.
  if (owner === undefined) return 'alive';
  if (fleet && owner.member !== undefined) {
    if (fleet({ ...owner, member: owner.member })) return 'alive';
    if (owner.host !== os.hostname()) return 'lost';
  }
  return isOwnerAlive(owner) ? 'alive' : 'dead';
}

function parseOwner(text: string): PartOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<PartOwner>;
    if (typeof value.host !== 'string' || !Number.isInteger(value.pid) || (value.pid as number) <= 0) return undefined;
    const owner: PartOwner = { host: value.host, pid: value.pid as number, startTime: typeof value.startTime === 'string' ? value.startTime : undefined };
    if (typeof value.member === 'string') owner.member = value.member;
    return owner;
  } catch {
    return undefined;
  }
}
