// Load suite: the gateway as a child process, N lean simulated Twilio callers at real time from
// one scheduler, and the figures that matter for capacity: gateway CPU and RSS per call, relay
// latency of agent replies, and frames lost between what callers sent and what the gateway counted.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { FRAME_MS } from '../../src/twilio/protocol.js';
import { loadCallScripts } from './lib/call-script.js';
import { describeLayout, type CpuLayout } from './lib/cpu-pinning.js';
import { CHILD_START_TIMEOUT_MS, DEADLINE_SLACK_MS, PHASE_STEP, SETTLE_MS, STAGGER_MS, STOP_TIMEOUT_MS } from './lib/load-shape.js';
import { startGatewayChild, type GatewayChild } from './lib/gateway-child.js';
import { readGatewayTelemetry, type GatewayTelemetry } from './lib/gateway-telemetry.js';
import { LeanCaller } from './lib/lean-caller.js';
import { workerNiceEnv, type LoadGoals, type LoadMode, type ModeRun } from './lib/modes.js';
import { clockTicksPerSecond, processTree, snapshot, treeBytes, windowUsage, type Snapshot } from './lib/proc-stats.js';
import { distribution, fmt, MB, type Distribution } from './lib/stats.js';
import { socketProblems, type SocketProblems } from './lib/socket-problems.js';
import { overlapsStall, runTickLoop, STALL_MS, type TickLoopResult } from './lib/tick-loop.js';

export interface LoadOptions {
  calls: number;
  seconds: number;
  mode: LoadMode;
  /**
   * Scheduler period. Calls start at spread-out phases, so a tick shorter than a frame spreads
   * their sends (as real Twilio traffic is spread) instead of bursting every call at once.
   */
  tickMs: number;
  /** Node flags for the gateway process (profiling). */
  nodeArgs?: readonly string[];
  /** Where the gateway and the benchmark run (--pin); undefined: unpinned. */
  layout?: CpuLayout;
  /** AGENT_WORKERS for modes that host agents in workers (livekit); undefined: the mode's default. */
  agentWorkers?: number;
  /** The gateway's AGENT_WORKER_NICE; undefined: its default. */
  agentWorkerNice?: number;
}

/** The goals of a mode that sets none of its own. */
export const GOALS: LoadGoals = { maxLostFrames: 0, minAnsweredShare: 0.75, maxP99Ms: 20, maxCpuPctPerCall: 1 };

export interface LoadResult {
  mode: string;
  modeDescription: string;
  calls: number;
  seconds: number;
  cores: number;
  /** How the processes were placed on the CPUs. */
  placement: string;
  tickMs: number;
  /** Wall-clock time (ms since the epoch) of the first call's start: the zero of every `...S` time below. */
  startedAtEpochMs: number;
  windowS: number;
  /** Seconds from the first call's start to the start and end of the steady window. */
  windowFromS: number;
  windowToS: number;
  gateway: {
    cpuPctTotal: number;
    cpuPctPerCall: number;
    /** CPU per caller frame (50 a second per call), all threads: comparable with the hot-path figures. */
    cpuUsPerFrame: number;
    /** Of cpuPctTotal: the event loop thread, and time in the kernel (all threads). */
    mainThreadPct: number;
    kernelPct: number;
    /** The whole machine's busy share in the window (every process), of all its cores together. */
    machineBusyPct: number;
    /** The busiest single gateway thread (the media thread, or an agent worker's): over 90 % it is full. */
    busiestThreadPct: number;
    rssIdleMb: number;
    rssLoadedMb: number;
    rssPeakMb: number;
    rssPerCallMb: number;
  };
  loadGenerator: { cpuPctTotal: number };
  latencyMs: Distribution;
  /**
   * The slowest replies and when they came (seconds from the first call's start). `loadGeneratorStalled`:
   * the load generator itself missed a tick by over STALL_MS while this reply was pending, so the
   * delay may be the machine's or the generator's rather than the gateway's.
   */
  slowestTurns: Array<{ ms: number; atS: number; loadGeneratorStalled: boolean }>;
  schedulerStalls: number;
  gatewayTurnLatencyMs: Distribution;
  /**
   * The gateway's own turn latency less the stand-ins' delays on a reply's path (ModeRun): what the
   * gateway and the pipeline add. Undefined for a mode whose agent has no stand-ins.
   */
  gatewayAddedTurnMs: { p50: number; p99: number; standInDelayMs: number; endOfTurnWaitMs: number } | undefined;
  /** The media thread's own event-loop delay, from its `runtime/event_loop` reports (one per 10 s). */
  eventLoop: GatewayTelemetry['eventLoop'];
  turns: { ended: number; replies: number; unanswered: number; unsolicited: number; repliesPerCallMin: number; repliesPerCallMax: number };
  marks: { received: number; echoed: number; clears: number };
  frames: { sent: number; received: number; lost: number; callsWithoutStop: number; padded: number; bad: number; endReasons: Record<string, number> };
  sockets: SocketProblems;
  schedulerLatenessMs: Distribution;
  schedulerWorstAtS: number;
  gatewayLog: { warnings: number; errors: number; lastLines: string[]; exit: string };
  /** The targets the run was judged by, and the verdicts; p99 undefined: the mode sets no latency goal. */
  goalTargets: LoadGoals;
  goals: { noLoss: boolean; answered: boolean; p99: boolean | undefined; cpu: boolean };
  /** Why the run itself is not to be trusted (the figures may still be printed). */
  broken: string | undefined;
}

export async function runLoadSuite(opts: LoadOptions): Promise<LoadResult> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'gateway-bench-'));
  const dataDir = path.join(root, 'data');
  // The run's own bound (calls, start-up, drain, stop): a fake the mode starts outlives it.
  const plannedS = (STAGGER_MS + DEADLINE_SLACK_MS + STOP_TIMEOUT_MS) / 1000 + opts.seconds;
  const mode = await opts.mode.start({ plannedS, agentWorkers: opts.agentWorkers });
  let child: GatewayChild | undefined;
  try {
    child = await startGatewayChild({
      env: { ...mode.env, ...workerNiceEnv(opts.agentWorkerNice), DATA_DIR: dataDir, RECORDINGS_DIR: path.join(root, 'recordings'), LOG_LEVEL: 'warn', DRAIN_TIMEOUT_S: '5', MAX_CONCURRENT_CALLS: '100000' },
      startTimeoutMs: CHILD_START_TIMEOUT_MS,
      nodeArgs: opts.nodeArgs,
      cpus: opts.layout?.measured,
    });
    await sleep(SETTLE_MS);
    clockTicksPerSecond(); // runs getconf once now, not inside a scheduler tick
    const pids = processTree(child.pid);
    const idleRss = treeBytes(pids, 'VmRSS');
    child.console.resetCounts();
    const callers = await makeCallers(opts, mode, child.wsUrl);
    const drive = await driveCalls(callers, opts, pids);
    const peakRss = treeBytes(pids, 'VmHWM');
    const stopped = await child.stop(STOP_TIMEOUT_MS);
    const exit = `${stopped.exit}${stopped.killed ? ' (killed after the drain timed out)' : ''}`;
    const telemetry = await readGatewayTelemetry(dataDir);
    return summarize({ opts, callers, drive, telemetry, idleRss, peakRss, child, exit, mode });
  } finally {
    if (child) await child.stop(1000);
    await mode.close();
    await rm(root, { recursive: true, force: true });
  }
}

async function makeCallers(opts: LoadOptions, mode: ModeRun, url: string): Promise<LeanCaller[]> {
  const scripts = await loadCallScripts();
  const runId = randomBytes(4).toString('hex');
  const totalFrames = Math.round((opts.seconds * 1000) / FRAME_MS);
  const t0 = performance.now() + 50;
  return Array.from({ length: opts.calls }, (_, index) => {
    const script = scripts[index % scripts.length]!;
    // Calls sharing a script would otherwise end their turns in lockstep, every few seconds, for the
    // whole run: far burstier than real callers. Each starts at its own point in its script instead.
    const scriptOffset = Math.floor(((index * PHASE_STEP) % 1) * script.frames.length);
    return new LeanCaller({
      index,
      runId,
      url,
      script,
      scriptOffset,
      totalFrames,
      startAtMs: t0 + (index * STAGGER_MS) / opts.calls,
      oracle: mode.newTurnOracle(),
    });
  });
}

interface DriveResult {
  loop: TickLoopResult;
  /** Steady state: every call streaming, none stopped yet. */
  from: Snapshot | undefined;
  to: Snapshot | undefined;
}

/** Runs every call from one tick loop; snapshots the gateway around the steady state. */
async function driveCalls(callers: LeanCaller[], opts: LoadOptions, gatewayPids: readonly number[]): Promise<DriveResult> {
  const result: DriveResult = { loop: { ticks: 0, lateness: [], worstAtMs: 0, stalls: [], timedOut: false }, from: undefined, to: undefined };
  const deadlineMs = performance.now() + STAGGER_MS + opts.seconds * 1000 + DEADLINE_SLACK_MS;
  result.loop = await runTickLoop({
    tickMs: opts.tickMs,
    deadlineMs,
    onTick: (now) => tick(callers, now, result, gatewayPids),
  });
  for (const caller of callers) if (caller.state !== 'closed') caller.terminate();
  return result;
}

/** One scheduler tick: open due calls, send due frames, then stop finished calls. */
function tick(callers: LeanCaller[], now: number, result: DriveResult, gatewayPids: readonly number[]): boolean {
  let starting = 0;
  let finished = 0;
  let open = 0;
  for (const caller of callers) {
    if (caller.state === 'pending' && now >= caller.startAtMs) caller.connect(now);
    else if (caller.state === 'streaming') caller.sendDue(now);
    caller.service(now);
    if (caller.state === 'pending' || caller.state === 'connecting') starting++;
    if (caller.state === 'streaming' && caller.allFramesSent) finished++;
    if (caller.state !== 'closed') open++;
  }
  if (!result.from && starting === 0) result.from = snapshot(gatewayPids);
  if (finished > 0) {
    // The steady state ends before the first `stop`, while every call still streams.
    if (result.from && !result.to) result.to = snapshot(gatewayPids);
    for (const caller of callers) if (caller.state === 'streaming' && caller.allFramesSent) caller.stop(now);
  }
  return open > 0;
}

interface SummaryInput {
  opts: LoadOptions;
  callers: LeanCaller[];
  drive: DriveResult;
  telemetry: GatewayTelemetry;
  idleRss: number;
  peakRss: number;
  child: GatewayChild;
  exit: string;
  mode: ModeRun;
}

function summarize(input: SummaryInput): LoadResult {
  const { opts, callers, drive, telemetry, child } = input;
  const n = opts.calls;
  const usage = drive.from && drive.to ? windowUsage(drive.from, drive.to) : undefined;
  const loadedRss = drive.to?.gatewayRss ?? Number.NaN;
  const gatewayPct = (usage?.gatewayCores ?? Number.NaN) * 100;
  const latencyMs = distribution(callers.flatMap((c) => c.latencies));
  const t0 = callers[0]!.startAtMs;
  const sinceStart = (ms: number | undefined) => (ms === undefined ? Number.NaN : (ms - t0) / 1000);
  const frames = frameAccounting(callers, telemetry);
  const sockets = socketProblems(callers);
  const goals = opts.mode.goals ?? GOALS;
  const turns = turnAccounting(callers);
  const result: LoadResult = {
    mode: opts.mode.name,
    modeDescription: input.mode.description ?? opts.mode.description,
    calls: n,
    seconds: opts.seconds,
    cores: os.availableParallelism(),
    placement: describeLayout(opts.layout, os.availableParallelism()),
    tickMs: opts.tickMs,
    startedAtEpochMs: Math.round(performance.timeOrigin + t0),
    windowS: usage?.wallS ?? Number.NaN,
    windowFromS: sinceStart(drive.from?.wallMs),
    windowToS: sinceStart(drive.to?.wallMs),
    gateway: {
      cpuPctTotal: gatewayPct,
      cpuPctPerCall: gatewayPct / n,
      cpuUsPerFrame: ((gatewayPct / 100) * 1e6) / (n * (1000 / FRAME_MS)),
      mainThreadPct: (usage?.gatewayMainCores ?? Number.NaN) * 100,
      kernelPct: (usage?.gatewaySystemCores ?? Number.NaN) * 100,
      machineBusyPct: ((usage?.machineBusyCores ?? Number.NaN) / os.availableParallelism()) * 100,
      busiestThreadPct: (usage?.busiestThreadCores ?? Number.NaN) * 100,
      rssIdleMb: input.idleRss / MB,
      rssLoadedMb: loadedRss / MB,
      rssPeakMb: input.peakRss / MB,
      rssPerCallMb: (loadedRss - input.idleRss) / n / MB,
    },
    loadGenerator: { cpuPctTotal: (usage?.selfCores ?? Number.NaN) * 100 },
    latencyMs,
    slowestTurns: slowest(callers, 3).map((s) => ({ ms: s.ms, atS: sinceStart(s.at), loadGeneratorStalled: overlapsStall(s, drive.loop.stalls) })),
    schedulerStalls: drive.loop.stalls.length,
    gatewayTurnLatencyMs: distribution(telemetry.turnLatencyMs),
    gatewayAddedTurnMs: addedTurnLatency(distribution(telemetry.turnLatencyMs), input.mode),
    eventLoop: telemetry.eventLoop,
    turns,
    marks: {
      received: sum(callers, (c) => c.marksReceived),
      echoed: sum(callers, (c) => c.marksEchoed),
      clears: sum(callers, (c) => c.clears),
    },
    frames,
    sockets,
    schedulerLatenessMs: distribution(drive.loop.lateness),
    schedulerWorstAtS: sinceStart(drive.loop.worstAtMs),
    gatewayLog: { warnings: child.console.warnings, errors: child.console.errors, lastLines: child.console.lines.slice(-5), exit: input.exit },
    goalTargets: goals,
    goals: {
      noLoss: frames.lost <= goals.maxLostFrames,
      answered: turns.repliesPerCallMin > 0 && answeredShare(turns) >= goals.minAnsweredShare,
      p99: goals.maxP99Ms === undefined ? undefined : latencyMs.p99 < goals.maxP99Ms,
      cpu: gatewayPct / n < goals.maxCpuPctPerCall,
    },
    broken: undefined,
  };
  result.broken = brokenReason(result, drive);
  return result;
}

/** The gateway's turn latency less what the stand-ins spent on purpose: the gateway's and the pipeline's own time. */
function addedTurnLatency(turns: Distribution, mode: ModeRun): LoadResult['gatewayAddedTurnMs'] {
  if (mode.standInDelayMs === undefined) return undefined;
  return {
    p50: turns.p50 - mode.standInDelayMs,
    p99: turns.p99 - mode.standInDelayMs,
    standInDelayMs: mode.standInDelayMs,
    endOfTurnWaitMs: mode.endOfTurnWaitMs ?? 0,
  };
}

function slowest(callers: LeanCaller[], count: number): Array<{ ms: number; at: number }> {
  const all = callers.flatMap((c) => c.latencies.map((ms, i) => ({ ms, at: c.latencyTimes[i]! })));
  return all.sort((a, b) => b.ms - a.ms).slice(0, count);
}

const sum = (callers: LeanCaller[], f: (c: LeanCaller) => number) => callers.reduce((a, c) => a + f(c), 0);

export type LoadFrames = LoadResult['frames'];

/** Frames each call sent against the `frames_in` the gateway recorded when that call ended. */
export function frameAccounting(callers: LeanCaller[], telemetry: GatewayTelemetry): LoadFrames {
  const frames = { sent: 0, received: 0, lost: 0, callsWithoutStop: 0, padded: 0, bad: 0, endReasons: {} as Record<string, number> };
  for (const caller of callers) {
    frames.sent += caller.framesSent;
    const stop = telemetry.stops.get(caller.callSid);
    if (!stop) {
      frames.callsWithoutStop++;
      frames.lost += caller.framesSent;
      continue;
    }
    frames.received += stop.framesIn;
    frames.lost += Math.max(0, caller.framesSent - stop.framesIn);
    frames.padded += stop.framesPadded;
    frames.bad += stop.badFrames;
    frames.endReasons[stop.reason] = (frames.endReasons[stop.reason] ?? 0) + 1;
  }
  return frames;
}

/** Of the turns the callers ended, the share that got a reply. */
function answeredShare(turns: LoadResult['turns']): number {
  return turns.ended === 0 ? 0 : (turns.ended - turns.unanswered) / turns.ended;
}

function turnAccounting(callers: LeanCaller[]): LoadResult['turns'] {
  const replies = callers.map((c) => c.replies);
  return {
    ended: sum(callers, (c) => c.turns),
    replies: sum(callers, (c) => c.replies),
    unanswered: sum(callers, (c) => c.unanswered),
    unsolicited: sum(callers, (c) => c.unsolicitedReplies),
    repliesPerCallMin: Math.min(...replies),
    repliesPerCallMax: Math.max(...replies),
  };
}

function brokenReason(r: LoadResult, drive: DriveResult): string | undefined {
  if (r.sockets.unexpectedCloses > 0) return `${r.sockets.unexpectedCloses} call(s) failed to connect or were closed before stop`;
  if (!drive.from || !drive.to) return 'no steady state: not every call was streaming before the first stop';
  if (drive.loop.timedOut) return 'the run hit its deadline before every call had closed';
  return undefined;
}

const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
const latencyVerdict = (r: LoadResult) =>
  r.goalTargets.maxP99Ms === undefined || r.goals.p99 === undefined ? 'relay p99: no goal (a turn latency)' : `p99 < ${r.goalTargets.maxP99Ms} ms: ${verdict(r.goals.p99)}`;

/** The worst of the media thread's 10 s reports, then each of them. */
function eventLoopLine(reports: LoadResult['eventLoop']): string {
  if (reports.length === 0) return 'no runtime/event_loop report (the run was under 10 s)';
  const worstP99 = Math.max(...reports.map((r) => r.p99Ms));
  const worstMax = Math.max(...reports.map((r) => r.maxMs));
  // Busy: the thread's own work. A delay well past what its busy share explains is time it waited
  // for a core (other threads or processes on a saturated machine), not work on it.
  const each = reports.map((r) => `${fmt(r.p99Ms, '')}/${fmt(r.maxMs, '')}/${fmt(r.utilization * 100, '%')}`).join(', ');
  return `delay p99 ${fmt(worstP99, ' ms')}  max ${fmt(worstMax, ' ms')}  (worst of ${reports.length} reports per 10 s; each p99 ms/max ms/busy: ${each})`;
}

function addedTurnLine(added: LoadResult['gatewayAddedTurnMs']): string[] {
  if (!added) return [];
  return [
    `  gateway adds       p50 ${fmt(added.p50, ' ms')}  p99 ${fmt(added.p99, ' ms')}  (its turn latency less the stand-ins' ${added.standInDelayMs} ms on a reply's path;` +
      ` it includes the pipeline's configured end-of-turn wait, ${added.endOfTurnWaitMs} ms of VAD silence and endpointing, counted from where its own VAD hears the speech end)`,
  ];
}

/** The human report, one line per figure. */
export function formatLoadReport(r: LoadResult): string[] {
  const g = r.gateway;
  const l = r.latencyMs;
  const t = r.turns;
  const f = r.frames;
  const reasons = Object.entries(f.endReasons).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const lines = [
    `${r.mode} load: ${r.calls} calls x ${r.seconds} s at real time (${r.placement}; ${r.modeDescription}; ${r.tickMs} ms scheduler tick)`,
    `  steady window      ${fmt(r.windowS, ' s')} (from ${fmt(r.windowFromS, ' s')} to ${fmt(r.windowToS, ' s')}: every call streaming, before the first stop)`,
    `  gateway CPU        ${fmt(g.cpuPctTotal, ' %')} of one core total, ${fmt(g.cpuPctPerCall, ' %')} per call = ${fmt(g.cpuUsPerFrame, ' µs')} per caller frame`,
    `                     event loop thread ${fmt(g.mainThreadPct, ' %')}, other threads ${fmt(g.cpuPctTotal - g.mainThreadPct, ' %')}; in the kernel ${fmt(g.kernelPct, ' %')}; busiest thread ${fmt(g.busiestThreadPct, ' %')}; machine ${fmt(g.machineBusyPct, ' %')} busy`,
    `  load generator CPU ${fmt(r.loadGenerator.cpuPctTotal, ' %')} of one core total`,
    `  gateway RSS        idle ${fmt(g.rssIdleMb, ' MB')}, loaded ${fmt(g.rssLoadedMb, ' MB')} (peak ${fmt(g.rssPeakMb, ' MB')}), ${fmt(g.rssPerCallMb, ' MB')} per call`,
    `  relay latency      p50 ${fmt(l.p50, ' ms')}  p99 ${fmt(l.p99, ' ms')}  max ${fmt(l.max, ' ms')}  (n=${l.n} turns${r.gatewayAddedTurnMs ? `; caller side, turns ended by the bench's energy VAD: the pipeline's own VAD may end them elsewhere, so the gateway's figures below are the ones to read` : ''})`,
    `  slowest replies    ${r.slowestTurns.map((s) => `${fmt(s.ms, ' ms')} at ${fmt(s.atS, ' s')}${s.loadGeneratorStalled ? ' (load generator stalled meanwhile)' : ''}`).join(', ') || 'none'}`,
    `  gateway turn lat.  p50 ${r.gatewayTurnLatencyMs.p50.toFixed(1)} ms  p99 ${r.gatewayTurnLatencyMs.p99.toFixed(1)} ms  (its own agent/turn_latency, n=${r.gatewayTurnLatencyMs.n}: includes the VAD's end-of-turn silence)`,
    ...addedTurnLine(r.gatewayAddedTurnMs),
    `  media event loop   ${eventLoopLine(r.eventLoop)}`,
    `  turns              ${t.ended} ended, ${t.replies} replies (${t.repliesPerCallMin}..${t.repliesPerCallMax} per call), ${t.unanswered} unanswered, ${t.unsolicited} unsolicited`,
    `  marks              ${r.marks.received} received, ${r.marks.echoed} echoed, ${r.marks.clears} clears (barge-ins)`,
    `  frames             ${f.sent} sent, ${f.received} counted by the gateway, ${f.lost} lost; ${f.callsWithoutStop} calls without a stop event; ${f.bad} bad, ${f.padded} padded; end reasons: ${reasons}`,
    `  sockets            ${r.sockets.errors} errors, ${r.sockets.unexpectedCloses} unexpected closes, ${r.sockets.closeTimeouts} close timeouts${r.sockets.samples.length ? `: ${r.sockets.samples.join('; ')}` : ''}`,
    `  scheduler lateness p50 ${fmt(r.schedulerLatenessMs.p50, ' ms')}  p99 ${fmt(r.schedulerLatenessMs.p99, ' ms')}  max ${fmt(r.schedulerLatenessMs.max, ' ms')} at ${fmt(r.schedulerWorstAtS, ' s')}; ${r.schedulerStalls} ticks over ${STALL_MS} ms late (load generator's own delay)`,
    `  gateway log        ${r.gatewayLog.warnings} warnings, ${r.gatewayLog.errors} errors during the run; exit ${r.gatewayLog.exit} after SIGTERM`,
    `  goals              ${r.goalTargets.maxLostFrames} lost: ${verdict(r.goals.noLoss)}  every call answered, ${r.goalTargets.minAnsweredShare * 100} % of turns: ${verdict(r.goals.answered)}  ${latencyVerdict(r)}  < ${r.goalTargets.maxCpuPctPerCall} % core per call: ${verdict(r.goals.cpu)}`,
  ];
  if (r.gatewayLog.warnings + r.gatewayLog.errors > 0) lines.push(...r.gatewayLog.lastLines.map((line) => `    | ${line}`));
  if (r.broken) lines.push(`  RUN BROKEN         ${r.broken}`);
  return lines;
}
