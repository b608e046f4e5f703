// npm run bench -- [--calls N[,N...]] [--seconds D] [--mode echo|livekit|deepgram|isolation|all]
//                  [--target gateway|relay|both] [--workers W[,W...]] [--relay-processes P[,P...]] [--agent-workers A] [--agent-worker-nice N] [--find-max]
//                  [--suite load|hotpath|all] [--warmup S] [--pin] [--node-args="FLAGS"] [--json]
// Parses arguments, runs the chosen suites from test/benchmark/, prints their reports. Exit code 1
// only when a run itself broke (a child did not start, sockets failed), never for a missed goal.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { formatDeepgramReport, formatRepeatSummary, gatewayTarget, lostByGateway, RELAY_TARGET, relayTarget, runDeepgramSuite, type DeepgramResult, type TargetResult, type TargetSpec } from '../test/benchmark/deepgram.js';
import { formatHotPathReport, runHotPathSuite, type HotPathResult } from '../test/benchmark/hot-path.js';
import { formatIsolationReport, runIsolationSuite, type IsolationResult } from '../test/benchmark/isolation.js';
import { formatLoadReport, runLoadSuite, type LoadResult } from '../test/benchmark/load.js';
import { pinBenchmark, type CpuLayout } from '../test/benchmark/lib/cpu-pinning.js';
import { findLargest, type SearchOutcome, type StepVerdict } from '../test/benchmark/lib/find-max.js';
import { DEFAULT_AGENT_WORKERS, MODES } from '../test/benchmark/lib/modes.js';
import { fmt } from '../test/benchmark/lib/stats.js';

const SUITES = ['load', 'hotpath', 'all'] as const;
type Suite = (typeof SUITES)[number];
/** Turn-based modes (lib/modes.ts) run in the load suite; `deepgram` is the relay comparison. `all` runs these. */
const LOAD_MODES = [...Object.keys(MODES), 'deepgram'];
const MODE_CHOICES = [...LOAD_MODES, 'isolation', 'all'];
const TARGET_CHOICES = ['gateway', 'relay', 'both'];
/**
 * Each mode's own default load; --calls, --seconds and --tick-ms override them for every mode.
 * The deepgram mode times every frame, so the scheduler's bursts show in its latency: at 200 calls
 * a 5 ms tick sends about 50 frames at once, and the bare relay's own p99 then nears the 10 ms goal.
 * A 1 ms tick spreads the sends as real Twilio traffic is spread, for a few points of load
 * generator CPU. The isolation mode is the deepgram load (issue 9: 100 calls) with pipeline calls beside.
 */
const DEFAULT_LOAD: Readonly<Record<string, { calls: number; seconds: number; tickMs: number }>> = {
  echo: { calls: 100, seconds: 30, tickMs: 5 },
  deepgram: { calls: 200, seconds: 20, tickMs: 1 },
  // A pipeline session costs a few % of a core: tens of them fill this machine.
  livekit: { calls: 20, seconds: 20, tickMs: 5 },
  isolation: { calls: 100, seconds: 20, tickMs: 1 },
};
const FALLBACK_LOAD = { calls: 100, seconds: 30, tickMs: 5 };
/** --find-max: where the search starts, how far each step goes, and where it ends at the latest. */
const DEFAULT_SEARCH: Readonly<Record<string, { step: number; max: number }>> = {
  echo: { step: 50, max: 1000 },
  livekit: { step: 10, max: 200 },
  deepgram: { step: 50, max: 1000 },
};
/** A gateway in service runs warm: its hot code compiled and its heap sized long ago. */
const DEEPGRAM_WARMUP_S = 5;
/** Issue 9: 20 pipeline calls beside the Deepgram-path load. */
const DEFAULT_PIPELINE_CALLS = 20;
/** Issue 10's search: the largest call count with 0 frames lost and p99 relay latency under this. */
const FIND_MAX_P99_MS = 20;
/**
 * A gateway thread this busy (the media thread, or an agent worker carrying pipelines) is full: a
 * larger step only queues on it. The whole machine's share is not the test: on a machine shared
 * with other work it fills whatever the gateway does, and a starved gateway shows as lost frames
 * and unanswered turns instead.
 */
const SATURATED_THREAD_PCT = 90;

const USAGE = `Usage: npm run bench -- [options]

  --calls N[,N...] concurrent simulated calls in each load run, one run per value
                   (default: echo 100, deepgram 200, livekit 20, isolation 100; 1..1000); with
                   --find-max, the first step
  --seconds D      seconds each call streams at real time (default: echo 30, deepgram 20, livekit 20; 2..600)
  --mode M         what answers the calls: ${MODE_CHOICES.join(', ')} (default all: ${LOAD_MODES.join(', ')})
                   deepgram: a fake Deepgram agent echoing audio, behind the gateway and behind a
                   bare relay of the benchmark's own, compared in the same run
                   livekit: the LiveKit pipeline in the gateway's agent workers, provider stand-ins
                   in a process of their own; its relay latency is a turn latency (end of the
                   caller's speech to the first agent frame)
                   isolation: issue 9's figure: the deepgram load (100 calls) alone, then with
                   --pipeline-calls LiveKit pipeline calls beside it in the same gateway (a
                   bench-only child routing calls by a stream parameter); the ratio of the p99s
  --target T       deepgram mode only: ${TARGET_CHOICES.join(', ')} (default both)
  --workers W[,W]  deepgram mode: the gateway's WORKERS (its worker processes), one gateway run per
                   value against the same bare relay run; CPU and RSS are taken over the whole
                   process tree. Unset: WORKERS is not set (the gateway's default)
  --relay-processes P[,P]  deepgram mode: also the bare relay in P processes on one port (node:cluster,
                   as WORKERS), after the one-process relay and compared with it: what splitting
                   the calls over P processes costs by itself, the floor for a gateway with P workers
  --agent-workers A  livekit and isolation modes: the gateway's AGENT_WORKERS (default ${DEFAULT_AGENT_WORKERS}; 1..64)
  --agent-worker-nice N  livekit and isolation modes: the gateway's AGENT_WORKER_NICE, the agent worker
                   threads' nice value (default: the gateway's own, 10; 0..19), to compare priorities
  --find-max       search for the largest call count within the goals, stepping up from --calls:
                   livekit (and echo): 0 frames lost and every call answered (at least
                   75 % of turns), stopping when a gateway thread (media, agent worker) saturates; deepgram: 0 frames lost and p99 < ${FIND_MAX_P99_MS} ms, per --workers value
  --step S         --find-max: calls added per step (default: livekit 10, deepgram 50)
  --max-calls M    --find-max: the largest step (default: livekit 200, deepgram 1000)
  --pipeline-calls M  isolation mode: pipeline calls beside the deepgram load (default ${DEFAULT_PIPELINE_CALLS})
  --repeats R      isolation mode: runs of both sides; the figure is the median ratio. deepgram mode:
                   runs of every target per --calls value, then each target's medians, the goals
                   judged on them (default 1)
  --suite S        load, hotpath or all (default all)
  --tick-ms T      load scheduler period in ms (default: echo 5, deepgram 1, livekit 5; 1..20)
  --warmup S       deepgram and isolation modes: seconds of the same load, unmeasured, before each
                   measured run (default ${DEEPGRAM_WARMUP_S}; 0 measures from a cold start: JIT
                   warm-up and heap growth then land in the figures)
  --pin            run the measured process alone on CPU 0 and the load generator and fakes on the
                   other CPUs (Linux taskset), as the gateway would have a machine to itself
  --node-args=F    Node flags for each measured process, e.g. --node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"
                   to profile it (the figures then include the profiler's cost)
  --json           also print one machine-readable JSON line
  -h, --help       this text
`;

interface BenchOptions {
  /** Undefined: each mode's default. */
  calls: number[] | undefined;
  seconds: number | undefined;
  tickMs: number | undefined;
  modes: string[];
  targets: Array<'gateway' | 'relay'>;
  suite: Suite;
  warmupS: number;
  /** The gateway's WORKERS per deepgram run; undefined: not set. */
  workers: number[] | undefined;
  /** Extra bare relay runs in this many processes each (deepgram mode). */
  relayProcesses: number[];
  /** Undefined: the gateway's default. */
  agentWorkers: number | undefined;
  /** The gateway's AGENT_WORKER_NICE; undefined: its default. */
  agentWorkerNice: number | undefined;
  findMax: boolean;
  step: number | undefined;
  maxCalls: number | undefined;
  pipelineCalls: number;
  repeats: number;
  pin: boolean;
  nodeArgs: string[];
  json: boolean;
}

function intArg(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return n;
}

/** A comma-separated list of whole numbers, e.g. --calls 200,300. */
function intListArg(name: string, raw: string | undefined, min: number, max: number): number[] | undefined {
  if (raw === undefined) return undefined;
  return raw.split(',').map((part) => intArg(name, part.trim(), min, max)!);
}

function choice(name: string, value: string, choices: readonly string[]): string {
  if (!choices.includes(value)) throw new Error(`--${name} must be one of ${choices.join(', ')}, got "${value}"`);
  return value;
}

function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      calls: { type: 'string' },
      seconds: { type: 'string' },
      mode: { type: 'string', default: 'all' },
      target: { type: 'string', default: 'both' },
      suite: { type: 'string', default: 'all' },
      'tick-ms': { type: 'string' },
      'node-args': { type: 'string', default: '' },
      pin: { type: 'boolean', default: false },
      warmup: { type: 'string' },
      workers: { type: 'string' },
      'agent-workers': { type: 'string' },
      'agent-worker-nice': { type: 'string' },
      'relay-processes': { type: 'string' },
      'find-max': { type: 'boolean', default: false },
      step: { type: 'string' },
      'max-calls': { type: 'string' },
      'pipeline-calls': { type: 'string' },
      repeats: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const mode = choice('mode', values.mode, MODE_CHOICES);
  const target = choice('target', values.target, TARGET_CHOICES);
  return {
    calls: intListArg('calls', values.calls, 1, 1000),
    seconds: intArg('seconds', values.seconds, 2, 600),
    tickMs: intArg('tick-ms', values['tick-ms'], 1, 20),
    modes: mode === 'all' ? LOAD_MODES : [mode],
    targets: target === 'both' ? ['gateway', 'relay'] : [target as 'gateway' | 'relay'],
    suite: choice('suite', values.suite, SUITES) as Suite,
    warmupS: intArg('warmup', values.warmup, 0, 120) ?? DEEPGRAM_WARMUP_S,
    workers: intListArg('workers', values.workers, 1, 64),
    relayProcesses: (intListArg('relay-processes', values['relay-processes'], 1, 64) ?? []).filter((p) => p > 1),
    agentWorkers: intArg('agent-workers', values['agent-workers'], 1, 64),
    agentWorkerNice: intArg('agent-worker-nice', values['agent-worker-nice'], 0, 19),
    findMax: values['find-max'],
    step: intArg('step', values.step, 1, 1000),
    maxCalls: intArg('max-calls', values['max-calls'], 1, 1000),
    pipelineCalls: intArg('pipeline-calls', values['pipeline-calls'], 1, 200) ?? DEFAULT_PIPELINE_CALLS,
    repeats: intArg('repeats', values.repeats, 1, 20) ?? 1,
    pin: values.pin,
    nodeArgs: values['node-args'].split(/\s+/).filter(Boolean),
    json: values.json,
  };
}

interface ModeLoad {
  calls: number[];
  seconds: number;
  tickMs: number;
}

function loadFor(opts: BenchOptions, mode: string): ModeLoad {
  const defaults = DEFAULT_LOAD[mode] ?? FALLBACK_LOAD;
  return { calls: opts.calls ?? [defaults.calls], seconds: opts.seconds ?? defaults.seconds, tickMs: opts.tickMs ?? defaults.tickMs };
}

function searchFor(opts: BenchOptions, mode: string): { start: number; step: number; max: number } {
  const defaults = DEFAULT_SEARCH[mode] ?? DEFAULT_SEARCH.echo!;
  const start = loadFor(opts, mode).calls[0]!;
  return { start, step: opts.step ?? defaults.step, max: Math.max(start, opts.maxCalls ?? defaults.max) };
}

/** Load runs a mode makes at most, and each one's seconds of calls (warm-up included). */
function plannedRuns(opts: BenchOptions, mode: string): { runs: number; seconds: number } {
  const { calls, seconds } = loadFor(opts, mode);
  const relayed = mode === 'deepgram' || mode === 'isolation';
  const runSeconds = seconds + (relayed ? opts.warmupS : 0);
  const gateways = mode === 'deepgram' ? (opts.workers ?? [0]).length : 1;
  if (opts.findMax && mode !== 'isolation') {
    const { start, step, max } = searchFor(opts, mode);
    return { runs: gateways * (Math.ceil((max - start) / step) + 1), seconds: runSeconds };
  }
  if (mode === 'isolation') return { runs: opts.repeats * 2, seconds: runSeconds };
  const perCount = mode === 'deepgram' ? (opts.targets.includes('relay') ? 1 + opts.relayProcesses.length : 0) + (opts.targets.includes('gateway') ? gateways : 0) : 1;
  return { runs: calls.length * perCount * (mode === 'deepgram' ? opts.repeats : 1), seconds: runSeconds };
}

/** A last resort so the benchmark always ends: far past any healthy run's length. */
function armWatchdog(opts: BenchOptions): void {
  const modes = opts.suite === 'hotpath' ? [] : opts.modes;
  // Each load run: its calls, plus start-up, drain and stop; the hot-path suite takes under a minute.
  const limitS = modes.reduce((total, mode) => {
    const { runs, seconds } = plannedRuns(opts, mode);
    return total + runs * (seconds + 60);
  }, 180);
  setTimeout(() => {
    console.error(`bench: still running after ${limitS} s; giving up`);
    process.exit(1);
  }, limitS * 1000).unref();
}

interface Results {
  hotpath?: HotPathResult;
  load: LoadResult[];
  deepgram: DeepgramResult[];
  isolation?: IsolationResult;
  searches: Array<{ mode: string; workers?: number; outcome: SearchOutcome<LoadResult | DeepgramResult> }>;
}

/** The gateway runs a deepgram run makes: one per --workers value, or one with WORKERS unset. */
function deepgramTargets(opts: BenchOptions): TargetSpec[] {
  const gateways = opts.targets.includes('gateway') ? (opts.workers ?? [undefined]).map(gatewayTarget) : [];
  // The relay first: the gateways of the run are all compared with it.
  const relays = opts.targets.includes('relay') ? [RELAY_TARGET, ...opts.relayProcesses.map(relayTarget)] : [];
  return [...relays, ...gateways];
}

/** One mode's load runs; returns false when a run itself broke. */
async function runMode(opts: BenchOptions, mode: string, results: Results, layout: CpuLayout | undefined): Promise<boolean> {
  const { calls, seconds, tickMs } = loadFor(opts, mode);
  try {
    if (mode === 'isolation') {
      const common = { seconds, tickMs, warmupS: opts.warmupS, nodeArgs: opts.nodeArgs, layout };
      results.isolation = await runIsolationSuite({ ...common, calls: calls[0]!, pipelineCalls: opts.pipelineCalls, agentWorkers: opts.agentWorkers, agentWorkerNice: opts.agentWorkerNice, repeats: opts.repeats });
      console.log(formatIsolationReport(results.isolation).join('\n'));
      return !results.isolation.broken;
    }
    if (opts.findMax) return await searchMode(opts, mode, results, layout);
    let ok = true;
    for (const n of calls) {
      if (mode === 'deepgram') {
        const repeated: DeepgramResult[] = [];
        for (let i = 0; i < opts.repeats; i++) {
          const run = await runDeepgramSuite({ calls: n, seconds, tickMs, targets: deepgramTargets(opts), warmupS: opts.warmupS, nodeArgs: opts.nodeArgs, layout });
          repeated.push(run);
          if (opts.repeats > 1) console.log(`run ${i + 1} of ${opts.repeats}:`);
          console.log(formatDeepgramReport(run).join('\n'));
          ok &&= !run.broken;
        }
        results.deepgram.push(...repeated);
        if (opts.repeats > 1) console.log(`\n${formatRepeatSummary(repeated).join('\n')}`);
      } else {
        const run = await runLoadSuite({ calls: n, seconds, mode: MODES[mode]!, tickMs, nodeArgs: opts.nodeArgs, layout, agentWorkers: opts.agentWorkers, agentWorkerNice: opts.agentWorkerNice });
        results.load.push(run);
        console.log(formatLoadReport(run).join('\n'));
        ok &&= !run.broken;
      }
      console.log();
    }
    if (mode === 'deepgram' && results.deepgram.length > 1) console.log(`${formatMatrix(results.deepgram).join('\n')}\n`);
    return ok;
  } catch (err) {
    console.error(`bench: the ${mode} load run broke: ${(err as Error).message}`);
    return false;
  }
}

/** --find-max: a search per gateway (per --workers value in the deepgram mode). */
async function searchMode(opts: BenchOptions, mode: string, results: Results, layout: CpuLayout | undefined): Promise<boolean> {
  const { seconds, tickMs } = loadFor(opts, mode);
  const bounds = searchFor(opts, mode);
  let ok = true;
  for (const workers of mode === 'deepgram' ? (opts.workers ?? [undefined]) : [undefined]) {
    const what = mode === 'deepgram' ? `deepgram, ${workers === undefined ? 'WORKERS unset' : `${workers} worker(s)`}` : mode;
    console.log(`${what}: searching for the largest call count within the goals, from ${bounds.start} by ${bounds.step} up to ${bounds.max}`);
    const outcome = await findLargest<LoadResult | DeepgramResult>({
      ...bounds,
      run: async (n) => {
        if (mode !== 'deepgram') return runLoadSuite({ calls: n, seconds, mode: MODES[mode]!, tickMs, nodeArgs: opts.nodeArgs, layout, agentWorkers: opts.agentWorkers, agentWorkerNice: opts.agentWorkerNice });
        return runDeepgramSuite({ calls: n, seconds, tickMs, targets: [gatewayTarget(workers)], warmupS: opts.warmupS, nodeArgs: opts.nodeArgs, layout });
      },
      judge: (r) => ('mode' in r ? judgeLoad(r) : judgeRelay(r.targets[0]!, r.broken)),
      onStep: ({ result, verdict }) => {
        console.log(('mode' in result ? formatLoadReport(result) : formatDeepgramReport(result)).join('\n'));
        console.log(`  => step: ${result.calls} calls ${verdict.ok ? `within the goals${verdict.saturated ? `, and ${verdict.saturated}` : ''}` : `FAILED: ${verdict.why}`}\n`);
        ok &&= !result.broken;
      },
    });
    results.searches.push({ mode, workers, outcome });
    console.log(`${formatSearch(what, outcome).join('\n')}\n`);
  }
  return ok;
}

/**
 * A turn-based run (livekit, echo): no frame lost and the callers answered; the search stops once
 * a gateway thread is full.
 */
function judgeLoad(r: LoadResult): StepVerdict {
  if (r.broken) return { ok: false, why: `the run broke: ${r.broken}` };
  if (r.frames.lost > 0) return { ok: false, why: `${r.frames.lost} frames lost` };
  if (!r.goals.answered) {
    const { ended, unanswered, repliesPerCallMin } = r.turns;
    const share = `${ended - unanswered} of ${ended} turns answered`;
    return { ok: false, why: repliesPerCallMin === 0 ? `a call never heard the agent (${share})` : `${share} (goal ${r.goalTargets.minAnsweredShare * 100} %)` };
  }
  if (r.gateway.busiestThreadPct >= SATURATED_THREAD_PCT) return { ok: true, saturated: `a gateway thread was busy ${fmt(r.gateway.busiestThreadPct, ' %')} (media thread ${fmt(r.gateway.mainThreadPct, ' %')})` };
  return { ok: true };
}

/** A relay run (deepgram): no frame lost and p99 under FIND_MAX_P99_MS. */
function judgeRelay(t: TargetResult, broken: string | undefined): StepVerdict {
  if (broken) return { ok: false, why: `the run broke: ${broken}` };
  const lost = lostByGateway(t);
  if (lost > 0) return { ok: false, why: `${lost} frames lost` };
  if (!(t.latencyMs.p99 < FIND_MAX_P99_MS)) return { ok: false, why: `p99 relay latency ${fmt(t.latencyMs.p99, ' ms')} (goal < ${FIND_MAX_P99_MS} ms)` };
  return { ok: true };
}

function formatSearch(what: string, outcome: SearchOutcome<LoadResult | DeepgramResult>): string[] {
  const lines = [`${what}: largest call count within the goals: ${outcome.largest ?? 'none (the first step failed)'}; stopped at ${outcome.stoppedBecause}`];
  for (const { calls, result, verdict } of outcome.steps) {
    const figures =
      'mode' in result
        ? `${result.frames.lost} lost, ${result.turns.ended - result.turns.unanswered}/${result.turns.ended} turns answered, CPU ${fmt(result.gateway.cpuPctPerCall, ' %')} per call (busiest thread ${fmt(result.gateway.busiestThreadPct, ' %')}, machine ${fmt(result.gateway.machineBusyPct, ' %')} busy), RSS ${fmt(result.gateway.rssPerCallMb, ' MB')} per call, turn p99 ${fmt(result.gatewayTurnLatencyMs.p99, ' ms')}`
        : `${lostByGateway(result.targets[0]!)} lost, p99 ${fmt(result.targets[0]!.latencyMs.p99, ' ms')}, CPU ${fmt(result.targets[0]!.cpu.pctPerCall, ' %')} per call`;
    lines.push(`  ${String(calls).padStart(4)} calls  ${verdict.ok ? 'ok  ' : 'FAIL'}  ${figures}`);
  }
  return lines;
}

/** The deepgram runs side by side: per call count, each gateway against that run's bare relay. */
function formatMatrix(runs: DeepgramResult[]): string[] {
  const lines = ['deepgram matrix (each gateway against the bare relay of its own run):', '  calls  target                      p99 ms  x relay p99  CPU/call x relay  lost'];
  for (const run of runs) {
    for (const t of run.targets) {
      const vs = t.vsRelay;
      const lost = t.role === 'gateway' ? lostByGateway(t) : t.frames.lost;
      lines.push(
        `  ${String(run.calls).padStart(5)}  ${t.label.padEnd(26)}  ${fmt(t.latencyMs.p99, '').padStart(6)}  ${(vs ? `${vs.p99Ratio.toFixed(2)}x` : '-').padStart(11)}  ${(vs ? `${vs.cpuRatio.toFixed(2)}x` : '-').padStart(16)}  ${lost}${t.broken ? '  (broken)' : ''}`,
      );
    }
  }
  return lines;
}

async function main(): Promise<number> {
  let opts: BenchOptions | undefined;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) {
    console.log(USAGE);
    return 0;
  }
  armWatchdog(opts);
  const results: Results = { load: [], deepgram: [], searches: [] };
  let exitCode = 0;
  if (opts.suite !== 'load') {
    results.hotpath = await runHotPathSuite();
    console.log(formatHotPathReport(results.hotpath).join('\n'));
    console.log();
  }
  if (opts.suite !== 'hotpath') {
    // After the hot-path suite, which runs in this process and should have every core.
    const layout = opts.pin ? pinBenchmark() : undefined;
    for (const mode of opts.modes) {
      if (!(await runMode(opts, mode, results, layout))) exitCode = 1;
      console.log();
    }
  }
  if (opts.json) console.log(JSON.stringify({ bench: 'telephony-gateway', cores: os.availableParallelism(), options: opts, ...results }));
  return exitCode;
}

// Exit explicitly: a socket or timer left behind by a broken run must not keep the process alive.
main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`bench: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
