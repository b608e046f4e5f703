// Issue 9's isolation figure: does a LiveKit pipeline beside Deepgram-path calls make them worse?
// The Deepgram-path load (N probed calls, every frame timed as in deepgram.ts) runs twice through
// the same bench-only gateway (lib/mixed-gateway-main.ts): alone, then with M pipeline calls beside
// it in the same process (their sessions in its agent workers, the provider stand-ins in their own
// process). The figure is the ratio of the two p99 relay latencies; the goal is at most 1.3x.
// Each repeat runs both, in alternating order so a drift of the machine's load does not always
// favour one side; the report gives each repeat's ratio and their median.
import { loadCallScripts, type CallScript } from './lib/call-script.js';
import { LeanCaller } from './lib/lean-caller.js';
import { BENCH_AGENT_PARAM, DEFAULT_AGENT_WORKERS, pipelineTurnOracle, startPipelineStandIns, workerNiceEnv, type PipelineStandIns } from './lib/modes.js';
import { DEADLINE_SLACK_MS, PHASE_STEP, STAGGER_MS } from './lib/load-shape.js';
import { DRAIN_MS } from './lib/probe-caller.js';
import { fmt, median } from './lib/stats.js';
import type { CpuLayout } from './lib/cpu-pinning.js';
import { deepgramGatewayEnv, formatDeepgramReport, runDeepgramSuite, type DeepgramResult, type TargetResult, type TargetSpec } from './deepgram.js';

export const ISOLATION_GOAL = { maxP99Ratio: 1.3 } as const;

export interface IsolationOptions {
  /** Deepgram-path calls, probed (issue 9: 100). */
  calls: number;
  /** Pipeline calls beside them (issue 9: 20). */
  pipelineCalls: number;
  seconds: number;
  tickMs: number;
  warmupS: number;
  /** The gateway's AGENT_WORKERS; undefined: its default. */
  agentWorkers: number | undefined;
  /** The gateway's AGENT_WORKER_NICE; undefined: its default. */
  agentWorkerNice?: number;
  repeats: number;
  nodeArgs?: readonly string[];
  layout?: CpuLayout;
}

/** One repeat's figures; the full reports are in `runs`. */
export interface IsolationRepeat {
  aloneP99Ms: number;
  besideP99Ms: number;
  /** p99 with the pipeline calls over p99 alone. */
  p99Ratio: number;
  /** The gateway's CPU, of one core, without and with the pipeline calls. */
  aloneCpuPct: number;
  besideCpuPct: number;
  /** Frames the pipeline calls lost on their way into the gateway. */
  pipelineFramesLost: number;
}

export interface IsolationResult {
  calls: number;
  pipelineCalls: number;
  agentWorkers: number;
  agentWorkerNice: number | undefined;
  runs: DeepgramResult[];
  repeats: IsolationRepeat[];
  median: { aloneP99Ms: number; besideP99Ms: number; p99Ratio: number };
  goal: boolean;
  broken: string | undefined;
}

/** The bench-only gateway that hosts both kinds of call; `beside`: the pipeline calls it carries, if any. */
function mixedGateway(standIns: PipelineStandIns, agentWorkers: number, nice: number | undefined, beside: { calls: number; scripts: CallScript[] } | undefined): TargetSpec {
  return {
    key: beside ? 'with-pipeline' : 'alone',
    role: 'gateway',
    label: beside ? `gateway with ${beside.calls} pipeline calls beside` : 'gateway alone',
    description: `test/benchmark/lib/mixed-gateway-main.ts (src/gateway.ts, a call with ${BENCH_AGENT_PARAM}=livekit to the pipeline in ${agentWorkers} agent worker(s), others to Deepgram)`,
    entry: 'test/benchmark/lib/mixed-gateway-main.ts',
    env: (converseUrl, root) => ({ ...deepgramGatewayEnv(converseUrl, root), ...standIns.env, AGENT_WORKERS: String(agentWorkers), ...workerNiceEnv(nice) }),
    isGateway: true,
    beside: beside && {
      calls: beside.calls,
      description: 'LiveKit pipeline calls speaking the fixtures',
      newCaller: (stream) => {
        const script = beside.scripts[stream.index % beside.scripts.length]!;
        return new LeanCaller({
          ...stream,
          script,
          scriptOffset: Math.floor(((stream.index * PHASE_STEP) % 1) * script.frames.length),
          oracle: pipelineTurnOracle(),
          customParameters: { [BENCH_AGENT_PARAM]: 'livekit' },
        });
      },
    },
  };
}

export async function runIsolationSuite(opts: IsolationOptions): Promise<IsolationResult> {
  const agentWorkers = opts.agentWorkers ?? DEFAULT_AGENT_WORKERS;
  const perRunS = (STAGGER_MS + DRAIN_MS + DEADLINE_SLACK_MS) / 1000 + opts.seconds + opts.warmupS;
  const standIns = await startPipelineStandIns(opts.repeats * 2 * (perRunS + 30));
  try {
    const scripts = await loadCallScripts();
    const alone = mixedGateway(standIns, agentWorkers, opts.agentWorkerNice, undefined);
    const beside = mixedGateway(standIns, agentWorkers, opts.agentWorkerNice, { calls: opts.pipelineCalls, scripts });
    const runs: DeepgramResult[] = [];
    const repeats: IsolationRepeat[] = [];
    for (let i = 0; i < opts.repeats; i++) {
      const targets = i % 2 === 0 ? [alone, beside] : [beside, alone];
      const run = await runDeepgramSuite({ ...opts, targets });
      runs.push(run);
      const a = run.targets.find((t) => t.target === alone.key)!;
      const b = run.targets.find((t) => t.target === beside.key)!;
      repeats.push(figures(a, b));
    }
    const ratio = median(repeats.map((r) => r.p99Ratio));

    const broken = runs.find((r) => r.broken)?.broken;
    return {
      calls: opts.calls,
      pipelineCalls: opts.pipelineCalls,
      agentWorkers,
      agentWorkerNice: opts.agentWorkerNice,
      runs,
      repeats,
      median: {
        aloneP99Ms: median(repeats.map((r) => r.aloneP99Ms)),
        besideP99Ms: median(repeats.map((r) => r.besideP99Ms)),
        p99Ratio: ratio,
      },
      goal: ratio <= ISOLATION_GOAL.maxP99Ratio,
      broken,
    };
  } finally {
    await standIns.close();
  }
}

function figures(alone: TargetResult, beside: TargetResult): IsolationRepeat {
  return {
    aloneP99Ms: alone.latencyMs.p99,
    besideP99Ms: beside.latencyMs.p99,
    p99Ratio: beside.latencyMs.p99 / alone.latencyMs.p99,
    aloneCpuPct: alone.cpu.pctTotal,
    besideCpuPct: beside.cpu.pctTotal,
    pipelineFramesLost: beside.beside?.frames.lost ?? 0,
  };
}

/** Each repeat's full report, then the figure. */
export function formatIsolationReport(r: IsolationResult): string[] {
  const lines: string[] = [];
  r.runs.forEach((run, i) => lines.push(`isolation repeat ${i + 1} of ${r.runs.length}:`, ...formatDeepgramReport(run), ''));
  lines.push(`isolation: ${r.calls} Deepgram-path calls alone, then with ${r.pipelineCalls} LiveKit pipeline calls beside them in the same gateway (${r.agentWorkers} agent worker(s)${r.agentWorkerNice === undefined ? '' : ` at nice ${r.agentWorkerNice}`})`);
  r.repeats.forEach((rep, i) => {
    lines.push(
      `  repeat ${i + 1}          p99 relay latency alone ${fmt(rep.aloneP99Ms, ' ms')}, with the pipeline ${fmt(rep.besideP99Ms, ' ms')}: ${rep.p99Ratio.toFixed(2)}x` +
        ` (gateway CPU ${fmt(rep.aloneCpuPct, ' %')} -> ${fmt(rep.besideCpuPct, ' %')} of a core; pipeline calls lost ${rep.pipelineFramesLost} frames)`,
    );
  });
  lines.push(
    `  median             alone ${fmt(r.median.aloneP99Ms, ' ms')}, with the pipeline ${fmt(r.median.besideP99Ms, ' ms')}: ${r.median.p99Ratio.toFixed(2)}x (goal <= ${ISOLATION_GOAL.maxP99Ratio}x): ${r.goal ? 'PASS' : 'FAIL'}`,
  );
  if (r.broken) lines.push(`  RUN BROKEN         ${r.broken}`);
  return lines;
}
