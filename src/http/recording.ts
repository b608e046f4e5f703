// Serving a call's WAV, one way for every route that has one (a task's, a call's): Range requests,
// no shared caching, a 416 or 404 in the API's error shape. The path it is given must have been
// checked already (recordingInside): a client never names a file.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Response } from 'express';
import type { Logger } from '../telemetry/logger.js';
import { sendError } from './errors.js';

/** Sends `file` as `<downloadName>.wav`, honouring Range. */
export function sendRecording(res: Response, logger: Logger, file: string, downloadName: string): void {
  res.set({
    'Content-Type': 'audio/wav',
    'Content-Disposition': `inline; filename="${downloadName.replace(/[^A-Za-z0-9._-]/g, '_')}.wav"`,
    // A recording is private to whoever holds the key: no shared cache may keep it.
    'Cache-Control': 'private, no-cache',
  });
  // The path is checked already (inside RECORDINGS_DIR); `allow` keeps a dot-folder above it from hiding the file.
  res.sendFile(file, { acceptRanges: true, cacheControl: false, dotfiles: 'allow' }, (err?: Error & { status?: number; headers?: Record<string, string> }) => {
    if (!err || res.headersSent) return;
    if (err.status === 416) {
      return sendError(res, logger, 416, { error: 'range_not_satisfiable', message: 'the Range lies outside the recording' }, err.headers ?? {});
    }
    sendError(res, logger, 404, { error: 'recording_not_found', message: 'the recording is not available' });
  });
}

/** Resolves links and `..` on both sides; undefined when the file is missing or lies outside `dir`. */
export async function recordingInside(dir: string, file: string): Promise<string | undefined> {
  try {
    const [root, real] = await Promise.all([realpath(dir), realpath(path.resolve(dir, file))]);
    const relative = path.relative(root, real);
    const inside = relative !== '' && relative.split(path.sep)[0] !== '..' && !path.isAbsolute(relative);
    return inside ? real : undefined;
  } catch {
    return undefined;
  }
}
