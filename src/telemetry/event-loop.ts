// The event loop's health, the figure a real-time Node service lives by: every caller frame and
// every agent chunk waits for the one thread. Node samples the loop's delay natively (no work of
// ours per frame); each report records its percentiles over the last interval and how busy the
// loop was, as a `runtime/event_loop` telemetry event (duration_ms = the interval's p99 delay).
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import type { Telemetry } from './events.js';

export const EVENT_LOOP_REPORT_MS = 10_000;
/**
 * Node's histogram times a timer of this period and records the whole time between firings, so
 * an idle loop reads about 10 ms: the period is subtracted to leave the delay.
 */
const RESOLUTION_MS = 10;
const NS_PER_MS = 1e6;

/** A histogram value (ns) as delay past the timer's period, in ms. */
const delayMs = (ns: number): number => Math.max(0, ns / NS_PER_MS - RESOLUTION_MS);

export interface EventLoopReport {
  /** Delay percentiles over the interval, ms (0 when nothing was sampled). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Share of the interval the loop spent running callbacks rather than waiting, 0..1. */
  utilization: number;
}

export class EventLoopMonitor {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private lastUtilization: EventLoopUtilization = performance.eventLoopUtilization();
  private timer: NodeJS.Timeout | undefined;
  /** The last interval's figures (for /metrics), once one has been reported. */
  latest: EventLoopReport | undefined;

  constructor(
    private readonly telemetry: Telemetry,
    private readonly intervalMs = EVENT_LOOP_REPORT_MS,
  ) {}

  start(): void {
    if (this.timer) return;
    this.histogram.enable();
    this.lastUtilization = performance.eventLoopUtilization();
    // unref: the monitor never keeps the process alive.
    this.timer = setInterval(() => this.report(), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.histogram.disable();
  }

  /** Reads and resets the interval's figures, and records them. */
  report(): EventLoopReport {
    const h = this.histogram;
    const sampled = h.count > 0;
    const now = performance.eventLoopUtilization();
    const report: EventLoopReport = {
      p50Ms: sampled ? delayMs(h.percentile(50)) : 0,
      p99Ms: sampled ? delayMs(h.percentile(99)) : 0,
      maxMs: sampled ? delayMs(h.max) : 0,
      utilization: performance.eventLoopUtilization(now, this.lastUtilization).utilization,
    };
    this.lastUtilization = now;
    this.latest = report;
    h.reset();
    this.telemetry.record('runtime', 'event_loop', {
      durationMs: round(report.p99Ms),
      p50Ms: round(report.p50Ms),
      maxMs: round(report.maxMs),
      utilization: Math.round(report.utilization * 1000) / 1000,
    });
    return report;
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100;
