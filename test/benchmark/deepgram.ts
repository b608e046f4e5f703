// Deepgram relay suite: the gateway with AGENT_PROVIDER=deepgram, then a bare relay of the
// benchmark's own (lib/bare-relay.ts, the floor), each a child process under the same load in the
// same run, against one fake Deepgram agent in its own process that echoes every audio frame at
// once. Every caller frame carries its index, so every frame that comes back is a relay latency
// sample. Goals: the gateway's CPU per call within 1.5x of the bare relay's, p99 relay latency
// under 10 ms, no frame lost. With WORKERS=N the gateway is a process tree (the cluster's primary
// and its workers), measured as a whole. A target may also carry other calls beside the probed
// ones (`beside`: the isolation figure's pipeline calls), whose effect on the probed calls'
// latency is the point.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { FRAME_MS } from '../../src/twilio/protocol.js';
import { loadCallScripts } from './lib/call-script.js';
import { describeLayout, type CpuLayout } from './lib/cpu-pinning.js';
import { startFakeAgentChild, type FakeAgentChild } from './lib/fake-agent-child.js';
import { checkTagRoundTrip, tagTails } from './lib/frame-tag.js';
import { CHILD_START_TIMEOUT_MS, DEADLINE_SLACK_MS, PHASE_STEP, SETTLE_MS, STAGGER_MS, STOP_TIMEOUT_MS } from './lib/load-shape.js';
import { startGatewayChild, type GatewayChild } from './lib/gateway-child.js';
import { readGatewayTelemetry, type GatewayTelemetry } from './lib/gateway-telemetry.js';
import { LeanCaller } from './lib/lean-caller.js';
import { BENCH_DEEPGRAM_KEY } from './lib/modes.js';
import { DRAIN_MS, ProbeCaller } from './lib/probe-caller.js';
import { clockTicksPerSecond, processCpu, processTree, settledProcessTree, snapshot, treeBytes, windowUsage, type CpuTimes, type Snapshot } from './lib/proc-stats.js';
import { distribution, fmt, LatencyHistogram, MB, median, type Distribution } from './lib/stats.js';
import type { StreamOptions } from './lib/twilio-stream.js';
import { frameAccounting, type LoadFrames } from './load.js';
import { socketProblems, type SocketProblems } from './lib/socket-problems.js';
import { overlapsStall, runTickLoop, STALL_MS, type TickLoopResult } from './lib/tick-loop.js';

/** What a target is to the comparison: a gateway is judged against the bare relay of its run. */
export type Target = 'gateway' | 'relay';

export interface DeepgramOptions {
  calls: number;
  seconds: number;
  tickMs: number;
  /** Run in this order, against the same fake agent. */
  targets: readonly TargetSpec[];
  /** Node flags for each target process (profiling). */
  nodeArgs?: readonly string[];
  /** Where the targets and the benchmark run (--pin); undefined: unpinned. */
  layout?: CpuLayout;
  /**
   * Seconds of the same load, unmeasured, before the measured run: a gateway in service has long
   * since compiled its hot code and sized its heap, so the figures are taken warm. 0: cold.
   */
  warmupS: number;
}

export interface RelayGoals {
  /** CPU per call over the bare relay's in the same run. */
  maxCpuRatio: number;
  maxP99Ms: number;
  /** p99 relay latency over the bare relay's in the same run; undefined: no such goal. */
  maxP99Ratio: number | undefined;
  maxLostFrames: number;
}

/** One process (the Deepgram issue's goals). */
export const DEEPGRAM_GOALS: RelayGoals = { maxCpuRatio: 1.5, maxP99Ms: 10, maxP99Ratio: undefined, maxLostFrames: 0 };
/** Several worker processes (issue 10): they must pay for themselves against the same relay. */
export const WORKERS_GOALS: RelayGoals = { maxCpuRatio: 1.3, maxP99Ms: 10, maxP99Ratio: 1.5, maxLostFrames: 0 };

/** The key both relays send and the fake requires. */
const API_KEY = BENCH_DEEPGRAM_KEY;
/** An event loop this busy is saturated: its CPU is capped, and latency becomes queueing. */
const SATURATED_MAIN_THREAD_PCT = 90;
/** Between the warm-up calls closing and the measured calls starting. */
const WARMUP_PAUSE_MS = 1000;
/** Past the longest run the fake could serve (both targets, start-ups, slack), it exits by itself. */
const FAKE_LIFETIME_SLACK_S = 240;

/** Calls a target carries beside the probed ones, started and stopped with them. */
export interface BesideLoad {
  calls: number;
  /** What they are, for the report. */
  description: string;
  newCaller(stream: StreamOptions): LeanCaller;
}

export interface TargetSpec {
  /** Names the target in the report and the JSON. */
  key: string;
  /** A gateway is compared with the bare relay of its run, and judged by the goals. */
  role: Target;
  label: string;
  description: string;
  /** Entry script (default: the gateway). */
  entry?: string;
  env(converseUrl: string, root: string): Record<string, string>;
  /** Writes telemetry (frames it counted per call) and recordings the run can check. */
  isGateway: boolean;
  beside?: BesideLoad;
  /** How a gateway is judged (default DEEPGRAM_GOALS). */
  goals?: RelayGoals;
}

/** The gateway's environment for the Deepgram path, as an operator would set it. */
export function deepgramGatewayEnv(converseUrl: string, root: string): Record<string, string> {
  return {
    AGENT_PROVIDER: 'deepgram',
    DEEPGRAM_API_KEY: API_KEY,
    DEEPGRAM_VOICE_AGENT_WS_URL: converseUrl,
    DATA_DIR: path.join(root, 'data'),
    RECORDINGS_DIR: path.join(root, 'recordings'),
    LOG_LEVEL: 'warn',
    DRAIN_TIMEOUT_S: '5',
    // The benchmark measures the process past its production cap.
    MAX_CONCURRENT_CALLS: '100000',
  };
}

/**
 * The gateway through its real entry point (src/main.ts). `workers`: its WORKERS, the processes
 * that share its port (undefined: not set, the gateway's default of one process).
 */
export function gatewayTarget(workers?: number): TargetSpec {
  const processes = workers === undefined ? '' : `, WORKERS=${workers}`;
  return {
    key: workers === undefined ? 'gateway' : `gateway-w${workers}`,
    role: 'gateway',
    label: workers === undefined ? 'gateway' : `gateway, ${workers} worker${workers === 1 ? '' : 's'}`,
    description: `src/main.ts, AGENT_PROVIDER=deepgram${processes}, a WAV recording per call; CPU and RSS over its whole process tree`,
    env: (converseUrl, root) => ({ ...deepgramGatewayEnv(converseUrl, root), ...(workers === undefined ? {} : { WORKERS: String(workers) }) }),
    isGateway: true,
    goals: workers !== undefined && workers > 1 ? WORKERS_GOALS : DEEPGRAM_GOALS,
  };
}

export const RELAY_TARGET: TargetSpec = relayTarget(1);

/**
 * The bare relay in `processes` processes on one port (node:cluster, as the gateway's WORKERS):
 * measured beside the one-process relay, it shows what splitting calls over processes costs by
 * itself on this machine, the floor of a gateway with that many workers.
 */
export function relayTarget(processes: number): TargetSpec {
  const split = processes > 1;
  return {
    key: split ? `relay-p${processes}` : 'relay',
    role: 'relay',
    label: split ? `bare relay, ${processes} processes` : 'bare relay',
    description: `test/benchmark/lib/bare-relay.ts: ws both ways, Settings handshake, nothing else${split ? `; RELAY_PROCESSES=${processes} (node:cluster)` : ''}`,
    entry: 'test/benchmark/lib/bare-relay.ts',
    env: (converseUrl) => ({ DEEPGRAM_API_KEY: API_KEY, DEEPGRAM_VOICE_AGENT_WS_URL: converseUrl, ...(split ? { RELAY_PROCESSES: String(processes) } : {}) }),
    isGateway: false,
  };
}

/** What the calls carried beside the probed ones went through. */
export interface BesideResult {
  calls: number;
  description: string;
  frames: LoadFrames;
  turns: { ended: number; replies: number; unanswered: number };
  /** Caller-side: end of the caller's turn to the first agent frame. */
  turnLatencyMs: Distribution;
  sockets: SocketProblems;
}

export interface TargetResult {
  target: string;
  role: Target;
  label: string;
  description: string;
  windowS: number;
  /** Seconds from the first call's start to the start and end of the steady window. */
  windowFromS: number;
  windowToS: number;
  cpu: {
    pctTotal: number;
    pctPerCall: number;
    /** Per caller frame (50 a second per call), all threads; it covers the frame's echo back out too. */
    usPerFrame: number;
    mainThreadPct: number;
    /** The busiest of its processes' event loop threads (one process: mainThreadPct). */
    busiestMainPct: number;
    kernelPct: number;
  };
  rss: { idleMb: number; loadedMb: number; peakMb: number; perCallMb: number };
  fakeAgentCpuPct: number;
  loadGeneratorCpuPct: number;
  /**
   * Everything else that ran on the machine meanwhile (other work disturbs the figures), and
   * hypervisor steal. Approximate: /proc/stat is sampled at clock ticks while per-process times
   * are not, so a quiet machine reads from about -15 % to +5 % under this load; a run that reads
   * tens of percent shared the cores with other work and is best repeated.
   */
  restOfMachineCpuPct: number;
  stealPct: number;
  /** Frames sent in the steady window: every call relaying, none finished. */
  latencyMs: Distribution;
  /** Every frame, including those held while the agent connected and those of the last drains. */
  latencyAllMs: Distribution;
  /** The slowest steady-window frame and whether the load generator stalled while it was out. */
  slowest: { ms: number; atS: number; loadGeneratorStalled: boolean } | undefined;
  frames: {
    sent: number;
    echoed: number;
    lost: number;
    duplicates: number;
    foreign: number;
    partialBytes: number;
    /** The gateway's own count (telemetry media_stream/stop frames_in); the bare relay keeps none. */
    countedByTarget: number | undefined;
    lostBeforeTarget: number | undefined;
    callsWithoutStop: number | undefined;
    endReasons: Record<string, number> | undefined;
  };
  recordings: { wavs: number; partFiles: number; mb: number } | undefined;
  /** The gateway's own event-loop reports over the run (10 s intervals); the bare relay keeps none. */
  eventLoop: GatewayTelemetry['eventLoop'] | undefined;
  /** Processes measured together: the target and every process below it. */
  processes: number;
  beside: BesideResult | undefined;
  /** A gateway's figures over the bare relay's in the same run; undefined without both. */
  vsRelay: { cpuRatio: number; p99Ratio: number } | undefined;
  /**
   * A gateway's CPU per call over that of the bare relay split into as many processes, when the run
   * had one (--relay-processes): what the gateway's own features cost once the split is paid.
   */
  vsSplitRelayCpu: number | undefined;
  goals: { cpu: boolean | undefined; p99: boolean; noLoss: boolean } | undefined;
  /** What `goals` judged against. */
  goalTargets: RelayGoals;
  sockets: SocketProblems;
  scheduler: { latenessMs: Distribution; worstAtS: number; stalls: number };
  /** `beforeRun`: what start-up and the warm-up logged (e.g. a call that failed before the measured run). */
  log: { warnings: number; errors: number; beforeRun: { warnings: number; errors: number }; lastLines: string[]; exit: string };
  broken: string | undefined;
}

export interface DeepgramResult {
  calls: number;
  seconds: number;
  cores: number;
  /** How the processes were placed on the CPUs. */
  placement: string;
  tickMs: number;
  warmupS: number;
  targets: TargetResult[];
  /** Why the run itself is not to be trusted (the figures may still be printed). */
  broken: string | undefined;
}

export async function runDeepgramSuite(opts: DeepgramOptions): Promise<DeepgramResult> {
  const perRunS = (STAGGER_MS + DRAIN_MS + DEADLINE_SLACK_MS) / 1000;
  const plannedS = opts.targets.length * (opts.seconds + perRunS + (opts.warmupS > 0 ? opts.warmupS + perRunS : 0));
  const fake = await startFakeAgentChild({ apiKey: API_KEY, maxLifetimeS: Math.ceil(plannedS) + FAKE_LIFETIME_SLACK_S, startTimeoutMs: CHILD_START_TIMEOUT_MS });
  try {
    const tails = tagTails((await loadCallScripts()).flatMap((s) => s.frames));
    checkTagRoundTrip(tails[0]!);
    const targets: TargetResult[] = [];
    for (const target of opts.targets) targets.push(await runTarget(target, opts, fake, tails));
    compareWithRelay(targets);
    const broken = targets.find((t) => t.broken);
    return {
      calls: opts.calls,
      seconds: opts.seconds,
      cores: os.availableParallelism(),
      placement: describeLayout(opts.layout, os.availableParallelism()),
      tickMs: opts.tickMs,
      warmupS: opts.warmupS,
      targets,
      broken: broken ? `${broken.label}: ${broken.broken}` : undefined,
    };
  } finally {
    await fake.stop(STOP_TIMEOUT_MS);
  }
}

/** One target under the load: start it, drive every call, stop it, read what it left. */
async function runTarget(spec: TargetSpec, opts: DeepgramOptions, fake: FakeAgentChild, tails: string[]): Promise<TargetResult> {
  const root = await mkdtemp(path.join(os.tmpdir(), `gateway-bench-${spec.key}-`));
  let child: GatewayChild | undefined;
  try {
    const env = spec.env(fake.converseUrl, root);
    child = await startGatewayChild({ entry: spec.entry, label: `the ${spec.label}`, env, startTimeoutMs: CHILD_START_TIMEOUT_MS, nodeArgs: opts.nodeArgs, cpus: opts.layout?.measured });
    await sleep(SETTLE_MS);
    clockTicksPerSecond(); // runs getconf once now, not inside a scheduler tick
    // Every process the target runs (its WORKERS), once they are all up; a worker that died and was
    // replaced during the warm-up is found again before the measured run.
    let pids = await settledProcessTree(child.pid);
    const idleRss = treeBytes(pids, 'VmRSS');
    if (opts.warmupS > 0) {
      await warmUp(spec, child, pids, opts, fake, tails);
      pids = processTree(child.pid);
    }
    const beforeRun = { warnings: child.console.warnings, errors: child.console.errors };
    child.console.resetCounts();
    const drive = newDrive({ target: pids, fake: fake.pid });
    const callers = makeCallers(opts, child.wsUrl, tails, drive, spec.beside);
    await driveCalls(callers, opts, drive);
    const peakRss = treeBytes(pids, 'VmHWM');
    const stopped = await child.stop(STOP_TIMEOUT_MS);
    const exit = `${stopped.exit}${stopped.killed ? ' (killed after the drain timed out)' : ''}`;
    const telemetry = spec.isGateway ? await readGatewayTelemetry(env.DATA_DIR!) : undefined;
    const recordings = spec.isGateway ? await countRecordings(env.RECORDINGS_DIR!) : undefined;
    return summarize({ spec, opts, callers, drive, telemetry, recordings, idleRss, peakRss, child, exit, beforeRun, processes: pids.length });
  } finally {
    if (child) await child.stop(1000);
    await rm(root, { recursive: true, force: true });
  }
}

/** The same calls for opts.warmupS seconds, then a pause for them to close; nothing is kept. */
async function warmUp(spec: TargetSpec, child: GatewayChild, pids: number[], opts: DeepgramOptions, fake: FakeAgentChild, tails: string[]): Promise<void> {
  const warm = { ...opts, seconds: opts.warmupS };
  const drive = newDrive({ target: pids, fake: fake.pid });
  await driveCalls(makeCallers(warm, child.wsUrl, tails, drive, spec.beside), warm, drive);
  await sleep(WARMUP_PAUSE_MS);
}

/** A reading of the target and the fake agent at one instant. */
interface Reading {
  target: Snapshot;
  fake: CpuTimes;
}

/** The run as it goes: the steady window's readings, and the latencies sorted into it or not. */
interface Drive {
  pids: { target: readonly number[]; fake: number };
  loop: TickLoopResult;
  from: Reading | undefined;
  to: Reading | undefined;
  steady: LatencyHistogram;
  all: LatencyHistogram;
  slowest: { ms: number; at: number } | undefined;
}

function newDrive(pids: Drive['pids']): Drive {
  const loop: TickLoopResult = { ticks: 0, lateness: [], worstAtMs: 0, stalls: [], timedOut: false };
  return { pids, loop, from: undefined, to: undefined, steady: new LatencyHistogram(), all: new LatencyHistogram(), slowest: undefined };
}

function read(pids: Drive['pids']): Reading {
  return { target: snapshot(pids.target), fake: processCpu(pids.fake) };
}

/** A frame counts for the steady figures when it was sent inside the window (still open: no `to` yet). */
function recordEcho(drive: Drive, sentAt: number, at: number): void {
  const ms = at - sentAt;
  drive.all.add(ms);
  const from = drive.from?.target.wallMs;
  const to = drive.to?.target.wallMs;
  if (from === undefined || sentAt < from || (to !== undefined && sentAt > to)) return;
  drive.steady.add(ms);
  if (!drive.slowest || ms > drive.slowest.ms) drive.slowest = { ms, at };
}

/** The calls of one run: the probed ones, and those the target carries beside them. */
interface Callers {
  probes: ProbeCaller[];
  beside: LeanCaller[];
}

function makeCallers(opts: DeepgramOptions, url: string, tails: string[], drive: Drive, beside: BesideLoad | undefined): Callers {
  const runId = randomBytes(4).toString('hex');
  const totalFrames = Math.round((opts.seconds * 1000) / FRAME_MS);
  const t0 = performance.now() + 50;
  const probes = Array.from(
    { length: opts.calls },
    (_, index) =>
      new ProbeCaller({
        index,
        runId,
        url,
        totalFrames,
        tails,
        // Each call speaks from its own point in the fixtures, as in the echo suite.
        scriptOffset: Math.floor(((index * PHASE_STEP) % 1) * tails.length),
        startAtMs: t0 + (index * STAGGER_MS) / opts.calls,
        onEcho: (sentAt, at) => recordEcho(drive, sentAt, at),
      }),
  );
  // Numbered after the probed calls (their sids stay apart), their starts spread over the same second.
  const others = Array.from({ length: beside?.calls ?? 0 }, (_, i) =>
    beside!.newCaller({ index: opts.calls + i, runId, url, totalFrames, startAtMs: t0 + ((i + 0.5) * STAGGER_MS) / beside!.calls }),
  );
  return { probes, beside: others };
}

async function driveCalls(callers: Callers, opts: DeepgramOptions, drive: Drive): Promise<void> {
  const deadlineMs = performance.now() + STAGGER_MS + opts.seconds * 1000 + DRAIN_MS + DEADLINE_SLACK_MS;
  drive.loop = await runTickLoop({ tickMs: opts.tickMs, deadlineMs, onTick: (now) => tick(callers, now, drive) });
  for (const caller of [...callers.probes, ...callers.beside]) if (caller.state !== 'closed') caller.terminate();
}

/**
 * One scheduler tick: open due calls and send due frames; read the processes when the steady
 * window opens (every call relaying, those beside streaming) and closes (a probed call has sent its
 * last frame); then stop the calls whose echoes are all back or whose drain is over, and those
 * beside once they have said everything. Readings come before any stop.
 */
function tick({ probes, beside }: Callers, now: number, drive: Drive): boolean {
  let waiting = 0;
  let finished = 0;
  let open = 0;
  for (const caller of probes) {
    if (caller.state === 'pending' && now >= caller.startAtMs) caller.connect(now);
    else if (caller.state === 'streaming') caller.sendDue(now);
    caller.service(now);
    if (caller.state !== 'closed' && !caller.relaying) waiting++;
    if (caller.allFramesSent) finished++;
    if (caller.state !== 'closed') open++;
  }
  for (const caller of beside) {
    if (caller.state === 'pending' && now >= caller.startAtMs) caller.connect(now);
    else if (caller.state === 'streaming') caller.sendDue(now);
    caller.service(now);
    if (caller.state === 'pending' || caller.state === 'connecting') waiting++;
    if (caller.state !== 'closed') open++;
  }
  if (!drive.from && waiting === 0) drive.from = read(drive.pids);
  if (drive.from && !drive.to && finished > 0) drive.to = read(drive.pids);
  for (const caller of probes) if (caller.state === 'streaming' && caller.readyToStop(now)) caller.stop(now);
  for (const caller of beside) if (caller.state === 'streaming' && caller.allFramesSent) caller.stop(now);
  return open > 0;
}

async function countRecordings(dir: string): Promise<{ wavs: number; partFiles: number; mb: number }> {
  const result = { wavs: 0, partFiles: 0, mb: 0 };
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (name.endsWith('.wav.part')) result.partFiles++;
    else if (name.endsWith('.wav')) {
      result.wavs++;
      result.mb += (await stat(path.join(dir, name))).size / MB;
    }
  }
  return result;
}

interface SummaryInput {
  spec: TargetSpec;
  opts: DeepgramOptions;
  callers: Callers;
  drive: Drive;
  telemetry: GatewayTelemetry | undefined;
  recordings: TargetResult['recordings'];
  idleRss: number;
  peakRss: number;
  child: GatewayChild;
  exit: string;
  beforeRun: TargetResult['log']['beforeRun'];
  processes: number;
}

function summarize(input: SummaryInput): TargetResult {
  const { spec, opts, drive, child } = input;
  const callers = input.callers.probes;
  const n = opts.calls;
  const { from, to } = drive;
  const usage = from && to ? windowUsage(from.target, to.target) : undefined;
  const cores = usage?.gatewayCores ?? Number.NaN;
  const fakeCpuS = from && to ? cpuSeconds(to.fake) - cpuSeconds(from.fake) : Number.NaN;
  const loadedRss = to?.target.gatewayRss ?? Number.NaN;
  const t0 = callers[0]!.startAtMs;
  const sinceStart = (ms: number | undefined) => (ms === undefined ? Number.NaN : (ms - t0) / 1000);
  const slowest = drive.slowest;
  const result: TargetResult = {
    target: spec.key,
    role: spec.role,
    label: spec.label,
    description: spec.description,
    windowS: usage?.wallS ?? Number.NaN,
    windowFromS: sinceStart(from?.target.wallMs),
    windowToS: sinceStart(to?.target.wallMs),
    cpu: {
      pctTotal: cores * 100,
      pctPerCall: (cores * 100) / n,
      usPerFrame: (cores * 1e6) / (n * (1000 / FRAME_MS)),
      mainThreadPct: (usage?.gatewayMainCores ?? Number.NaN) * 100,
      busiestMainPct: (usage?.busiestMainCores ?? Number.NaN) * 100,
      kernelPct: (usage?.gatewaySystemCores ?? Number.NaN) * 100,
    },
    rss: {
      idleMb: input.idleRss / MB,
      loadedMb: loadedRss / MB,
      peakMb: input.peakRss / MB,
      perCallMb: (loadedRss - input.idleRss) / n / MB,
    },
    fakeAgentCpuPct: usage ? (fakeCpuS / usage.wallS) * 100 : Number.NaN,
    loadGeneratorCpuPct: (usage?.selfCores ?? Number.NaN) * 100,
    restOfMachineCpuPct: usage ? (usage.machineBusyCores - usage.gatewayCores - fakeCpuS / usage.wallS - usage.selfCores) * 100 : Number.NaN,
    stealPct: (usage?.machineStealCores ?? Number.NaN) * 100,
    latencyMs: drive.steady.distribution(),
    latencyAllMs: drive.all.distribution(),
    slowest: slowest && { ms: slowest.ms, atS: sinceStart(slowest.at), loadGeneratorStalled: overlapsStall(slowest, drive.loop.stalls) },
    frames: probeFrameAccounting(callers, input.telemetry),
    recordings: input.recordings,
    eventLoop: input.telemetry?.eventLoop,
    processes: input.processes,
    beside: spec.beside && besideResult(spec.beside, input.callers.beside, input.telemetry),
    vsRelay: undefined,
    vsSplitRelayCpu: undefined,
    goals: undefined,
    goalTargets: spec.goals ?? DEEPGRAM_GOALS,
    sockets: socketProblems(callers),
    scheduler: { latenessMs: distribution(drive.loop.lateness), worstAtS: sinceStart(drive.loop.worstAtMs), stalls: drive.loop.stalls.length },
    log: { warnings: child.console.warnings, errors: child.console.errors, beforeRun: input.beforeRun, lastLines: child.console.lines.slice(-5), exit: input.exit },
    broken: undefined,
  };
  const calls = n + (spec.beside?.calls ?? 0);
  result.broken = brokenReason(result, drive, calls * (opts.warmupS > 0 ? 2 : 1));
  return result;
}

function besideResult(load: BesideLoad, callers: LeanCaller[], telemetry: GatewayTelemetry | undefined): BesideResult {
  const count = (f: (c: LeanCaller) => number) => callers.reduce((a, c) => a + f(c), 0);
  return {
    calls: load.calls,
    description: load.description,
    frames: frameAccounting(callers, telemetry ?? { stops: new Map(), turnLatencyMs: [], eventLoop: [], unreadableLines: 0 }),
    turns: { ended: count((c) => c.turns), replies: count((c) => c.replies), unanswered: count((c) => c.unanswered) },
    turnLatencyMs: distribution(callers.flatMap((c) => c.latencies)),
    sockets: socketProblems(callers),
  };
}

const cpuSeconds = (t: CpuTimes) => t.user + t.system;
const sum = (callers: ProbeCaller[], f: (c: ProbeCaller) => number) => callers.reduce((a, c) => a + f(c), 0);

/** What the callers sent and got back; for the gateway also what it counted per call in its telemetry. */
function probeFrameAccounting(callers: ProbeCaller[], telemetry: GatewayTelemetry | undefined): TargetResult['frames'] {
  const frames: TargetResult['frames'] = {
    sent: sum(callers, (c) => c.framesSent),
    echoed: sum(callers, (c) => c.framesEchoed),
    lost: sum(callers, (c) => c.framesLost),
    duplicates: sum(callers, (c) => c.duplicates),
    foreign: sum(callers, (c) => c.foreignFrames),
    partialBytes: sum(callers, (c) => c.partialBytes),
    countedByTarget: undefined,
    lostBeforeTarget: undefined,
    callsWithoutStop: undefined,
    endReasons: undefined,
  };
  if (!telemetry) return frames;
  frames.countedByTarget = 0;
  frames.lostBeforeTarget = 0;
  frames.callsWithoutStop = 0;
  frames.endReasons = {};
  for (const caller of callers) {
    const stop = telemetry.stops.get(caller.callSid);
    if (!stop) {
      frames.callsWithoutStop++;
      frames.lostBeforeTarget += caller.framesSent;
      continue;
    }
    frames.countedByTarget += stop.framesIn;
    frames.lostBeforeTarget += Math.max(0, caller.framesSent - stop.framesIn);
    frames.endReasons[stop.reason] = (frames.endReasons[stop.reason] ?? 0) + 1;
  }
  return frames;
}

/** `recorded`: the calls the target saw, warm-up included (one WAV each). */
function brokenReason(r: TargetResult, drive: Drive, recorded: number): string | undefined {
  if (r.sockets.unexpectedCloses > 0) return `${r.sockets.unexpectedCloses} call(s) failed to connect or were closed before stop`;
  if (r.beside && r.beside.sockets.unexpectedCloses > 0) return `${r.beside.sockets.unexpectedCloses} call(s) beside the probed ones failed to connect or were closed before stop`;
  if (!drive.from || !drive.to) return 'no steady state: not every call was relaying before the first finished';
  if (drive.loop.timedOut) return 'the run hit its deadline before every call had closed';
  if (r.recordings && r.recordings.wavs !== recorded) return `${r.recordings.wavs} recordings for ${recorded} calls`;
  return undefined;
}

/** Each gateway against the bare relay of the same run (when it ran), and by the goals. */
function compareWithRelay(targets: TargetResult[]): void {
  const relay = targets.find((t) => t.role === 'relay');
  for (const t of targets) {
    if (t === relay) continue;
    // A split relay is compared too, and judged by nothing: it is a floor, not a product.
    if (t.role === 'relay') {
      t.vsRelay = relay && { cpuRatio: t.cpu.pctPerCall / relay.cpu.pctPerCall, p99Ratio: t.latencyMs.p99 / relay.latencyMs.p99 };
      continue;
    }
    t.vsRelay = relay && { cpuRatio: t.cpu.pctPerCall / relay.cpu.pctPerCall, p99Ratio: t.latencyMs.p99 / relay.latencyMs.p99 };
    const split = t.processes > 1 ? targets.find((r) => r.role === 'relay' && r !== relay && r.processes === t.processes) : undefined;
    t.vsSplitRelayCpu = split && t.cpu.pctPerCall / split.cpu.pctPerCall;
    const goals = t.goalTargets;
    const p99Ratio = t.vsRelay?.p99Ratio;
    t.goals = {
      cpu: t.vsRelay && t.vsRelay.cpuRatio <= goals.maxCpuRatio,
      // The ratio to the relay is judged only with the relay in the run (a --find-max step has none).
      p99: t.latencyMs.p99 < goals.maxP99Ms && (goals.maxP99Ratio === undefined || p99Ratio === undefined || p99Ratio <= goals.maxP99Ratio),
      noLoss: lostByGateway(t) <= goals.maxLostFrames,
    };
  }
}

/** Frames the gateway lost either way: not counted on arrival, or never echoed back to the caller. */
export function lostByGateway(r: TargetResult): number {
  return Math.max(r.frames.lost, r.frames.lostBeforeTarget ?? 0);
}

const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'FAIL');

/**
 * Runs of the same load repeated (--repeats): each target's median figures over the runs, each
 * gateway judged by them. One run's ratio swings by ±15 % on this machine (the relay's own CPU per
 * frame moves as much between runs as the gateway's), so a goal is judged on the median.
 */
export function formatRepeatSummary(runs: readonly DeepgramResult[]): string[] {
  const first = runs[0];
  if (!first) return [];
  const lines = [`medians over ${runs.length} runs of ${first.calls} calls (each target against the bare relay of its own run):`];
  for (const { target, label } of first.targets) {
    const results = runs.map((run) => run.targets.find((t) => t.target === target)).filter((t): t is TargetResult => t !== undefined);
    const cpuRatios = results.flatMap((t) => (t.vsRelay ? [t.vsRelay.cpuRatio] : []));
    const p99Ratios = results.flatMap((t) => (t.vsRelay ? [t.vsRelay.p99Ratio] : []));
    const p99 = median(results.map((t) => t.latencyMs.p99));
    const lost = results.reduce((sum, t) => sum + (t.role === 'gateway' ? lostByGateway(t) : t.frames.lost), 0);
    const perFrame = results.map((t) => fmt(t.cpu.usPerFrame)).join(', ');
    lines.push(`  ${label}: CPU ${fmt(median(results.map((t) => t.cpu.usPerFrame)), ' µs')} per caller frame (runs: ${perFrame}), p99 ${fmt(p99, ' ms')}, ${lost} frames lost in all`);
    if (cpuRatios.length === 0) continue;
    const cpuRatio = median(cpuRatios);
    const p99Ratio = median(p99Ratios);
    const ratios = `CPU per call ${cpuRatio.toFixed(2)}x the relay's (runs: ${cpuRatios.map((r) => r.toFixed(2)).join(', ')}), p99 ${p99Ratio.toFixed(2)}x`;
    if (results[0]!.role !== 'gateway') {
      lines.push(`    ${ratios} (no goal)`);
      continue;
    }
    const goals = results[0]!.goalTargets;
    const p99Ok = p99 < goals.maxP99Ms && (goals.maxP99Ratio === undefined || p99Ratio <= goals.maxP99Ratio);
    lines.push(`    ${ratios}`);
    lines.push(`    goals on the medians: CPU <= ${goals.maxCpuRatio}x: ${verdict(cpuRatio <= goals.maxCpuRatio)}; p99 < ${goals.maxP99Ms} ms${goals.maxP99Ratio === undefined ? '' : ` and <= ${goals.maxP99Ratio}x`}: ${verdict(p99Ok)}; frames lost ${lost} (goal ${goals.maxLostFrames}): ${verdict(lost <= goals.maxLostFrames)}`);
  }
  return lines;
}

/** The human report: a block per target, then the goals. */
export function formatDeepgramReport(r: DeepgramResult): string[] {
  const lines = [
    `deepgram relay: ${r.calls} calls x ${r.seconds} s at real time against each target in turn (${r.placement};` +
      ` the fake Deepgram agent echoes every audio frame at once, in its own process; every caller frame tagged; ${r.tickMs} ms scheduler tick; ${r.warmupS > 0 ? `measured after ${r.warmupS} s of the same load to warm each target up` : 'measured cold, from start-up'})`,
  ];
  for (const t of r.targets) lines.push(...formatTarget(t));
  lines.push(...formatGoals(r));
  if (r.broken) lines.push(`  RUN BROKEN         ${r.broken}`);
  return lines;
}

function formatTarget(t: TargetResult): string[] {
  const c = t.cpu;
  const l = t.latencyMs;
  const a = t.latencyAllMs;
  const f = t.frames;
  const s = t.scheduler.latenessMs;
  const slowest = t.slowest ? ` at ${fmt(t.slowest.atS, ' s')}${t.slowest.loadGeneratorStalled ? ' (load generator stalled meanwhile)' : ''}` : '';
  const lines: string[] = [
    `  ${t.label}: ${t.description}`,
    `    steady window      ${fmt(t.windowS, ' s')} (from ${fmt(t.windowFromS, ' s')} to ${fmt(t.windowToS, ' s')}: every call relaying, none finished)`,
    `    CPU                ${fmt(c.pctTotal, ' %')} of one core total${t.processes > 1 ? ` over ${t.processes} processes` : ''}, ${fmt(c.pctPerCall, ' %')} per call = ${fmt(c.usPerFrame, ' µs')} per caller frame (in, and its echo back out)`,
    `                       event loop thread${t.processes > 1 ? `s ${fmt(c.mainThreadPct, ' %')} (busiest ${fmt(c.busiestMainPct, ' %')})` : ` ${fmt(c.mainThreadPct, ' %')}`}, other threads ${fmt(c.pctTotal - c.mainThreadPct, ' %')}; in the kernel ${fmt(c.kernelPct, ' %')}`,
  ];
  if (c.busiestMainPct >= SATURATED_MAIN_THREAD_PCT) {
    lines.push(`    SATURATED          an event loop thread was busy ${fmt(c.busiestMainPct, ' %')} of the time: CPU per call is capped there and understates the cost; latency is mostly queueing`);
  }
  lines.push(
    `    relay latency      p50 ${fmt(l.p50, ' ms')}  p99 ${fmt(l.p99, ' ms')}  max ${fmt(l.max, ' ms')}${slowest}  (n=${l.n} frames sent in the steady window)`,
    `                       every frame: p50 ${fmt(a.p50, ' ms')}  p99 ${fmt(a.p99, ' ms')}  max ${fmt(a.max, ' ms')}  (n=${a.n}, with frames held while the agent connected)`,
    `    frames             ${f.sent} sent, ${f.echoed} echoed back, ${f.lost} lost; ${f.duplicates} duplicated, ${f.foreign} foreign, ${f.partialBytes} bytes in partial frames`,
  );
  if (f.countedByTarget !== undefined) {
    const reasons = Object.entries(f.endReasons ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    lines.push(`                       the gateway counted ${f.countedByTarget} (${f.lostBeforeTarget} lost on the way in); ${f.callsWithoutStop} calls without a stop event; end reasons: ${reasons}`);
  }
  if (t.beside) lines.push(...formatBeside(t.beside));
  if (t.recordings) lines.push(`    recordings         ${t.recordings.wavs} WAVs (${fmt(t.recordings.mb, ' MB')}), ${t.recordings.partFiles} left as .wav.part`);
  if (t.eventLoop?.length) {
    const each = t.eventLoop.map((r) => `p99 ${fmt(r.p99Ms, ' ms')} max ${fmt(r.maxMs, ' ms')} busy ${fmt(r.utilization * 100, ' %')}`).join('; ');
    lines.push(`    own event loop     delay per 10 s report (its runtime/event_loop telemetry): ${each}`);
  }
  lines.push(
    `    RSS                idle ${fmt(t.rss.idleMb, ' MB')}, loaded ${fmt(t.rss.loadedMb, ' MB')} (peak ${fmt(t.rss.peakMb, ' MB')}), ${fmt(t.rss.perCallMb, ' MB')} per call`,
    `    other processes    fake agent ${fmt(t.fakeAgentCpuPct, ' %')}, load generator ${fmt(t.loadGeneratorCpuPct, ' %')}, the rest of the machine ~${fmt(t.restOfMachineCpuPct, ' %')} of one core; hypervisor steal ${fmt(t.stealPct, ' %')}`,
    `    sockets            ${t.sockets.errors} errors, ${t.sockets.unexpectedCloses} unexpected closes, ${t.sockets.closeTimeouts} close timeouts${t.sockets.samples.length ? `: ${t.sockets.samples.join('; ')}` : ''}`,
    `    scheduler lateness p50 ${fmt(s.p50, ' ms')}  p99 ${fmt(s.p99, ' ms')}  max ${fmt(s.max, ' ms')} at ${fmt(t.scheduler.worstAtS, ' s')}; ${t.scheduler.stalls} ticks over ${STALL_MS} ms late (load generator's own delay)`,
    `    log                ${t.log.warnings} warnings, ${t.log.errors} errors during the run (${t.log.beforeRun.warnings} and ${t.log.beforeRun.errors} at start-up and warm-up); exit ${t.log.exit} after SIGTERM`,
  );
  if (t.log.warnings + t.log.errors > 0) lines.push(...t.log.lastLines.map((line) => `      | ${line}`));
  return lines;
}

function formatBeside(b: BesideResult): string[] {
  const f = b.frames;
  const l = b.turnLatencyMs;
  return [
    `    beside             ${b.calls} ${b.description}: ${f.sent} frames sent, ${f.received} counted by the gateway, ${f.lost} lost; ${f.callsWithoutStop} calls without a stop event`,
    `                       ${b.turns.ended} turns, ${b.turns.replies} replies, ${b.turns.unanswered} unanswered; turn latency p50 ${fmt(l.p50, ' ms')} p99 ${fmt(l.p99, ' ms')} (n=${l.n});` +
      ` sockets: ${b.sockets.errors} errors, ${b.sockets.unexpectedCloses} unexpected closes`,
  ];
}

function formatGoals(r: DeepgramResult): string[] {
  const relay = r.targets.find((t) => t.role === 'relay');
  const relayP99 = relay ? `; bare relay ${fmt(relay.latencyMs.p99, ' ms')}` : '';
  const lines = ['  goals'];
  for (const t of r.targets) {
    if (t.role === 'relay' && t.vsRelay) {
      lines.push(`    ${t.label}: CPU per call / bare relay CPU per call = ${t.vsRelay.cpuRatio.toFixed(2)}x, p99 ${t.vsRelay.p99Ratio.toFixed(2)}x the relay's (the cost of the split alone; no goal)`);
      continue;
    }
    if (!t.goals) continue;
    const p99Ratio = t.vsRelay ? `, ${t.vsRelay.p99Ratio.toFixed(2)}x the relay's` : '';
    // Without the bare relay in the run there is no CPU ratio to judge.
    const goals = t.goalTargets;
    const ratioGoal = goals.maxP99Ratio === undefined ? '' : ` and <= ${goals.maxP99Ratio}x the relay's`;
    if (t.vsRelay) lines.push(`    ${t.label}: CPU per call / bare relay CPU per call = ${t.vsRelay.cpuRatio.toFixed(2)}x (goal <= ${goals.maxCpuRatio}x): ${verdict(t.goals.cpu)}`);
    if (t.vsSplitRelayCpu !== undefined) lines.push(`    ${t.label}: CPU per call / the split bare relay's (as many processes) = ${t.vsSplitRelayCpu.toFixed(2)}x (its features alone; no goal)`);
    lines.push(
      `    ${t.label}: p99 relay latency ${fmt(t.latencyMs.p99, ' ms')}${p99Ratio} (goal < ${goals.maxP99Ms} ms${ratioGoal}${relayP99}): ${verdict(t.goals.p99)}`,
      `    ${t.label}: frames lost ${lostByGateway(t)} (goal ${goals.maxLostFrames}): ${verdict(t.goals.noLoss)}`,
    );
  }
  return lines;
}
