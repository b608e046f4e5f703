// Figures of several workers made into the fleet's: what /health and /api/telemetry/* show when
// a request lands on any one worker. Counts are summed; maxima and uptime take the largest; a
// mean is weighted by its count; a percentile takes the largest worker's, which is an upper bound
// of the fleet's (at least p % of every worker's samples lie at or below it, so p % of all do).
import type { SummaryRow, TelemetryEvent } from '../telemetry/events.js';

/** One worker's share of /health. */
export interface WorkerHealth {
  active_calls: number;
  pending_streams: number;
  /** MAX_CONCURRENT_CALLS holds per worker process; the fleet takes the sum. */
  max_concurrent_calls: number;
  uptime_s: number;
}

export interface FleetHealth extends WorkerHealth {
  /** Workers whose figures are in this answer. */
  workers: number;
}

export function combineHealth(parts: readonly WorkerHealth[]): FleetHealth {
  const total: FleetHealth = { active_calls: 0, pending_streams: 0, max_concurrent_calls: 0, uptime_s: 0, workers: parts.length };
  for (const part of parts) {
    total.active_calls += part.active_calls;
    total.pending_streams += part.pending_streams;
    total.max_concurrent_calls += part.max_concurrent_calls;
    total.uptime_s = Math.max(total.uptime_s, part.uptime_s);
  }
  return total;
}

const PERCENTILES = ['p50_ms', 'p90_ms', 'p95_ms', 'p99_ms'] as const;

/** One row per component/action over every worker, in the order one worker's summary uses. */
export function combineSummaries(parts: readonly (readonly SummaryRow[])[]): SummaryRow[] {
  const byKey = new Map<string, SummaryRow>();
  for (const rows of parts) {
    for (const row of rows) {
      const key = `${row.component}\u0000${row.action}`;
      const seen = byKey.get(key);
      byKey.set(key, seen ? mergeRows(seen, row) : { ...row });
    }
  }
  return [...byKey.values()].sort((a, b) => codePointOrder(a.component, b.component) || codePointOrder(a.action, b.action));
}

function mergeRows(a: SummaryRow, b: SummaryRow): SummaryRow {
  const merged: SummaryRow = {
    ...a,
    count: a.count + b.count,
    avg_ms: weightedMean(a, b),
    min_ms: pick(a.min_ms, b.min_ms, Math.min),
    max_ms: pick(a.max_ms, b.max_ms, Math.max),
  };
  for (const p of PERCENTILES) merged[p] = pick(a[p], b[p], Math.max);
  return merged;
}

/** Weighted by the rows' event counts (a row's durations come from its events). */
function weightedMean(a: SummaryRow, b: SummaryRow): number | null {
  if (a.avg_ms === null) return b.avg_ms;
  if (b.avg_ms === null) return a.avg_ms;
  return (a.avg_ms * a.count + b.avg_ms * b.count) / (a.count + b.count);
}

function pick(a: number | null, b: number | null, choose: (x: number, y: number) => number): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return choose(a, b);
}

/** The newest `limit` events of all workers, newest first, as one worker's recent() answers. */
export function combineRecent(parts: readonly (readonly TelemetryEvent[])[], limit: number): TelemetryEvent[] {
  // ISO timestamps of one clock (one machine) sort as strings.
  return parts.flat().sort((a, b) => codePointOrder(b.ts, a.ts)).slice(0, limit);
}

function codePointOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
