// The search for the largest load a target carries within its goals: step the call count up from
// a start, one full run per step, and stop at the first step that misses a goal (the answer is the
// step before it) or that passes with no room left (CPU saturated: the answer is that step, and a
// larger one could only queue). Each step's run is reported as it ends, so a long search shows
// its progress.

/** What a step's run says about the search. */
export type StepVerdict =
  /** Within the goals; `saturated` says why no larger step is worth running. */
  | { ok: true; saturated?: string }
  /** A goal missed, or the run broke: the search ends below this step. */
  | { ok: false; why: string };

export interface SearchStep<R> {
  calls: number;
  result: R;
  verdict: StepVerdict;
}

export interface SearchOutcome<R> {
  steps: SearchStep<R>[];
  /** The largest call count that met every goal; undefined when even the first step did not. */
  largest: number | undefined;
  /** Why the search stopped where it did. */
  stoppedBecause: string;
}

export interface SearchOptions<R> {
  start: number;
  step: number;
  /** No step beyond this many calls. */
  max: number;
  run(calls: number): Promise<R>;
  judge(result: R): StepVerdict;
  /** Told of each step once its run has ended. */
  onStep?(step: SearchStep<R>): void;
}

export async function findLargest<R>(opts: SearchOptions<R>): Promise<SearchOutcome<R>> {
  if (!(opts.start >= 1 && opts.step >= 1 && opts.max >= opts.start)) throw new RangeError('findLargest needs 1 <= start <= max and step >= 1');
  const steps: SearchStep<R>[] = [];
  let largest: number | undefined;
  for (let calls = opts.start; ; calls = Math.min(opts.max, calls + opts.step)) {
    const result = await opts.run(calls);
    const verdict = opts.judge(result);
    const step = { calls, result, verdict };
    steps.push(step);
    opts.onStep?.(step);
    if (!verdict.ok) return { steps, largest, stoppedBecause: `${calls} calls: ${verdict.why}` };
    largest = calls;
    if (verdict.saturated) return { steps, largest, stoppedBecause: `${calls} calls: ${verdict.saturated}` };
    if (calls >= opts.max) return { steps, largest, stoppedBecause: `reached the largest step asked for (${opts.max} calls)` };
  }
}
