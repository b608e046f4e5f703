// npm run bench -- [--calls N] [--seconds D] [--mode echo|deepgram|all] [--target gateway|relay|both]
//                  [--suite load|hotpath|all] [--warmup S] [--workers W] [--pin] [--node-args="FLAGS"] [--json]
// Parses arguments, runs the chosen suites from test/benchmark/, prints their reports. Exit code 1
// only when a run itself broke (a child did not start, sockets failed), never for a missed goal.
import { parseArgs } from 'node:util';
import { formatDeepgramReport, runDeepgramSuite, TARGETS, type DeepgramResult, type Target } from '../test/benchmark/deepgram.js';
import { formatHotPathReport, runHotPathSuite, type HotPathResult } from '../test/benchmark/hot-path.js';
import { formatLoadReport, runLoadSuite, type LoadResult } from '../test/benchmark/load.js';
import { pinBenchmark, type CpuLayout } from '../test/benchmark/lib/cpu-pinning.js';
import { DEFAULT_AGENT_WORKERS, MODES } from '../test/benchmark/lib/modes.js';

const SUITES = ['load', 'hotpath', 'all'] as const;
type Suite = (typeof SUITES)[number];
/** Turn-based modes (lib/modes.ts) run in the load suite; `deepgram` is the relay comparison. */
const LOAD_MODES = [...Object.keys(MODES), 'deepgram'];
const MODE_CHOICES = [...LOAD_MODES, 'all'];
const TARGET_CHOICES = [...TARGETS, 'both'];
/**
 * Each mode's own default load; --calls, --seconds and --tick-ms override them for every mode.
 * The deepgram mode times every frame, so the scheduler's bursts show in its latency: at 200 calls
 * a 5 ms tick sends about 50 frames at once, and the bare relay's own p99 then nears the 10 ms goal.
 * A 1 ms tick spreads the sends as real Twilio traffic is spread, for a few points of load
 * generator CPU.
 */
const DEFAULT_LOAD: Readonly<Record<string, { calls: number; seconds: number; tickMs: number }>> = {
  echo: { calls: 100, seconds: 30, tickMs: 5 },
  deepgram: { calls: 200, seconds: 20, tickMs: 1 },
  // A pipeline session costs a few % of a core: tens of them fill this machine.
  livekit: { calls: 20, seconds: 20, tickMs: 5 },
};
const FALLBACK_LOAD = { calls: 100, seconds: 30, tickMs: 5 };
/** A gateway in service runs warm: its hot code compiled and its heap sized long ago. */
const DEEPGRAM_WARMUP_S = 5;

const USAGE = `Usage: npm run bench -- [options]

  --calls N        concurrent simulated calls in each load run (default: echo 100, deepgram 200, livekit 20; 1..1000)
  --seconds D      seconds each call streams at real time (default: echo 30, deepgram 20, livekit 20; 2..600)
  --mode M         what answers the calls: ${MODE_CHOICES.join(', ')} (default all)
                   deepgram: a fake Deepgram agent echoing audio, behind the gateway and behind a
                   bare relay of the benchmark's own, compared in the same run
                   livekit: the LiveKit pipeline in the gateway's agent workers, provider stand-ins
                   in a process of their own; its relay latency is a turn latency (end of the
                   caller's speech to the first agent frame)
  --target T       deepgram mode only: ${TARGET_CHOICES.join(', ')} (default both)
  --suite S        load, hotpath or all (default all)
  --tick-ms T      load scheduler period in ms (default: echo 5, deepgram 1; 1..20)
  --warmup S       deepgram mode: seconds of the same load, unmeasured, before each measured run
                   (default ${DEEPGRAM_WARMUP_S}; 0 measures from a cold start: JIT warm-up and heap
                   growth then land in the figures)
  --workers W      livekit mode: the gateway's AGENT_WORKERS (default ${DEFAULT_AGENT_WORKERS}; 1..64)
  --pin            run the measured process alone on CPU 0 and the load generator and fakes on the
                   other CPUs (Linux taskset), as the gateway would have a machine to itself
  --node-args=F    Node flags for each measured process, e.g. --node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"
                   to profile it (the figures then include the profiler's cost)
  --json           also print one machine-readable JSON line
  -h, --help       this text
`;

interface BenchOptions {
  /** Undefined: each mode's default. */
  calls: number | undefined;
  seconds: number | undefined;
  tickMs: number | undefined;
  modes: string[];
  targets: Target[];
  suite: Suite;
  warmupS: number;
  /** Undefined: the livekit mode's default. */
  agentWorkers: number | undefined;
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
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const mode = choice('mode', values.mode, MODE_CHOICES);
  const target = choice('target', values.target, TARGET_CHOICES);
  return {
    calls: intArg('calls', values.calls, 1, 1000),
    seconds: intArg('seconds', values.seconds, 2, 600),
    tickMs: intArg('tick-ms', values['tick-ms'], 1, 20),
    modes: mode === 'all' ? LOAD_MODES : [mode],
    targets: target === 'both' ? [...TARGETS] : [target as Target],
    suite: choice('suite', values.suite, SUITES) as Suite,
    warmupS: intArg('warmup', values.warmup, 0, 120) ?? DEEPGRAM_WARMUP_S,
    agentWorkers: intArg('workers', values.workers, 1, 64),
    pin: values.pin,
    nodeArgs: values['node-args'].split(/\s+/).filter(Boolean),
    json: values.json,
  };
}

function loadFor(opts: BenchOptions, mode: string): { calls: number; seconds: number; tickMs: number } {
  const defaults = DEFAULT_LOAD[mode] ?? FALLBACK_LOAD;
  return { calls: opts.calls ?? defaults.calls, seconds: opts.seconds ?? defaults.seconds, tickMs: opts.tickMs ?? defaults.tickMs };
}

/** A last resort so the benchmark always ends: far past any healthy run's length. */
function armWatchdog(opts: BenchOptions): void {
  const runs = opts.suite === 'hotpath' ? [] : opts.modes.flatMap((m) => Array<number>(m === 'deepgram' ? opts.targets.length : 1).fill(loadFor(opts, m).seconds + (m === 'deepgram' ? opts.warmupS : 0)));
  // Each load run: its calls, plus start-up, drain and stop; the hot-path suite takes under a minute.
  const limitMs = (runs.reduce((total, seconds) => total + seconds + 60, 0) + 180) * 1000;
  setTimeout(() => {
    console.error(`bench: still running after ${limitMs / 1000} s; giving up`);
    process.exit(1);
  }, limitMs).unref();
}

interface Results {
  hotpath?: HotPathResult;
  load?: LoadResult;
  deepgram?: DeepgramResult;
}

/** One mode's load run; returns false when the run itself broke. */
async function runMode(opts: BenchOptions, mode: string, results: Results, layout: CpuLayout | undefined): Promise<boolean> {
  const { calls, seconds, tickMs } = loadFor(opts, mode);
  try {
    if (mode === 'deepgram') {
      results.deepgram = await runDeepgramSuite({ calls, seconds, tickMs, targets: opts.targets, warmupS: opts.warmupS, nodeArgs: opts.nodeArgs, layout });
      console.log(formatDeepgramReport(results.deepgram).join('\n'));
      return !results.deepgram.broken;
    }
    results.load = await runLoadSuite({ calls, seconds, mode: MODES[mode]!, tickMs, nodeArgs: opts.nodeArgs, layout, agentWorkers: opts.agentWorkers });
    console.log(formatLoadReport(results.load).join('\n'));
    return !results.load.broken;
  } catch (err) {
    console.error(`bench: the ${mode} load run broke: ${(err as Error).message}`);
    return false;
  }
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
  const results: Results = {};
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
  if (opts.json) console.log(JSON.stringify({ bench: 'telephony-gateway', options: opts, ...results }));
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
