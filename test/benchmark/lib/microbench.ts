// A small in-process timing harness: warm up, size the runs so each lasts long enough for the
// clock, time several runs, report the median. Results are kept in a module variable so V8
// cannot drop the work as dead code.
import { performance } from 'node:perf_hooks';
import { median } from './stats.js';

export interface MicroCase {
  name: string;
  /** Untimed: prepares a run of `iterations` calls (a fresh recorder, a fresh session...). */
  before?: (iterations: number) => Promise<void> | void;
  /** The timed operation; `i` counts from 0 within each run. */
  op: (i: number) => unknown;
  /** Untimed: cleans up after a run (finalize a recorder, end a session...). */
  after?: () => Promise<void> | void;
}

export interface MicroResult {
  name: string;
  /** Median over the runs. */
  nsPerOp: number;
  runsNs: number[];
  iterations: number;
}

export interface MicroOptions {
  runs: number;
  minIterations: number;
  /** Runs grow past minIterations until each lasts about this long. */
  targetRunMs: number;
  warmupIterations: number;
}

export const DEFAULT_MICRO: MicroOptions = { runs: 7, minIterations: 20_000, targetRunMs: 20, warmupIterations: 10_000 };
const MAX_ITERATIONS = 2_000_000;

let blackhole: unknown;

/** Keeps the last result observable; read it so the compiler must compute it. */
export function sink(): unknown {
  return blackhole;
}

async function timedRun(c: MicroCase, iterations: number): Promise<number> {
  await c.before?.(iterations);
  const op = c.op;
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) blackhole = op(i);
  const elapsedMs = performance.now() - t0;
  await c.after?.();
  return (elapsedMs * 1e6) / iterations;
}

export async function measure(c: MicroCase, opts: MicroOptions = DEFAULT_MICRO): Promise<MicroResult> {
  // The warm-up lets V8 optimize the path and gives a first cost estimate to size the runs.
  const estimateNs = await timedRun(c, opts.warmupIterations);
  const wanted = Math.ceil((opts.targetRunMs * 1e6) / Math.max(estimateNs, 1));
  const iterations = Math.min(MAX_ITERATIONS, Math.max(opts.minIterations, wanted));
  const runsNs: number[] = [];
  for (let run = 0; run < opts.runs; run++) runsNs.push(await timedRun(c, iterations));
  return { name: c.name, nsPerOp: median(runsNs), runsNs, iterations };
}
