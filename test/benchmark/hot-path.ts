// Hot-path suite: in-process micro benchmarks of what the gateway does for every 20 ms caller
// frame, each next to a floor or an alternative where one exists, plus the whole media path of a
// CallSession with the echo agent for scale. Inputs are real speech frames from the fixtures.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import alawmulaw from 'alawmulaw';
import { loadConfig } from '../../src/config.js';
import type { AgentBridge, AgentSink } from '../../src/agents/bridge.js';
import { AgentWorkerPool } from '../../src/agents/worker/pool.js';
import { EchoAgent } from '../../src/agents/echo.js';
import { frameEnergyDb } from '../../src/audio/energy-vad.js';
import { decodeMulaw, MULAW_TO_PCM16 } from '../../src/audio/mulaw.js';
import { CallRecorder } from '../../src/audio/recorder.js';
import { Playback } from '../../src/call/playback.js';
import type { CallSessionDeps, MediaSocket } from '../../src/call/call-types.js';
import { CallSession } from '../../src/call/session.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Telemetry } from '../../src/telemetry/events.js';
import { scanMediaFrame } from '../../src/twilio/media-scan.js';
import { FRAME_BYTES, FRAME_MS, InboundParser, outboundFrames, parseInbound } from '../../src/twilio/protocol.js';
import { loadCallScripts, type CallScript } from './lib/call-script.js';
import { mediaMessage } from './lib/lean-caller.js';
import { SILENT_OFF_THREAD } from './lib/silent-agent.js';
import { DEFAULT_MICRO, measure, type MicroCase, type MicroResult } from './lib/microbench.js';
import { fmt } from './lib/stats.js';

const SID = 'MZ00000000000000000000000000000001';
/** What CallSession gives parseInbound: room for the largest frame it accepts. */
const SCRATCH_BYTES = 48 * 1024;

export interface HotPathRow extends MicroResult {
  /** For a pair: what this row is compared against, and cost(this) / cost(that). */
  versus?: { label: string; ratio: number };
}

export interface HotPathResult {
  runs: number;
  minIterations: number;
  rows: HotPathRow[];
}

interface Fixture {
  frames: Buffer[];
  texts: string[];
  tmp: string;
  /** Telemetry logs opened by the cases, closed when the suite ends. */
  telemetries: Telemetry[];
  /** Agent worker pools started by the cases, closed when the suite ends. */
  pools: AgentWorkerPool[];
}

async function fixture(): Promise<Fixture> {
  const script: CallScript = (await loadCallScripts())[0]!;
  const texts = script.payloads.map((p, j) => mediaMessage(SID, j + 1, j + 1, j * FRAME_MS, p));
  return { frames: script.frames, texts, tmp: await mkdtemp(path.join(os.tmpdir(), 'gateway-hotpath-')), telemetries: [], pools: [] };
}

function telemetryLog(fx: Fixture, name: string): Telemetry {
  const telemetry = new Telemetry({ file: path.join(fx.tmp, name), noisyEveryN: 100 });
  fx.telemetries.push(telemetry);
  return telemetry;
}

function parseCases(fx: Fixture): MicroCase[] {
  const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  const { texts } = fx;
  const first = parseInbound(texts[0]!, scratch);
  if (!first.ok || first.event.type !== 'media') throw new Error('hot path: the benchmark media frame does not parse');
  // The socket's bytes, as CallSession now hands them over; they must take the fast path.
  const buffers = texts.map((t) => Buffer.from(t));
  if (!scanMediaFrame(buffers[0]!, scratch)) throw new Error('hot path: the media scanner does not take the benchmark frame');
  const parser = new InboundParser(scratch);
  return [
    { name: 'parseInbound (media frame, scratch buffer)', op: (i) => parseInbound(texts[i % texts.length]!, scratch) },
    { name: 'InboundParser.parse (media frame as Buffer)', op: (i) => parser.parse(buffers[i % buffers.length]!) },
    {
      name: 'JSON.parse + Buffer.from(base64) [baseline]',
      op: (i) => Buffer.from((JSON.parse(texts[i % texts.length]!) as { media: { payload: string } }).media.payload, 'base64'),
    },
  ];
}

function decodeCases(fx: Fixture): MicroCase[] {
  const { frames } = fx;
  const pcm = new Int16Array(FRAME_BYTES);
  const table = (frame: Buffer) => {
    for (let k = 0; k < frame.length; k++) pcm[k] = MULAW_TO_PCM16[frame[k]!]!;
    return pcm;
  };
  const library = alawmulaw.mulaw.decode(frames[0]!);
  if (!table(frames[0]!).every((v, k) => v === library[k])) throw new Error('hot path: table and alawmulaw decode differ');
  return [
    { name: 'mu-law decode, MULAW_TO_PCM16 table', op: (i) => table(frames[i % frames.length]!) },
    // The same table into a new Int16Array each call: separates the allocation from the algorithm.
    { name: 'mu-law decode, decodeMulaw (table, allocates)', op: (i) => decodeMulaw(frames[i % frames.length]!) },
    { name: 'mu-law decode, alawmulaw.mulaw.decode', op: (i) => alawmulaw.mulaw.decode(frames[i % frames.length]!) },
  ];
}

function frameCases(fx: Fixture): MicroCase[] {
  const { frames } = fx;
  const out = outboundFrames(SID);
  let playback: Playback | undefined;
  const observer = { scheduled: () => undefined, cut: () => undefined, utteranceStarted: () => undefined, played: () => undefined };
  return [
    { name: 'frameEnergyDb (VAD energy)', op: (i) => frameEnergyDb(frames[i % frames.length]!) },
    { name: 'outboundFrames(sid).media(160 B)', op: (i) => out.media(frames[i % frames.length]!) },
    {
      name: 'Playback.push(160 B), observer no-op',
      before: () => void (playback = new Playback(out, () => undefined, () => 0, observer)),
      op: (i) => playback!.push(frames[i % frames.length]!),
    },
  ];
}

function recorderCase(fx: Fixture): MicroCase {
  const { frames } = fx;
  let recorder: CallRecorder | undefined;
  let run = 0;
  return {
    name: 'CallRecorder.callerAudio (1 frame)',
    before: async () => void (recorder = await CallRecorder.open({ dir: fx.tmp, name: `recorder-${run++}` })),
    op: (i) => recorder!.callerAudio(frames[i % frames.length]!, i * FRAME_MS),
    after: async () => {
      const info = await recorder!.finalize();
      await rm(info.path, { force: true });
    },
  };
}

function telemetryCase(fx: Fixture): MicroCase {
  const telemetry = telemetryLog(fx, 'telemetry.jsonl');
  const ids = { callSid: 'CA00000000000000000000000000000001', streamSid: SID, taskId: undefined };
  return {
    name: 'Telemetry.record media_event (1 in 100 kept)',
    op: () => telemetry.record('media_stream', 'media_event', ids),
    after: () => telemetry.flush(),
  };
}

/**
 * The media thread's side of an agent in a worker: one caller frame into the worker's shared ring.
 * The ring is sized to hold a whole run, and each run starts once the worker has drained the last,
 * so every push is a real one; a run that overflowed would measure the cheap refusal, and fails.
 */
async function workerBridgeCase(fx: Fixture): Promise<MicroCase> {
  const { frames } = fx;
  const config = loadConfig({});
  const pool = new AgentWorkerPool({ size: 1, config, logger: silentLogger(), ringSlots: 1 << 18 });
  fx.pools.push(pool);
  const factory = await pool.factoryFor(SILENT_OFF_THREAD);
  const call = { streamSid: SID, callSid: `CA${SID.slice(2)}`, parameters: {}, taskId: undefined, prompt: undefined, greeting: undefined };
  const ignore = () => undefined;
  const sink: AgentSink = { audio: ignore, turnStarted: ignore, utteranceDone: ignore, bargeIn: ignore, transcript: ignore, latency: ignore, action: ignore, error: ignore };
  let bridge: AgentBridge | undefined;
  return {
    name: 'WorkerBridge.pushCallerAudio (160 B into the worker ring)',
    async before() {
      await sleep(300); // the worker drains the previous run
      bridge = factory(call, sink);
      await bridge.start();
    },
    op: (i) => bridge!.pushCallerAudio(frames[i % frames.length]!, i * FRAME_MS),
    async after() {
      await bridge!.close('benchmark');
      if (pool.droppedFrames() > 0) throw new Error(`hot path: the worker ring overflowed (${pool.droppedFrames()} frames refused); the figure would be wrong`);
    },
  };
}

/** A whole CallSession fed media frames as the socket delivers them, echo agent answering. */
function sessionCase(fx: Fixture): MicroCase {
  const vad = loadConfig({}).vad;
  const deps: CallSessionDeps = {
    agentFactory: (_call, sink) => new EchoAgent(vad, sink),
    recordingsDir: fx.tmp,
    vad,
    streamStartTimeoutS: 10,
    // Frames come far faster than real time here: let their timestamps lead the wall clock, or
    // every frame after the first 5 s would be measured as a skipped timestamp_jump.
    maxMediaLeadMs: Number.MAX_SAFE_INTEGER,
    logger: silentLogger(),
    telemetry: telemetryLog(fx, 'session-telemetry.jsonl'),
    logEveryN: 100,
  };
  const socket: MediaSocket = { send: () => undefined, close: () => undefined, isOpen: true };
  let session: CallSession | undefined;
  let messages: Buffer[] = [];
  let run = 0;
  return {
    name: 'CallSession.handleMessage, whole media path',
    async before(iterations) {
      // Ids unique per run: each session records to its own file.
      const sid = `MZ${String(++run).padStart(32, '0')}`;
      messages = Array.from({ length: iterations }, (_, j) => {
        const k = j % fx.frames.length;
        return Buffer.from(mediaMessage(sid, j + 2, j + 1, j * FRAME_MS, fx.frames[k]!.toString('base64')));
      });
      session = new CallSession(socket, deps);
      session.handleMessage(Buffer.from(startMessage(sid)), false);
      await sleep(20); // the recorder opens asynchronously
    },
    op: (i) => session!.handleMessage(messages[i]!, false),
    after: async () => {
      const summary = await session!.end('twilio_stop');
      if (summary.stats.framesIn === 0) throw new Error('hot path: the session took no frames');
      if (summary.recording) await rm(summary.recording.path, { force: true });
    },
  };
}

function startMessage(streamSid: string): string {
  const callSid = `CA${streamSid.slice(2)}`;
  return JSON.stringify({
    event: 'start',
    sequenceNumber: '1',
    streamSid,
    start: {
      streamSid,
      callSid,
      accountSid: 'AC00000000000000000000000000000000',
      tracks: ['inbound'],
      customParameters: {},
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
    },
  });
}

/** Pairs: a row, the row it is compared against, and how to read the ratio. */
const PAIRS: Array<{ row: string; base: string; label: string }> = [
  { row: 'parseInbound (media frame, scratch buffer)', base: 'JSON.parse + Buffer.from(base64) [baseline]', label: 'the JSON baseline' },
  { row: 'InboundParser.parse (media frame as Buffer)', base: 'parseInbound (media frame, scratch buffer)', label: 'parseInbound of the string' },
  { row: 'mu-law decode, decodeMulaw (table, allocates)', base: 'mu-law decode, MULAW_TO_PCM16 table', label: 'the table into a reused buffer' },
  { row: 'mu-law decode, alawmulaw.mulaw.decode', base: 'mu-law decode, MULAW_TO_PCM16 table', label: 'the table into a reused buffer' },
];

function withRatios(rows: MicroResult[]): HotPathRow[] {
  const byName = new Map(rows.map((r) => [r.name, r]));
  return rows.map((row) => {
    const pair = PAIRS.find((p) => p.row === row.name);
    const base = pair && byName.get(pair.base);
    return pair && base ? { ...row, versus: { label: pair.label, ratio: row.nsPerOp / base.nsPerOp } } : row;
  });
}

export async function runHotPathSuite(): Promise<HotPathResult> {
  const fx = await fixture();
  try {
    const cases = [...parseCases(fx), ...decodeCases(fx), ...frameCases(fx), recorderCase(fx), telemetryCase(fx), await workerBridgeCase(fx), sessionCase(fx)];
    const rows: MicroResult[] = [];
    for (const c of cases) rows.push(await measure(c));
    return { runs: DEFAULT_MICRO.runs, minIterations: DEFAULT_MICRO.minIterations, rows: withRatios(rows) };
  } finally {
    await Promise.all(fx.telemetries.map((t) => t.close()));
    await Promise.all(fx.pools.map((p) => p.close()));
    await rm(fx.tmp, { recursive: true, force: true });
  }
}

export function formatHotPathReport(r: HotPathResult): string[] {
  const width = Math.max(...r.rows.map((row) => row.name.length));
  const lines = [`hot path: ns per 20 ms frame (median of ${r.runs} runs of >= ${r.minIterations} iterations each, after warm-up)`];
  for (const row of r.rows) {
    const spread = `runs ${fmt(Math.min(...row.runsNs))}-${fmt(Math.max(...row.runsNs))}`;
    const ns = fmt(row.nsPerOp).padStart(8);
    const versus = row.versus ? `  = ${fmt(row.versus.ratio)}x ${row.versus.label}` : '';
    lines.push(`  ${row.name.padEnd(width)} ${ns} ns  (${spread}, ${row.iterations} it)${versus}`);
  }
  return lines;
}
