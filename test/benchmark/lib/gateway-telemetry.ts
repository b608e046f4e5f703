// Reads what the gateway itself recorded about the run from its telemetry JSONL: one
// `media_stream/stop` per call (frames it received), its own `agent/turn_latency`, and its
// event-loop reports (`runtime/event_loop`, one per 10 s). Every `telemetry_events*.jsonl` in
// DATA_DIR is read: the live file, those rotated before it, and each worker's own under
// DATA_DIR/workers/<worker>/ (WORKERS > 1: two processes must not rotate one file).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface CallStop {
  framesIn: number;
  framesPadded: number;
  badFrames: number;
  reason: string;
}

export interface GatewayTelemetry {
  /** By call_sid. */
  stops: Map<string, CallStop>;
  turnLatencyMs: number[];
  /** One entry per event-loop report, in order. */
  eventLoop: Array<{ p99Ms: number; maxMs: number; utilization: number }>;
  unreadableLines: number;
}

type Line = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

const TELEMETRY_FILE = /^telemetry_events.*\.jsonl$/;

export async function readGatewayTelemetry(dataDir: string): Promise<GatewayTelemetry> {
  const result: GatewayTelemetry = { stops: new Map(), turnLatencyMs: [], eventLoop: [], unreadableLines: 0 };
  // No file: every call will count as having no stop event.
  const workersDir = path.join(dataDir, 'workers');
  const workerDirs = (await readdir(workersDir).catch(() => [] as string[])).map((name) => path.join(workersDir, name));
  for (const dir of [dataDir, ...workerDirs.sort()]) {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => TELEMETRY_FILE.test(name)).sort();
    for (const name of names) collectFile(await readFile(path.join(dir, name), 'utf8').catch(() => ''), result);
  }
  return result;
}

function collectFile(text: string, result: GatewayTelemetry): void {
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      result.unreadableLines++;
      continue;
    }
    collect(line, result);
  }
}

function collect(line: Line, into: GatewayTelemetry): void {
  if (line.component === 'media_stream' && line.action === 'stop' && typeof line.call_sid === 'string') {
    into.stops.set(line.call_sid, {
      framesIn: num(line.frames_in),
      framesPadded: num(line.frames_padded),
      badFrames: num(line.bad_frames),
      reason: String(line.reason),
    });
  } else if (line.component === 'agent' && line.action === 'turn_latency' && typeof line.duration_ms === 'number') {
    into.turnLatencyMs.push(line.duration_ms);
  } else if (line.component === 'runtime' && line.action === 'event_loop') {
    into.eventLoop.push({ p99Ms: num(line.duration_ms), maxMs: num(line.maxMs), utilization: num(line.utilization) });
  }
}
