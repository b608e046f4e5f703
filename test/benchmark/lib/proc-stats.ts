// CPU time and memory of a process, or of a process tree (a gateway's primary and its WORKERS
// processes), from /proc (Linux), so the gateway is measured apart from the load generator that
// shares the machine with it.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

let clockTicks: number | undefined;

/** Kernel clock ticks per second (the unit of utime/stime); almost always 100. */
export function clockTicksPerSecond(): number {
  if (clockTicks !== undefined) return clockTicks;
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim());
    clockTicks = Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    clockTicks = 100;
  }
  return clockTicks;
}

/** A /proc file; a process that has exited makes it vanish, which deserves a plain message. */
function readProc(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file} (has the process exited?): ${(err as Error).message}`);
  }
}

export interface CpuTimes {
  /** Seconds in user space and in the kernel (system calls: sockets, files, futexes). */
  user: number;
  system: number;
}

/** utime and stime from a /proc stat file. Fields are counted after `(comm)`, which may hold spaces. */
function readCpuTimes(statFile: string): CpuTimes {
  const stat = readProc(statFile);
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14 and stime field 15.
  const ticks = clockTicksPerSecond();
  return { user: Number(fields[11]) / ticks, system: Number(fields[12]) / ticks };
}

/** The whole process: every thread, including threads that have already exited. */
export function processCpu(pid: number): CpuTimes {
  return readCpuTimes(`/proc/${pid}/stat`);
}

/** The main thread alone (its thread id is the process id): Node's event loop. */
export function mainThreadCpu(pid: number): CpuTimes {
  return readCpuTimes(`/proc/${pid}/task/${pid}/stat`);
}

/** CPU seconds of every thread of a process, by thread id; a thread that ends between the reads is skipped. */
export function threadCpu(pid: number, into = new Map<number, number>()): Map<number, number> {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return into;
  }
  for (const tid of tids) {
    try {
      const t = readCpuTimes(`/proc/${pid}/task/${tid}/stat`);
      into.set(Number(tid), t.user + t.system);
    } catch {
      // ended meanwhile
    }
  }
  return into;
}

/** A `kB` line of /proc/<pid>/status (VmRSS, VmHWM, ...) in bytes. */
export function statusBytes(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const status = readProc(`/proc/${pid}/status`);
  const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no ${key}`);
  return Number(match[1]) * 1024;
}

/** The whole machine (every core, every process), so a run disturbed by other work shows it. */
export interface MachineCpu {
  /** Seconds some process or the kernel ran. */
  busy: number;
  /** Seconds the hypervisor ran something else while this machine wanted to run. */
  steal: number;
}

/** The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal ... */
export function machineCpu(): MachineCpu {
  const fields = readProc('/proc/stat').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  const ticks = clockTicksPerSecond();
  return { busy: (user + nice + system + irq + softirq) / ticks, steal: steal / ticks };
}

/** The parent pid of a process, or undefined when it has gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 4 (ppid) is the second after `(comm)`.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** A process's command name, or undefined when it has gone. */
function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * `root` and every process below it that runs the same program (a gateway's primary and its
 * WORKERS processes), root first. Helpers of another program are left out: under tsx, the esbuild
 * service each Node process starts is a development tool a compiled gateway does not run.
 * Reads every /proc entry: call it between runs, never inside a scheduler tick.
 */
export function processTree(root: number): number[] {
  const program = commandOf(root);
  return descendants(root).filter((pid) => commandOf(pid) === program);
}

const TREE_POLL_MS = 200;

/**
 * processTree once it has stopped changing for `quietMs` (at most `timeoutMs`): a gateway may
 * answer /health from its first worker process while it still starts the others.
 */
export async function settledProcessTree(root: number, quietMs = 1000, timeoutMs = 15_000): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  let tree = processTree(root);
  let sameSince = performance.now();
  while (performance.now() - sameSince < quietMs && performance.now() < deadline) {
    await sleep(TREE_POLL_MS);
    const next = processTree(root);
    if (next.join() !== tree.join()) {
      tree = next;
      sameSince = performance.now();
    }
  }
  return tree;
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = parentOf(Number(name));
    if (ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

/** The resident memory of a set of processes, summed (VmHWM: the sum of each one's peak, an upper bound). */
export function treeBytes(pids: readonly number[], key: 'VmRSS' | 'VmHWM'): number {
  return pids.reduce((total, pid) => total + statusBytes(pid, key), 0);
}

export interface Snapshot {
  wallMs: number;
  /** Every measured process (a gateway's primary and its workers), summed. */
  gateway: CpuTimes;
  /** Each measured process's main thread (its event loop), in the order of the pids read. */
  gatewayMains: CpuTimes[];
  /** Every thread of the measured processes (event loops, agent workers, libuv, V8): CPU seconds by thread id. */
  gatewayThreads: Map<number, number>;
  gatewayRss: number;
  selfCpu: NodeJS.CpuUsage;
  machine: MachineCpu;
}

const add = (a: CpuTimes, b: CpuTimes): CpuTimes => ({ user: a.user + b.user, system: a.system + b.system });

/** One reading of the measured processes and of this process, at the same instant. */
export function snapshot(pids: readonly number[]): Snapshot {
  return {
    wallMs: performance.now(),
    gateway: pids.map(processCpu).reduce(add, { user: 0, system: 0 }),
    gatewayMains: pids.map(mainThreadCpu),
    gatewayThreads: pids.reduce((threads, pid) => threadCpu(pid, threads), new Map<number, number>()),
    gatewayRss: treeBytes(pids, 'VmRSS'),
    selfCpu: process.cpuUsage(),
    machine: machineCpu(),
  };
}

/** CPU seconds per wall second: 1.0 = one core fully busy. */
export interface WindowUsage {
  wallS: number;
  gatewayCores: number;
  /** Share of gatewayCores spent in the kernel. */
  gatewaySystemCores: number;
  /**
   * The event loop threads together; the rest is the libuv pool (file I/O), V8's helpers (GC,
   * compiler) and agent worker threads.
   */
  gatewayMainCores: number;
  /** The busiest single event loop thread: a process saturates when this nears 1. */
  busiestMainCores: number;
  /** The busiest single thread of any kind (an agent worker's, say): the work it carries cannot grow past 1. */
  busiestThreadCores: number;
  selfCores: number;
  /** Everything that ran on the machine, and the time the hypervisor took away. */
  machineBusyCores: number;
  machineStealCores: number;
}

const total = (t: CpuTimes) => t.user + t.system;

/** The most CPU seconds any one thread spent between two readings (a thread born meanwhile counts from 0). */
function busiestThread(from: Map<number, number>, to: Map<number, number>): number {
  let most = 0;
  for (const [tid, seconds] of to) most = Math.max(most, seconds - (from.get(tid) ?? 0));
  return most;
}

export function windowUsage(from: Snapshot, to: Snapshot): WindowUsage {
  const wallS = (to.wallMs - from.wallMs) / 1000;
  const selfUs = to.selfCpu.user + to.selfCpu.system - (from.selfCpu.user + from.selfCpu.system);
  const mains = to.gatewayMains.map((t, i) => (total(t) - total(from.gatewayMains[i] ?? { user: 0, system: 0 })) / wallS);
  return {
    wallS,
    gatewayCores: (total(to.gateway) - total(from.gateway)) / wallS,
    gatewaySystemCores: (to.gateway.system - from.gateway.system) / wallS,
    gatewayMainCores: mains.reduce((a, b) => a + b, 0),
    busiestMainCores: Math.max(0, ...mains),
    busiestThreadCores: busiestThread(from.gatewayThreads, to.gatewayThreads) / wallS,
    selfCores: selfUs / 1e6 / wallS,
    machineBusyCores: (to.machine.busy - from.machine.busy) / wallS,
    machineStealCores: (to.machine.steal - from.machine.steal) / wallS,
  };
}
