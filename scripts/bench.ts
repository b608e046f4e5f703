// npm run bench -- [--calls N] [--seconds D] [--mode echo] [--suite load|hotpath|all] [--json]
// Parses arguments, runs the chosen suites from test/benchmark/, prints their reports. Exit code 1
// only when a run itself broke (the gateway did not start, sockets failed), never for a missed goal.
import { parseArgs } from 'node:util';
import { formatHotPathReport, runHotPathSuite, type HotPathResult } from '../test/benchmark/hot-path.js';
import { formatLoadReport, runLoadSuite, type LoadResult } from '../test/benchmark/load.js';
import { MODES } from '../test/benchmark/lib/modes.js';

const SUITES = ['load', 'hotpath', 'all'] as const;
type Suite = (typeof SUITES)[number];

const USAGE = `Usage: npm run bench -- [options]

  --calls N        concurrent simulated calls in the load suite (default 100, 1..1000)
  --seconds D      seconds each call streams at real time (default 30, 2..600)
  --mode M         what answers the calls: ${Object.keys(MODES).join(', ')} (default echo)
  --suite S        load, hotpath or all (default all)
  --tick-ms T      load scheduler period in ms (default 5, 1..20)
  --json           also print one machine-readable JSON line
  -h, --help       this text
`;

interface BenchOptions {
  calls: number;
  seconds: number;
  mode: string;
  suite: Suite;
  tickMs: number;
  json: boolean;
}

function intArg(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return n;
}

function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      calls: { type: 'string', default: '100' },
      seconds: { type: 'string', default: '30' },
      mode: { type: 'string', default: 'echo' },
      suite: { type: 'string', default: 'all' },
      'tick-ms': { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  if (!(values.mode in MODES)) throw new Error(`--mode must be one of ${Object.keys(MODES).join(', ')}, got "${values.mode}"`);
  if (!(SUITES as readonly string[]).includes(values.suite)) throw new Error(`--suite must be one of ${SUITES.join(', ')}, got "${values.suite}"`);
  return {
    calls: intArg('calls', values.calls, 1, 1000),
    seconds: intArg('seconds', values.seconds, 2, 600),
    mode: values.mode,
    suite: values.suite as Suite,
    tickMs: intArg('tick-ms', values['tick-ms'], 1, 20),
    json: values.json,
  };
}

/** A last resort so the benchmark always ends: far past any healthy run's length. */
function armWatchdog(opts: BenchOptions): void {
  const limitMs = (opts.seconds + 180) * 1000;
  setTimeout(() => {
    console.error(`bench: still running after ${limitMs / 1000} s; giving up`);
    process.exit(1);
  }, limitMs).unref();
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
  const results: { hotpath?: HotPathResult; load?: LoadResult } = {};
  let exitCode = 0;
  if (opts.suite !== 'load') {
    results.hotpath = await runHotPathSuite();
    console.log(formatHotPathReport(results.hotpath).join('\n'));
    console.log();
  }
  if (opts.suite !== 'hotpath') {
    try {
      results.load = await runLoadSuite({ calls: opts.calls, seconds: opts.seconds, mode: MODES[opts.mode]!, tickMs: opts.tickMs });
      console.log(formatLoadReport(results.load).join('\n'));
      if (results.load.broken) exitCode = 1;
    } catch (err) {
      console.error(`bench: the load run broke: ${(err as Error).message}`);
      exitCode = 1;
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
