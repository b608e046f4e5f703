import { expect } from 'chai';
import { access, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encodeMulawSample } from '../../src/audio/mulaw.js';
import { readPcmWav } from '../../src/audio/wav-io.js';
import { RecorderSlot, isRecordingOfCall, recordingName } from '../../src/call/recorder-slot.js';
import { createLogger, type Logger } from '../../src/telemetry/logger.js';
import { FRAME_BYTES, FRAME_MS } from '../../src/twilio/protocol.js';
import { diskOfSize } from '../helpers/full-disk.js';

const IDS = { callSid: 'CA0123', streamSid: 'MZ0456', taskId: 'task_1' };
const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

async function logLines(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Polls the log until `pick` finds something; winston writes asynchronously. */
async function waitForLog(file: string, pick: (lines: Record<string, unknown>[]) => boolean): Promise<Record<string, unknown>[]> {
  for (const until = Date.now() + 5000; Date.now() < until; ) {
    const lines = await logLines(file);
    if (pick(lines)) return lines;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`log never matched; it holds ${JSON.stringify(await logLines(file))}`);
}

function feed(slot: RecorderSlot, fromMs: number, toMs: number): void {
  const frame = Buffer.alloc(FRAME_BYTES, encodeMulawSample(3000));
  for (let t = fromMs; t < toMs; t += FRAME_MS) slot.callerAudio(frame, t);
}

describe('RecorderSlot', () => {
  let dir: string;
  let logFile: string;
  let log: Logger;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'recorder-slot-'));
    logFile = path.join(dir, 'service.log');
    log = createLogger({ level: 'info', file: logFile, console: false });
  });

  afterEach(async () => {
    log.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('logs the first failed write at once with the call ids, counts the rest, and keeps a valid WAV of what was written', async () => {
    const recordings = path.join(dir, 'rec');
    const capacity = 44 + 1.5 * 8000 * 4;
    const slot = new RecorderSlot({ dir: recordings, name: 'call', openPart: async (p) => diskOfSize(await open(p, 'wx'), capacity) }, log, IDS);
    feed(slot, 0, 4000);

    // Logged while the call goes on, before any finalize.
    const during = await waitForLog(logFile, (lines) => lines.some((l) => l['level'] === 'error'));
    const failure = during.filter((l) => l['level'] === 'error');
    expect(failure).to.have.length(1);
    expect(failure[0]).to.include({ ...IDS, message: 'recording write failed; the call goes on and the recording keeps what reached the disk' });
    expect(failure[0]!['error']).to.match(/ENOSPC/);

    feed(slot, 4000, 9000);
    const info = await slot.finalize(9000);
    expect(info).to.include({ path: path.join(recordings, 'call.wav'), durationMs: 1500 });
    expect(info!.failedWrites).to.be.at.least(3);
    const wav = await readPcmWav(info!.path);
    expect(wav.samples.length).to.equal(1.5 * 8000 * 2);
    expect(await exists(path.join(recordings, 'call.wav.part'))).to.equal(false);

    const after = await waitForLog(logFile, (lines) => lines.some((l) => l['level'] === 'warn'));
    expect(after.filter((l) => l['level'] === 'error')).to.have.length(1);
    expect(after.find((l) => l['level'] === 'warn')).to.include({ ...IDS, recording: info!.path, failedWrites: info!.failedWrites });
  });

  it('logs a recording that cannot be opened once, and the call keeps going without one', async () => {
    const file = path.join(dir, 'a-file');
    await (await open(file, 'w')).close();
    const slot = new RecorderSlot({ dir: path.join(file, 'rec'), name: 'call' }, log, IDS);
    feed(slot, 0, 1000);
    expect(await slot.finalize(1000)).to.equal(undefined);
    const lines = await waitForLog(logFile, (l) => l.length > 0);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ ...IDS, level: 'error', message: 'recording could not be opened' });
  });

  it('names a recording by start time, CallSid and StreamSid, and recognises it by CallSid', () => {
    const name = recordingName(new Date('2026-01-02T03:04:05.678Z'), { callSid: 'CAabc', streamSid: 'MZ/x', parameters: {}, taskId: undefined, prompt: undefined, greeting: undefined });
    expect(name).to.equal('20260102T030405Z_CAabc_MZ_x');
    expect(isRecordingOfCall(`${name}.recovered.wav`, 'CAabc')).to.equal(true);
    expect(isRecordingOfCall(`${name}.wav`, 'CAab')).to.equal(false);
  });
});
