// Appends lines to a file in batches, off the caller's path, and rotates it by size with a bounded
// number of files: `events.jsonl` is always the live file, `events1.jsonl` the one before it, up
// to `events<maxFiles-1>.jsonl`; the oldest is dropped. The same naming as winston's tailable
// rotation, so both logs in DATA_DIR look alike. Used by the telemetry event log and service.log.
import { mkdir, open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { toError } from '../util/errors.js';

export interface RotatingFileOptions {
  /** The live file; its directory is created. */
  file: string;
  /** A file that would pass this size with the next lines is rotated first (a longer single line still goes out whole). */
  maxBytes: number;
  /** Files kept, the live one included (>= 1). */
  maxFiles: number;
  /** Lines waiting for the disk beyond which new lines are dropped (and counted). */
  maxPendingLines: number;
  /** The longest a line waits before it is written; 0 = the next event-loop turn. flush() does not wait. */
  batchMs: number;
  /** Called once, with the first error; file output then stops (the file's state is unknown). */
  onError: (err: Error) => void;
}

/** `dir/name.ext` → `dir/name<n>.ext`; n = 0 is the live file itself. */
export function rotatedPath(file: string, n: number): string {
  if (n === 0) return file;
  const ext = path.extname(file);
  return path.join(path.dirname(file), `${path.basename(file, ext)}${n}${ext}`);
}

/**
 * Lines wait in `pending` until the previous batch is on disk, so a slow disk shows up as a
 * growing queue, which is capped. Each line gets a sequence number so flush() can wait for exactly
 * the lines accepted before it, even under constant load.
 */
export class RotatingLineWriter {
  private pending: string[] = [];
  private enqueued = 0; // sequence number of the last accepted line
  private written = 0; // sequence number of the last line on disk
  private waiters: { seq: number; resolve: () => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate = false;
  private writing = false;
  private failed = false;
  private closed = false;
  private handle: Promise<FileHandle>;
  /** Bytes in the live file. */
  private size = 0;
  dropped = 0;

  constructor(private readonly opts: RotatingFileOptions) {
    if (!(opts.maxBytes > 0)) throw new RangeError(`maxBytes must be positive, got ${opts.maxBytes}`);
    if (!Number.isInteger(opts.maxFiles) || opts.maxFiles < 1) throw new RangeError(`maxFiles must be a positive integer, got ${opts.maxFiles}`);
    this.handle = mkdir(path.dirname(opts.file), { recursive: true }).then(() => this.openLive());
    // A failed open is handled when the first batch awaits it; this keeps it from being "unhandled".
    this.handle.catch(() => undefined);
  }

  enqueue(line: string): void {
    if (this.failed || this.closed || this.pending.length >= this.opts.maxPendingLines) {
      this.dropped += 1;
      return;
    }
    this.pending.push(line);
    this.enqueued += 1;
    this.schedule();
  }

  flush(): Promise<void> {
    if (this.written >= this.enqueued || this.failed) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ seq: this.enqueued, resolve });
      this.schedule(true);
    });
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    try {
      await (await this.handle).close();
    } catch {
      // Open or close failed: an open error was already reported; nothing is left to release.
    }
  }

  private async openLive(): Promise<FileHandle> {
    const handle = await open(this.opts.file, 'a');
    this.size = (await handle.stat()).size;
    return handle;
  }

  /**
   * Lines gather for up to batchMs before a write: under load that is one write for hundreds of
   * lines instead of one per event-loop turn (each write is a round trip to the thread pool).
   * flush() writes at once. The timer is unref'd: a pending batch never keeps the process alive;
   * close() flushes it.
   */
  private schedule(now = false): void {
    if (this.writing) return;
    if (now && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.timer || this.immediate) return;
    const run = () => {
      this.timer = undefined;
      this.immediate = false;
      void this.writeBatches();
    };
    if (now || this.opts.batchMs === 0) {
      this.immediate = true;
      setImmediate(run);
    } else {
      this.timer = setTimeout(run, this.opts.batchMs).unref();
    }
  }

  private async writeBatches(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        const lastSeq = this.enqueued;
        this.pending = [];
        await this.writeLines(batch);
        this.written = lastSeq;
        this.releaseWaiters();
      }
    } catch (err) {
      this.fail(toError(err));
    } finally {
      this.writing = false;
    }
  }

  /** Writes the lines in as few appends as the size limit allows, rotating between them. */
  private async writeLines(lines: string[]): Promise<void> {
    await this.handle; // the live file's size is known once it is open
    let from = 0;
    while (from < lines.length) {
      let bytes = 0;
      let to = from;
      for (; to < lines.length; to++) {
        const lineBytes = Buffer.byteLength(lines[to]!) + 1;
        if (this.size + bytes + lineBytes > this.opts.maxBytes && (to > from || this.size > 0)) break;
        bytes += lineBytes;
      }
      if (to === from) {
        await this.rotate();
        continue;
      }
      await (await this.handle).appendFile(`${lines.slice(from, to).join('\n')}\n`);
      this.size += bytes;
      from = to;
    }
  }

  /** live → 1 → 2 ... → maxFiles-1; the oldest is removed. Then a fresh live file. */
  private async rotate(): Promise<void> {
    await (await this.handle).close();
    const { file, maxFiles } = this.opts;
    await rm(rotatedPath(file, maxFiles - 1), { force: true });
    for (let n = maxFiles - 2; n >= 0; n--) {
      await rename(rotatedPath(file, n), rotatedPath(file, n + 1)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    this.handle = this.openLive();
    await this.handle;
  }

  /** After a failure the file's state is unknown, so file output stops; lines are counted as dropped. */
  private fail(err: Error): void {
    this.failed = true;
    this.dropped += this.enqueued - this.written; // the batch in flight and everything queued
    this.pending = [];
    this.written = this.enqueued;
    this.releaseWaiters();
    this.opts.onError(err);
  }

  private releaseWaiters(): void {
    const ready = this.waiters.filter((w) => w.seq <= this.written);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.seq > this.written);
    for (const w of ready) w.resolve();
  }
}
