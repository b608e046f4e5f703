// Recordings made before calls were records (before migration 6) become calls, once, at start, so
// an operator sees the calls the gateway took before this version as well: inbound ones, and task
// calls linked to their task (with the task's transcript). Only WAVs named by the recorder
// (`<stamp>_<callSid>_<streamSid>.wav`) and stamped before the database began keeping calls are
// imported: any later one belongs to a call that has its own record.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { WAV_HEADER_BYTES, STEREO_FRAME_BYTES } from '../audio/wav-header.js';
import type { TaskStore } from '../tasks/store.js';
import type { Logger } from '../telemetry/logger.js';
import { SAMPLE_RATE } from '../twilio/protocol.js';
import type { CallStore } from './store.js';

const RECORDING_NAME = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z_([A-Za-z0-9-]+)_([A-Za-z0-9-]+)\.wav$/;

export interface RecordingsImportDeps {
  store: CallStore;
  taskStore: Pick<TaskStore, 'findByCallSid'>;
  recordingsDir: string;
  logger: Logger;
}

/** What a recording's name says of its call; undefined for any other file. */
export function parseRecordingName(name: string): { startedAt: string; callSid: string; streamSid: string } | undefined {
  const m = RECORDING_NAME.exec(name);
  if (!m) return undefined;
  const startedAt = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z`;
  return Number.isNaN(Date.parse(startedAt)) ? undefined : { startedAt, callSid: m[7]!, streamSid: m[8]! };
}

/** Imports the earlier recordings that have no call yet; resolves with the ids of the calls made. */
export async function importEarlierRecordings(deps: RecordingsImportDeps): Promise<string[]> {
  const since = await deps.store.recordsSince();
  if (since === undefined) return [];
  const imported: string[] = [];
  for (const name of await readdir(deps.recordingsDir)) {
    const parsed = parseRecordingName(name);
    if (!parsed || Date.parse(parsed.startedAt) >= since.getTime()) continue;
    const file = path.join(deps.recordingsDir, name);
    if (await deps.store.hasRecording(file)) continue;
    const { size } = await stat(file);
    const task = await deps.taskStore.findByCallSid(parsed.callSid);
    const id = `recording-${name.slice(0, -'.wav'.length)}`;
    const recordingMs = Math.round(((Math.max(0, size - WAV_HEADER_BYTES) / STEREO_FRAME_BYTES) * 1000) / SAMPLE_RATE);
    const made = await deps.store.importRecorded({
      id,
      direction: task ? 'outbound' : 'inbound',
      ...(task && { taskId: task.id }),
      callSid: parsed.callSid,
      streamSid: parsed.streamSid,
      startedAt: parsed.startedAt,
      recordingPath: file,
      recordingMs,
    });
    if (!made) continue;
    for (const line of task?.transcript ?? []) await deps.store.appendTranscript(id, line);
    imported.push(id);
  }
  if (imported.length > 0) deps.logger.info('made call records of recordings older than the call records', { calls: imported.length });
  return imported;
}
