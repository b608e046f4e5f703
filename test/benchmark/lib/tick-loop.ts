// One drift-corrected tick loop for every call: a single timer per tick however many calls there
// are. Tick n is aimed at start + n × tickMs, so timer lateness never accumulates; a tick that
// comes very late skips the ticks it overran (the callback sends everything due anyway). A timer
// may fire a fraction of a millisecond early; that tick still counts as its own.
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldTurn, setTimeout as sleep } from 'node:timers/promises';

export interface TickLoopOptions {
  tickMs: number;
  /** performance.now() after which the loop ends whatever the callback says. */
  deadlineMs: number;
  /** Runs once per tick; returns false when there is nothing left to do. */
  onTick(now: number): boolean;
}

/** A tick this late means the load generator was stalled (GC, or the machine descheduled it). */
export const STALL_MS = 10;
const MAX_STALLS = 200;

export interface Stall {
  /** performance.now() when the late tick finally ran. */
  atMs: number;
  lateMs: number;
}

export interface TickLoopResult {
  ticks: number;
  /** How late each tick ran after its target, in ms: the load generator's own scheduling delay. */
  lateness: number[];
  /** performance.now() of the tick that ran latest (the worst lateness). */
  worstAtMs: number;
  /** Ticks that ran over STALL_MS late (the first MAX_STALLS): when the load generator itself was not running. */
  stalls: Stall[];
  /** True when the deadline ended the loop. */
  timedOut: boolean;
}

export async function runTickLoop(opts: TickLoopOptions): Promise<TickLoopResult> {
  const start = performance.now();
  const maxTicks = Math.ceil((opts.deadlineMs - start) / opts.tickMs) + 1;
  const lateness: number[] = [];
  const stalls: Stall[] = [];
  let worst = { late: -1, at: start };
  let target = start;
  for (let ticks = 1; ticks <= maxTicks; ticks++) {
    const wait = target - performance.now();
    // Under a millisecond a timer would fire late anyway; just let pending I/O run.
    if (wait >= 1) await sleep(wait);
    else await yieldTurn();
    const now = performance.now();
    const late = Math.max(0, now - target);
    lateness.push(late);
    if (late > worst.late) worst = { late, at: now };
    if (late > STALL_MS && stalls.length < MAX_STALLS) stalls.push({ atMs: now, lateMs: late });
    if (now > opts.deadlineMs) return { ticks, lateness, worstAtMs: worst.at, stalls, timedOut: true };
    if (!opts.onTick(now)) return { ticks, lateness, worstAtMs: worst.at, stalls, timedOut: false };
    target += opts.tickMs;
    // Overran a whole tick (a GC pause, a busy machine): skip to the next tick still ahead.
    if (target <= now) target = start + (Math.floor((now - start) / opts.tickMs) + 1) * opts.tickMs;
  }
  return { ticks: maxTicks, lateness, worstAtMs: worst.at, stalls, timedOut: true };
}

/** Whether a wait [at − ms, at] (a reply, an echo) overlaps a stall [atMs − lateMs, atMs] of the load generator. */
export function overlapsStall(wait: { ms: number; at: number }, stalls: readonly Stall[]): boolean {
  return stalls.some((s) => s.atMs - s.lateMs < wait.at && s.atMs > wait.at - wait.ms);
}
