// The gateway's Prometheus metrics, in a registry of its own (tests run several gateways in one
// process; the global registry would mix them). Two kinds of figures:
//   - per-frame counts (caller frames in, agent frames out, padded and bad frames) are never
//     touched per frame: each call counts them in its own CallStats, ended calls are folded into
//     totals here once, and a scrape adds up totals and the live calls (collect() callbacks);
//   - events (a call's end, a turn, a barge-in, a mark echo, a status change) observe prom-client
//     metrics directly: they are rare next to frames.
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BadFrameKind, CallStats, CallSummary } from '../call/call-types.js';
import type { TaskStatus } from '../tasks/model.js';
import type { EventLoopReport } from '../telemetry/event-loop.js';
import type { CallMeters, SignatureCheck, TaskMeters } from './meters.js';

/** One process's metrics as prom-client's JSON: what workers send each other to be combined. */
export type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

/** What a scrape reads from the gateway. */
export interface MetricSources {
  /** The counts of every call still open (streams that have not ended); read at scrape time. */
  liveCalls(): Iterable<Readonly<CallStats>>;
  /** Streams that sent `start` and are still open. */
  activeCalls(): number;
  /** The event loop over the last complete report interval, if one has ended. */
  eventLoop(): EventLoopReport | undefined;
}

/** Turn latencies worth telling apart: a good voice agent answers in 0.5-1 s, a poor one in 2-3 s. */
const TURN_LATENCY_BUCKETS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1, 1.25, 1.5, 2, 2.5, 3, 5];
/** A barge-in is handled in the process that hears it: microseconds, or milliseconds across a worker thread. */
const BARGE_IN_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const CONNECT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10];
/** A mark echoes once the audio sent before it has played: up to a whole utterance's length. */
const MARK_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30];

/** Frame counts of the calls that have ended, kept as plain numbers. */
class FrameTotals {
  framesIn = 0;
  framesOut = 0;
  framesPadded = 0;
  readonly badFrames = new Map<BadFrameKind, number>();

  add(stats: Readonly<CallStats>): void {
    this.framesIn += stats.framesIn;
    this.framesOut += stats.playback.framesSent;
    this.framesPadded += stats.framesPadded;
    for (const [kind, count] of Object.entries(stats.badFrames) as Array<[BadFrameKind, number]>) {
      this.badFrames.set(kind, (this.badFrames.get(kind) ?? 0) + count);
    }
  }
}

export class GatewayMetrics implements CallMeters, TaskMeters {
  readonly registry = new Registry();
  private readonly ended = new FrameTotals();
  /** Stats already in `ended`: a call that ended but is not yet out of the registry is not counted twice. */
  private readonly folded = new WeakSet<object>();
  private readonly callsEnded: Counter<'agent' | 'reason'>;
  private readonly turnLatencySeconds: Histogram<'agent'>;
  private readonly bargeInSeconds: Histogram;
  private readonly agentConnectSeconds: Histogram<'agent'>;
  private readonly agentReconnects: Counter<'agent'>;
  private readonly markRoundTripSeconds: Histogram;
  private readonly recordings: Counter<'result'>;
  private readonly taskStatusChanges: Counter<'status'>;
  private readonly analyses: Counter<'result'>;
  private readonly signatureFailures: Counter<'check'>;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const totals = this.ended;
    const live = (): Array<Readonly<CallStats>> => [...sources.liveCalls()].filter((stats) => !this.folded.has(stats));
    const sumOf = (pick: (stats: Readonly<CallStats>) => number) => (base: number) => live().reduce((sum, stats) => sum + pick(stats), base);

    new Gauge({
      name: 'gateway_calls_active',
      help: 'Media streams that sent start and are still open.',
      registers,
      collect() {
        this.set(sources.activeCalls());
      },
    });
    this.callsEnded = new Counter({ name: 'gateway_calls_ended_total', help: 'Media streams ended, by agent and end reason.', labelNames: ['agent', 'reason'], registers });
    scrapedCounter(registers, 'gateway_caller_frames_in_total', 'Caller audio frames (20 ms) received and placed in a call.', () => sumOf((s) => s.framesIn)(totals.framesIn));
    scrapedCounter(registers, 'gateway_agent_frames_out_total', 'Agent audio frames (20 ms) sent to Twilio.', () => sumOf((s) => s.playback.framesSent)(totals.framesOut));
    scrapedCounter(registers, 'gateway_padded_frames_total', 'Caller frames missing from a stream and replaced with silence for the agent.', () =>
      sumOf((s) => s.framesPadded)(totals.framesPadded),
    );
    new Counter({
      name: 'gateway_bad_frames_total',
      help: 'Frames from Twilio that were counted and skipped, by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        const byKind = new Map(totals.badFrames);
        for (const stats of live()) {
          for (const [kind, count] of Object.entries(stats.badFrames) as Array<[BadFrameKind, number]>) byKind.set(kind, (byKind.get(kind) ?? 0) + count);
        }
        this.reset();
        for (const [kind, count] of byKind) this.inc({ kind }, count);
      },
    });
    this.turnLatencySeconds = new Histogram({
      name: 'gateway_turn_latency_seconds',
      help: "End of the caller's speech to the agent's first audio sent back, by agent.",
      labelNames: ['agent'],
      buckets: TURN_LATENCY_BUCKETS,
      registers,
    });
    this.bargeInSeconds = new Histogram({
      name: 'gateway_barge_in_stop_seconds',
      help: "From the agent's barge-in signal to the clear sent to Twilio.",
      buckets: BARGE_IN_BUCKETS,
      registers,
    });
    this.agentConnectSeconds = new Histogram({
      name: 'gateway_agent_connect_seconds',
      help: "From a call's admission to its agent's connection being ready, by agent.",
      labelNames: ['agent'],
      buckets: CONNECT_BUCKETS,
      registers,
    });
    this.agentReconnects = new Counter({ name: 'gateway_agent_reconnects_total', help: "Agent connections reopened after a drop mid-call, by agent.", labelNames: ['agent'], registers });
    this.markRoundTripSeconds = new Histogram({
      name: 'gateway_mark_round_trip_seconds',
      help: "From a mark sent to Twilio to its echo (the utterance's remaining playout included).",
      buckets: MARK_BUCKETS,
      registers,
    });
    gaugeOf(registers, 'gateway_event_loop_delay_p99_seconds', 'Event-loop delay, p99 over the last 10 s report interval (the worst worker with WORKERS > 1).', () =>
      seconds(sources.eventLoop()?.p99Ms),
    );
    gaugeOf(registers, 'gateway_event_loop_delay_max_seconds', 'Event-loop delay, maximum over the last 10 s report interval.', () => seconds(sources.eventLoop()?.maxMs));
    gaugeOf(registers, 'gateway_event_loop_utilization_ratio', 'Share of the last 10 s report interval the event loop was busy, 0..1 (the busiest worker).', () =>
      sources.eventLoop()?.utilization ?? 0,
    );
    this.recordings = new Counter({
      name: 'gateway_recordings_total',
      help: 'Call recordings by result: written (a WAV was finalized), incomplete (written with blocks missing after write errors), failed (no WAV).',
      labelNames: ['result'],
      registers,
    });
    this.taskStatusChanges = new Counter({ name: 'gateway_task_status_changes_total', help: 'Task status changes, by the status moved to.', labelNames: ['status'], registers });
    this.analyses = new Counter({ name: 'gateway_analyses_total', help: 'Post-call analyses settled, by result (ready, failed).', labelNames: ['result'], registers });
    this.signatureFailures = new Counter({
      name: 'gateway_twilio_signature_failures_total',
      help: 'Twilio requests refused for a missing or wrong X-Twilio-Signature, by check (webhook, media_stream).',
      labelNames: ['check'],
      registers,
    });
  }

  /** The Prometheus text of this process alone. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** This process's metrics as JSON, for a scrape that gathers every worker's (see fleet-metrics.ts). */
  json(): Promise<MetricJson[]> {
    return this.registry.getMetricsAsJSON();
  }

  agentConnected(agent: string, seconds: number): void {
    this.agentConnectSeconds.observe({ agent }, seconds);
  }

  agentReconnecting(agent: string): void {
    this.agentReconnects.inc({ agent });
  }

  turnLatency(agent: string, seconds: number): void {
    this.turnLatencySeconds.observe({ agent }, seconds);
  }

  bargeInStopped(seconds: number): void {
    this.bargeInSeconds.observe(seconds);
  }

  markRoundTrip(seconds: number): void {
    this.markRoundTripSeconds.observe(seconds);
  }

  recordingFailed(): void {
    this.recordings.inc({ result: 'failed' });
  }

  callEnded(summary: CallSummary, agent: string | undefined): void {
    this.callsEnded.inc({ agent: agent ?? 'none', reason: summary.reason });
    if (summary.recording) this.recordings.inc({ result: summary.recording.failedWrites > 0 ? 'incomplete' : 'written' });
    this.folded.add(summary.stats);
    this.ended.add(summary.stats);
  }

  statusChanged(status: TaskStatus): void {
    this.taskStatusChanges.inc({ status });
  }

  analysisSettled(result: 'ready' | 'failed'): void {
    this.analyses.inc({ result });
  }

  signatureRefused(check: SignatureCheck): void {
    this.signatureFailures.inc({ check });
  }
}

/** One text exposition from several processes' JSON: counters and histograms summed, gauges as each declares. */
export function aggregateText(perProcess: MetricJson[][]): Promise<string> {
  return AggregatorRegistry.aggregate(perProcess as object[]).metrics();
}

function scrapedCounter(registers: Registry[], name: string, help: string, value: () => number): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(value());
    },
  });
}

/** A gauge read at scrape time; `max` when workers' figures are combined: the worst worker shows. */
function gaugeOf(registers: Registry[], name: string, help: string, value: () => number): void {
  new Gauge({
    name,
    help,
    registers,
    aggregator: 'max',
    collect() {
      this.set(value());
    },
  });
}

const seconds = (ms: number | undefined): number => (ms ?? 0) / 1000;
