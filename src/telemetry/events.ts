// Structured timing events: kept in memory for the query endpoints and appended to a JSONL file.
// record() sits on the per-frame hot path, so it only does in-memory work: lines are batched and
// written asynchronously, memory is bounded when the disk is slow, and nothing in it throws.
import { toError } from '../util/errors.js';
import { DEFAULT_LOG_MAX_FILE_BYTES, DEFAULT_LOG_MAX_FILES, REDACTED, SECRET_KEY } from './logger.js';
import { RotatingLineWriter } from './rotating-file.js';
import { DEFAULT_RESERVOIR_SIZE, DurationStats } from './stats.js';
import type { DurationSummary } from './stats.js';

export interface TelemetryFields {
  durationMs?: number;
  callSid?: string;
  streamSid?: string;
  taskId?: string;
  [extra: string]: unknown;
}

export interface TelemetryEvent {
  /** ISO timestamp of record(). */
  ts: string;
  component: string;
  action: string;
  duration_ms?: number;
  call_sid?: string;
  stream_sid?: string;
  task_id?: string;
  [extra: string]: unknown;
}

export interface TelemetryOptions {
  /** JSONL file, e.g. data/telemetry_events.jsonl; its directory is created. Omitted: memory only. */
  file?: string;
  /** Rotation: past this size the file becomes telemetry_events1.jsonl and a new one starts (default 10 MiB). */
  maxFileBytes?: number;
  /** Files kept, the live one included (default 5). */
  maxFiles?: number;
  /** Noisy actions are kept once every N occurrences per component/action (N >= 1). */
  noisyEveryN: number;
  /** Events kept in memory for recent(); default 5000. */
  recentLimit?: number;
  /** Per-frame actions that are sampled; default ['media_event','save_audio_chunk','media_mark_received']. */
  noisyActions?: readonly string[];
  /** Lines waiting for the disk beyond which new lines are dropped (and counted); default 10,000. */
  maxPendingLines?: number;
  /** Durations per component/action kept for percentiles; default 4096. */
  reservoirSize?: number;
  /** Called once, with the first error (a failed write ends file output; memory keeps working). */
  onError?: (err: Error) => void;
}

export interface SummaryRow extends DurationSummary {
  component: string;
  action: string;
  count: number;
}

export interface RecentQuery {
  limit?: number;
  component?: string;
  action?: string;
}

export const DEFAULT_NOISY_ACTIONS: readonly string[] = ['media_event', 'save_audio_chunk', 'media_mark_received'];
export const RECENT_DEFAULT_LIMIT = 100;
export const RECENT_MAX_LIMIT = 1000;
const DEFAULT_RECENT_LIMIT = 5000;
const DEFAULT_MAX_PENDING_LINES = 10_000;
/** The longest a recorded line waits before it is written (flush() does not wait). */
const BATCH_MS = 200;

// Field names the caller passes in camelCase and the event carries in snake_case.
const RENAMED_FIELDS: Readonly<Record<string, string>> = {
  durationMs: 'duration_ms',
  callSid: 'call_sid',
  streamSid: 'stream_sid',
  taskId: 'task_id',
};
// Extra fields may not overwrite what identifies an event.
const RESERVED_FIELDS = new Set(['ts', 'component', 'action', 'sampled_every', ...Object.values(RENAMED_FIELDS)]);

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** Fixed-capacity ring of the newest events. */
class RecentRing {
  private readonly items: (TelemetryEvent | undefined)[];
  private next = 0;

  constructor(capacity: number) {
    this.items = new Array<TelemetryEvent | undefined>(capacity);
  }

  push(event: TelemetryEvent): void {
    this.items[this.next] = event;
    this.next = (this.next + 1) % this.items.length;
  }

  /** Newest first, up to `limit` events that pass `keep`. */
  newest(limit: number, keep: (event: TelemetryEvent) => boolean): TelemetryEvent[] {
    const out: TelemetryEvent[] = [];
    const size = this.items.length;
    for (let back = 1; back <= size && out.length < limit; back += 1) {
      const event = this.items[(this.next - back + size) % size];
      if (event === undefined) break; // ring not yet full: older slots are empty
      if (keep(event)) out.push(event);
    }
    return out;
  }
}

/** Per component/action: occurrences (for sampling), kept events and their durations. */
interface KeyStats {
  readonly component: string;
  readonly action: string;
  seen: number;
  kept: number;
  readonly durations: DurationStats;
}

/** JSON for a line; extras the caller passed may be cyclic or hold a BigInt, which must not throw. */
function toLine(event: TelemetryEvent): string {
  try {
    return JSON.stringify(event);
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(event, (_key, value: unknown) => {
      if (typeof value === 'bigint') return value.toString();
      if (value !== null && typeof value === 'object') {
        if (seen.has(value)) return '[circular]';
        seen.add(value);
      }
      return value;
    });
  }
}

export class Telemetry {
  private readonly noisyEveryN: number;
  private readonly noisyActions: ReadonlySet<string>;
  private readonly reservoirSize: number;
  private readonly recentEvents: RecentRing;
  // Nested maps rather than a joined string key: no allocation per record on the hot path.
  private readonly stats = new Map<string, Map<string, KeyStats>>();
  private readonly writer: RotatingLineWriter | undefined;
  private readonly onError: ((err: Error) => void) | undefined;
  private firstError: Error | undefined;
  private internalDrops = 0;

  constructor(opts: TelemetryOptions) {
    this.noisyEveryN = positiveInt('noisyEveryN', opts.noisyEveryN);
    this.noisyActions = new Set(opts.noisyActions ?? DEFAULT_NOISY_ACTIONS);
    this.reservoirSize = positiveInt('reservoirSize', opts.reservoirSize ?? DEFAULT_RESERVOIR_SIZE);
    this.recentEvents = new RecentRing(positiveInt('recentLimit', opts.recentLimit ?? DEFAULT_RECENT_LIMIT));
    this.onError = opts.onError;
    const maxPending = positiveInt('maxPendingLines', opts.maxPendingLines ?? DEFAULT_MAX_PENDING_LINES);
    this.writer =
      opts.file === undefined
        ? undefined
        : new RotatingLineWriter({
            file: opts.file,
            maxBytes: opts.maxFileBytes ?? DEFAULT_LOG_MAX_FILE_BYTES,
            maxFiles: positiveInt('maxFiles', opts.maxFiles ?? DEFAULT_LOG_MAX_FILES),
            maxPendingLines: maxPending,
            batchMs: BATCH_MS,
            onError: (err) => this.reportError(err),
          });
  }

  /** Lines not written to the file: over the pending cap, after a write error, after close(). */
  get dropped(): number {
    return (this.writer?.dropped ?? 0) + this.internalDrops;
  }

  /** The first error met (usually a write error), if any; reported once through onError. */
  get error(): Error | undefined {
    return this.firstError;
  }

  record(component: string, action: string, fields?: TelemetryFields): void {
    try {
      const key = this.keyStats(component, action);
      key.seen += 1;
      const noisy = this.noisyActions.has(action);
      // Keep the 1st, (N+1)th, (2N+1)th, ... occurrence of a noisy action.
      if (noisy && (key.seen - 1) % this.noisyEveryN !== 0) return;
      const event = buildEvent(component, action, fields);
      if (noisy) event['sampled_every'] = this.noisyEveryN;
      key.kept += 1;
      if (event.duration_ms !== undefined) key.durations.add(event.duration_ms);
      this.recentEvents.push(event);
      this.writer?.enqueue(toLine(event));
    } catch (err) {
      this.internalDrops += 1;
      this.reportError(toError(err));
    }
  }

  /** Newest first; `limit` defaults to 100 and is clamped to 1..1000. */
  recent(query: RecentQuery = {}): TelemetryEvent[] {
    const { component, action } = query;
    return this.recentEvents.newest(
      clampLimit(query.limit),
      (e) => (component === undefined || e.component === component) && (action === undefined || e.action === action),
    );
  }

  /** One row per component/action that has kept events, sorted by component then action. */
  summary(): SummaryRow[] {
    const rows: SummaryRow[] = [];
    for (const byAction of this.stats.values()) {
      for (const key of byAction.values()) {
        if (key.kept === 0) continue;
        rows.push({ component: key.component, action: key.action, count: key.kept, ...key.durations.summarize() });
      }
    }
    return rows.sort((a, b) => compareStrings(a.component, b.component) || compareStrings(a.action, b.action));
  }

  /** Resolves once every line recorded before the call is on disk (or file output has failed). */
  flush(): Promise<void> {
    return this.writer?.flush() ?? Promise.resolve();
  }

  /** Flushes and closes the file; later records stay in memory only. */
  close(): Promise<void> {
    return this.writer?.close() ?? Promise.resolve();
  }

  private keyStats(component: string, action: string): KeyStats {
    let byAction = this.stats.get(component);
    if (byAction === undefined) {
      byAction = new Map();
      this.stats.set(component, byAction);
    }
    let key = byAction.get(action);
    if (key === undefined) {
      key = { component, action, seen: 0, kept: 0, durations: new DurationStats(this.reservoirSize) };
      byAction.set(action, key);
    }
    return key;
  }

  private reportError(err: Error): void {
    if (this.firstError !== undefined) return;
    this.firstError = err;
    try {
      this.onError?.(err);
    } catch {
      // A throwing callback must not turn into a throwing record().
    }
  }
}

function buildEvent(component: string, action: string, fields: TelemetryFields | undefined): TelemetryEvent {
  const event: TelemetryEvent = { ts: new Date().toISOString(), component, action };
  if (fields === undefined) return event;
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const renamed = RENAMED_FIELDS[name];
    if (renamed !== undefined) setKnownField(event, renamed, value);
    else if (!RESERVED_FIELDS.has(name)) event[name] = SECRET_KEY.test(name) ? REDACTED : value;
  }
  return event;
}

// A non-finite duration would poison the stats and serialize as null, so it is left out.
function setKnownField(event: TelemetryEvent, name: string, value: unknown): void {
  if (name === 'duration_ms') {
    if (typeof value === 'number' && Number.isFinite(value)) event.duration_ms = value;
    return;
  }
  event[name] = value;
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || Number.isNaN(limit)) return RECENT_DEFAULT_LIMIT;
  return Math.min(RECENT_MAX_LIMIT, Math.max(1, Math.floor(limit)));
}

// Code-point order, not locale order: stable across machines.
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
