// With WORKERS > 1 Prometheus reaches one port and each scrape lands on one worker, which must
// answer for the whole gateway. The worker asks its fleet (the request machinery /health uses)
// for every member's metrics as JSON and combines them with prom-client's aggregator: counters
// and histograms summed, gauges as each declares (event-loop figures: the worst worker).
//
// Only the members of this gateway instance answer: with DATABASE_URL the fleet spans every
// instance, and each instance is its own Prometheus target, so a fleet-wide sum scraped from
// every target would count the fleet once per instance.
import { hostname } from 'node:os';
import cluster from 'node:cluster';
import type { FleetRequests } from '../fleet/requests.js';
import { aggregateText, type GatewayMetrics, type MetricJson } from './gateway-metrics.js';

const METRICS_REQUEST = 'metrics';

interface MetricsQuery {
  instance: string;
}

/**
 * The processes of one gateway instance share this key: a cluster's workers their primary's pid
 * on this host; a gateway serving alone (or several in one test process) its own member id.
 */
export function instanceKey(memberId: string): string {
  return cluster.isWorker ? `${hostname()}:${process.ppid}` : memberId;
}

export class FleetMetrics {
  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly requests: FleetRequests,
    private readonly members: () => readonly string[],
    private readonly instance: string,
  ) {
    requests.handle<MetricsQuery, MetricJson[] | null>(METRICS_REQUEST, ({ instance }) => (instance === this.instance ? metrics.json() : null));
  }

  /** The exposition text for this instance: every worker's, combined; this process's alone when it is the fleet. */
  async scrape(): Promise<string> {
    if (this.members().length < 2) return this.metrics.text();
    const { replies } = await this.requests.ask<MetricJson[] | null>(METRICS_REQUEST, { instance: this.instance } satisfies MetricsQuery);
    const parts = replies.flatMap((reply) => (reply.answer === null ? [] : [reply.answer]));
    // The channel failed to bring even this member's own answer back: its own figures at least.
    if (parts.length === 0) return this.metrics.text();
    return aggregateText(parts);
  }
}
