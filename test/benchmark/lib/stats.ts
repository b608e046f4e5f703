// Small statistics and formatting helpers shared by the benchmark suites.

export interface Distribution {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** A number with a sensible precision for a report: 3 significant digits below 100. */
export function fmt(value: number, unit = ''): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return `${value.toFixed(digits)}${unit}`;
}

export const MB = 1024 * 1024;

/** Below FINE_LIMIT_MS latencies are kept to 10 µs, above it to 1 ms, up to COARSE_LIMIT_MS. */
const FINE_MS = 0.01;
const FINE_LIMIT_MS = 100;
const COARSE_MS = 1;
const COARSE_LIMIT_MS = 10_000;
const FINE_BUCKETS = Math.round(FINE_LIMIT_MS / FINE_MS);
const BUCKETS = FINE_BUCKETS + Math.round((COARSE_LIMIT_MS - FINE_LIMIT_MS) / COARSE_MS);

/**
 * Latencies counted in fixed buckets: a load run takes a sample per frame (hundreds of thousands),
 * so memory must not grow with them. Percentiles are read as the upper edge of their bucket (never
 * flattering by more than the bucket width); n, mean and max are exact.
 */
export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private n = 0;
  private sum = 0;
  private max = Number.NEGATIVE_INFINITY;

  add(ms: number): void {
    const v = Math.max(0, ms);
    this.counts[bucketOf(v)]!++;
    this.n++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  distribution(): Distribution {
    if (this.n === 0) return { n: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
    return { n: this.n, p50: this.percentile(50), p99: this.percentile(99), max: this.max, mean: this.sum / this.n };
  }

  /** Nearest rank, as `percentile` above. */
  private percentile(p: number): number {
    const rank = Math.min(this.n, Math.max(1, Math.ceil((p / 100) * this.n)));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return Math.min(this.max, upperEdge(b));
    }
    return this.max;
  }
}

function bucketOf(ms: number): number {
  if (ms < FINE_LIMIT_MS) return Math.floor(ms / FINE_MS);
  return Math.min(BUCKETS - 1, FINE_BUCKETS + Math.floor((ms - FINE_LIMIT_MS) / COARSE_MS));
}

function upperEdge(bucket: number): number {
  if (bucket < FINE_BUCKETS) return (bucket + 1) * FINE_MS;
  return FINE_LIMIT_MS + (bucket - FINE_BUCKETS + 1) * COARSE_MS;
}
