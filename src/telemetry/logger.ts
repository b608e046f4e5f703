// The human log: winston with a readable console line and JSON lines in an optional file.
// Secrets are redacted by a logger-level format, so every transport sees only redacted metadata.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import winston from 'winston';
import type { Logger } from 'winston';
import type TransportStream from 'winston-transport';
import { isPlainObject } from '../util/plain-object.js';
import { RotatingLineWriter } from './rotating-file.js';

export type { Logger };

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface LoggerOptions {
  level: LogLevel;
  /** JSON-lines log file, e.g. data/service.log; its directory is created. */
  file?: string;
  /** Rotation of `file`: past this size it is renamed and a new one started (default 10 MiB). */
  maxFileBytes?: number;
  /** Files kept, the live one included: service.log, service1.log, ... (default 5). */
  maxFiles?: number;
  /** Human-readable console output; default true. */
  console?: boolean;
}

/** Metadata keys whose values never reach a log line (also used by the telemetry event log). */
export const SECRET_KEY = /token|secret|password|authorization|api[_-]?key/i;
export const REDACTED = '[redacted]';

// Nested metadata is redacted too (e.g. `{ headers: { authorization } }`), to a bounded depth so a
// deep or cyclic object cannot make a log call expensive.
const MAX_REDACT_DEPTH = 6;

/** A copy of `value` with secret keys redacted; the caller's objects are never modified. */
function redactValue(value: unknown, depth: number): unknown {
  // Error properties are not enumerable, so they would log as `{}`; keep what a reader needs.
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (depth >= MAX_REDACT_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) ? REDACTED : redactValue(inner, depth + 1);
  }
  return out;
}

// Winston may hand the caller's own object to formats (`logger.info({ message, token })`), so
// the format returns a copy; Object.assign keeps winston's symbol keys (level, splat). A field
// whose value is undefined (an optional id not known yet) is dropped rather than printed as
// `key=undefined`.
const redactSecrets = winston.format((info) => {
  const out = Object.assign({}, info);
  for (const key of Object.keys(out)) {
    if (key === 'level' || key === 'message') continue;
    if (out[key] === undefined) delete out[key];
    else out[key] = SECRET_KEY.test(key) ? REDACTED : redactValue(out[key], 0);
  }
  return out;
});

// Keys that the console line shows in fixed positions rather than as key=value pairs.
const CONSOLE_FIXED_KEYS = new Set(['timestamp', 'level', 'message', 'stack']);

function consoleValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return '[unserializable]';
  }
}

/** `2024-05-01T10:00:00.000Z info  call started call_sid=CA123 agent=echo`, stack on next lines. */
function consoleLine(info: winston.Logform.TransformableInfo): string {
  const pairs = Object.keys(info)
    .filter((key) => !CONSOLE_FIXED_KEYS.has(key))
    .map((key) => `${key}=${consoleValue(info[key])}`);
  const head = `${String(info['timestamp'])} ${info.level.padEnd(5)} ${String(info.message)}`;
  const line = pairs.length > 0 ? `${head} ${pairs.join(' ')}` : head;
  return typeof info['stack'] === 'string' ? `${line}\n${info['stack']}` : line;
}

export const DEFAULT_LOG_MAX_FILE_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_MAX_FILES = 5;
/** Log lines waiting for the disk beyond which new ones are dropped: a stalled disk must not grow memory. */
const MAX_PENDING_LOG_LINES = 10_000;
const MESSAGE = Symbol.for('message');
// winston exports its transport base class as `Transport` at runtime; its typings call it `transport`.
const TransportBase = (winston as unknown as { Transport: typeof TransportStream }).Transport;

/**
 * JSON lines to a size-rotated file: service.log is the live file (what an operator tails),
 * service1.log the one before, up to service<maxFiles-1>.log. Not winston's File transport: under a
 * burst of lines its rotation loses lines and overshoots the size, exactly when the log matters.
 */
class RotatingFileTransport extends TransportBase {
  private readonly writer: RotatingLineWriter;

  constructor(file: string, maxBytes: number, maxFiles: number) {
    super({ format: winston.format.json() });
    // Startup only, so a synchronous mkdir is fine and fails loudly on a bad path.
    mkdirSync(path.dirname(file), { recursive: true });
    this.writer = new RotatingLineWriter({
      file,
      maxBytes,
      maxFiles,
      maxPendingLines: MAX_PENDING_LOG_LINES,
      batchMs: 0,
      // The log cannot report its own failure; say it once on stderr, never per line.
      onError: (err) => process.stderr.write(`service log ${file} can no longer be written: ${err.message}\n`),
    });
  }

  override log(info: winston.Logform.TransformableInfo, next: () => void): void {
    this.writer.enqueue(String(info[MESSAGE]));
    next();
  }

  /** Resolves once every line logged so far is on disk. */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  override close(): void {
    void this.writer.close();
  }
}

/**
 * Waits until every line logged so far reached the log file: lines are written asynchronously, so
 * a process about to exit calls this after its last line ("stopped") or that line is lost.
 */
export async function flushLogs(logger: Logger): Promise<void> {
  const files = logger.transports.filter((t): t is RotatingFileTransport => t instanceof RotatingFileTransport);
  await Promise.all(files.map((t) => t.flush()));
}

export function createLogger(opts: LoggerOptions): Logger {
  const transports: winston.transport[] = [];
  if (opts.console ?? true) {
    transports.push(new winston.transports.Console({ format: winston.format.printf(consoleLine) }));
  }
  if (opts.file !== undefined) {
    transports.push(new RotatingFileTransport(opts.file, opts.maxFileBytes ?? DEFAULT_LOG_MAX_FILE_BYTES, opts.maxFiles ?? DEFAULT_LOG_MAX_FILES));
  }
  return winston.createLogger({
    level: opts.level,
    // errors() first: it turns a logged Error into a plain info with message and stack.
    format: winston.format.combine(winston.format.errors({ stack: true }), redactSecrets(), winston.format.timestamp()),
    transports,
    // With no transport winston warns on every line; a silent one keeps `console: false` quiet.
    silent: transports.length === 0,
  });
}

/** A logger that drops everything; for tests and for code paths that need one but have none. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
