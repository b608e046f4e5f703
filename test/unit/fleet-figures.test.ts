// Figures of several workers combined into the fleet's.
import { expect } from 'chai';
import { combineHealth, combineRecent, combineSummaries } from '../../src/fleet/figures.js';
import type { SummaryRow } from '../../src/telemetry/events.js';

const row = (action: string, count: number, avg: number | null, min: number | null, max: number | null, p99: number | null): SummaryRow => ({
  component: 'call',
  action,
  count,
  avg_ms: avg,
  min_ms: min,
  max_ms: max,
  p50_ms: p99,
  p90_ms: p99,
  p95_ms: p99,
  p99_ms: p99,
});

describe('fleet figures', () => {
  it('/health: calls, streams and the cap summed, uptime the longest, workers counted', () => {
    const fleet = combineHealth([
      { active_calls: 2, pending_streams: 1, max_concurrent_calls: 150, uptime_s: 40 },
      { active_calls: 3, pending_streams: 0, max_concurrent_calls: 150, uptime_s: 38 },
    ]);
    expect(fleet).to.deep.equal({ active_calls: 5, pending_streams: 1, max_concurrent_calls: 300, uptime_s: 40, workers: 2 });
  });

  it('summary rows: counts summed, mean weighted by count, min of minima, max of maxima and percentiles, rows only one worker has kept', () => {
    const rows = combineSummaries([
      [row('turn', 1, 100, 100, 100, 100), row('only_a', 2, 5, 4, 6, 6)],
      [row('turn', 3, 200, 150, 300, 290), row('no_durations', 4, null, null, null, null)],
    ]);
    expect(rows.map((r) => r.action)).to.deep.equal(['no_durations', 'only_a', 'turn']);
    const turn = rows.find((r) => r.action === 'turn')!;
    expect(turn).to.include({ count: 4, avg_ms: 175, min_ms: 100, max_ms: 300, p99_ms: 290, p50_ms: 290 });
    expect(rows.find((r) => r.action === 'no_durations')).to.include({ count: 4, avg_ms: null });
  });

  it('recent events: the newest of all workers first, cut to the limit', () => {
    const ev = (ts: string) => ({ ts, component: 'c', action: 'a' });
    const merged = combineRecent([[ev('2026-01-01T00:00:03Z'), ev('2026-01-01T00:00:01Z')], [ev('2026-01-01T00:00:02Z')]], 2);
    expect(merged.map((e) => e.ts)).to.deep.equal(['2026-01-01T00:00:03Z', '2026-01-01T00:00:02Z']);
  });

});
