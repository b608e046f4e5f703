// Duration statistics for one telemetry key. Count, sum, min and max cover every sample since
// start; percentiles come from a bounded reservoir of the most recent samples, so memory stays
// fixed however long the process runs and percentiles follow current behaviour.

export interface DurationSummary {
  avg_ms: number | null;
  min_ms: number | null;
  max_ms: number | null;
  p50_ms: number | null;
  p90_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
}

export const DEFAULT_RESERVOIR_SIZE = 4096;

/**
 * Nearest-rank percentile: the smallest value such that at least p% of the samples are less than
 * or equal to it, i.e. the value at 1-based rank ceil(p/100 * n) of the ascending samples. It
 * always returns an observed value (no interpolation). `sorted` must be ascending and non-empty;
 * `p` is in (0, 100].
 */
export function nearestRank(sorted: ArrayLike<number>, p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

/** Every figure is rounded to microseconds (3 decimals of ms): finer is noise, and JSON stays readable. */
function roundMs(value: number): number {
  return Math.round(value * 1000) / 1000;
}

export class DurationStats {
  private count = 0;
  private sum = 0;
  private min = Infinity;
  private max = -Infinity;
  // Ring of the last `capacity` samples; `filled` grows to capacity, then `next` wraps around.
  private readonly reservoir: Float64Array;
  private filled = 0;
  private next = 0;

  constructor(capacity: number = DEFAULT_RESERVOIR_SIZE) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`reservoir capacity must be a positive integer, got ${capacity}`);
    }
    this.reservoir = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.count += 1;
    this.sum += ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
    this.reservoir[this.next] = ms;
    this.next = (this.next + 1) % this.reservoir.length;
    if (this.filled < this.reservoir.length) this.filled += 1;
  }

  summarize(): DurationSummary {
    if (this.count === 0) {
      return { avg_ms: null, min_ms: null, max_ms: null, p50_ms: null, p90_ms: null, p95_ms: null, p99_ms: null };
    }
    // Typed-array sort is numeric; the copy keeps the ring order intact for later adds.
    const sorted = this.reservoir.slice(0, this.filled).sort();
    return {
      avg_ms: roundMs(this.sum / this.count),
      min_ms: roundMs(this.min),
      max_ms: roundMs(this.max),
      p50_ms: roundMs(nearestRank(sorted, 50)),
      p90_ms: roundMs(nearestRank(sorted, 90)),
      p95_ms: roundMs(nearestRank(sorted, 95)),
      p99_ms: roundMs(nearestRank(sorted, 99)),
    };
  }
}
