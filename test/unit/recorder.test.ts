import { expect } from 'chai';
import type { FileHandle } from 'node:fs/promises';
import { access, mkdtemp, open, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CallRecorder } from '../../src/audio/recorder.js';
import { MULAW_TO_PCM16, encodeMulawSample } from '../../src/audio/mulaw.js';
import { readPcmWav } from '../../src/audio/wav-io.js';
import { FRAME_BYTES, FRAME_MS } from '../../src/twilio/protocol.js';
import { diskOfSize } from '../helpers/full-disk.js';

/** A position-dependent, never-silent test signal: its value at absolute sample s is known. */
const signal = (s: number): number => 1000 + ((s * 37) % 20000);
/** What the WAV must hold at sample s after the mu-law round trip. */
const expected = (s: number): number => MULAW_TO_PCM16[encodeMulawSample(signal(s))]!;

/** `n` mu-law bytes of the test signal starting at absolute sample `from`. */
function mulawAt(from: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = encodeMulawSample(signal(from + i));
  return out;
}

interface Channels {
  left: Int16Array;
  right: Int16Array;
}

async function readChannels(file: string): Promise<Channels> {
  const wav = await readPcmWav(file);
  expect(wav.sampleRate).to.equal(8000);
  expect(wav.channels).to.equal(2);
  const frames = wav.samples.length / 2;
  const left = new Int16Array(frames);
  const right = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    left[i] = wav.samples[i * 2]!;
    right[i] = wav.samples[i * 2 + 1]!;
  }
  return { left, right };
}

/** Index of the first sample in [from, to) that differs from the test signal, or -1. */
function firstSignalMismatch(ch: Int16Array, from: number, to: number): number {
  for (let s = from; s < to; s++) if (ch[s] !== expected(s)) return s;
  return -1;
}

function firstNonZero(ch: Int16Array, from: number, to: number): number {
  for (let s = from; s < to; s++) if (ch[s] !== 0) return s;
  return -1;
}

/** Feeds caller frames of the test signal for [fromMs, toMs) through one reused buffer, as the gateway does. */
function feedCaller(rec: CallRecorder, fromMs: number, toMs: number, scratch = Buffer.alloc(FRAME_BYTES)): void {
  for (let t = fromMs; t < toMs; t += FRAME_MS) {
    mulawAt(t * 8, FRAME_BYTES).copy(scratch);
    rec.callerAudio(scratch, t);
  }
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

describe('CallRecorder', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'recorder-test-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('places caller frames in the left channel at their timestamps, right channel silent', async () => {
    const rec = await CallRecorder.open({ dir, name: 'call-1', flushEveryMs: 100 });
    expect(path.basename(rec.partPath)).to.equal('call-1.wav.part');
    expect((await stat(rec.partPath)).size).to.equal(44);
    feedCaller(rec, 0, 1000);
    const info = await rec.finalize();

    expect(info).to.deep.equal({
      path: path.join(dir, 'call-1.wav'),
      durationMs: 1000,
      bytes: 44 + 8000 * 4,
      droppedLateCallerFrames: 0,
      failedWrites: 0,
      droppedJumpCallerFrames: 0,
    });
    expect(rec.finalPath).to.equal(info.path);
    expect((await stat(info.path)).size).to.equal(info.bytes);
    expect(await exists(rec.partPath)).to.equal(false);
    const { left, right } = await readChannels(info.path);
    expect(left.length).to.equal(8000);
    expect(firstSignalMismatch(left, 0, 8000)).to.equal(-1);
    expect(firstNonZero(right, 0, 8000)).to.equal(-1);
  });

  it('turns missing caller frames into silence and keeps later frames at their timestamps', async () => {
    const rec = await CallRecorder.open({ dir, name: 'gap', flushEveryMs: 100 });
    feedCaller(rec, 0, 200);
    feedCaller(rec, 400, 600); // 200..400 ms never arrived
    feedCaller(rec, 1000, 1100); // a gap longer than the flush window
    const info = await rec.finalize();

    expect(info.durationMs).to.equal(1100);
    const { left, right } = await readChannels(info.path);
    expect(left.length).to.equal(8800);
    expect(firstSignalMismatch(left, 0, 1600)).to.equal(-1);
    expect(firstNonZero(left, 1600, 3200)).to.equal(-1);
    expect(firstSignalMismatch(left, 3200, 4800)).to.equal(-1);
    expect(firstNonZero(left, 4800, 8000)).to.equal(-1);
    expect(firstSignalMismatch(left, 8000, 8800)).to.equal(-1);
    expect(firstNonZero(right, 0, 8800)).to.equal(-1);
  });

  it('drops and counts a caller frame that would pad more than maxCallerGapMs, instead of padding hours of silence', async () => {
    const rec = await CallRecorder.open({ dir, name: 'jump', flushEveryMs: 100, maxCallerGapMs: 2000 });
    feedCaller(rec, 0, 200);
    feedCaller(rec, 3_600_000, 3_600_020); // an hour ahead: dropped
    feedCaller(rec, 2200, 2300); // a 2 s gap: within the bound, padded
    feedCaller(rec, 4400, 4420); // 2.1 s past the caller's end: dropped
    const info = await rec.finalize();

    expect(info.droppedJumpCallerFrames).to.equal(2);
    expect(info.durationMs).to.equal(2300);
    expect((await stat(info.path)).size).to.equal(44 + 2300 * 8 * 4);
    const { left } = await readChannels(info.path);
    expect(firstSignalMismatch(left, 0, 1600)).to.equal(-1);
    expect(firstNonZero(left, 1600, 17_600)).to.equal(-1);
    expect(firstSignalMismatch(left, 17_600, 18_400)).to.equal(-1);
  });

  it('bounds the padding before the first caller frame by the default too (5 s)', async () => {
    const rec = await CallRecorder.open({ dir, name: 'first-jump', flushEveryMs: 100 });
    feedCaller(rec, 3_600_000, 3_600_100);
    feedCaller(rec, 4000, 4100);
    const info = await rec.finalize();
    expect(info.droppedJumpCallerFrames).to.equal(5);
    expect(info.durationMs).to.equal(4100);
  });

  it('places out-of-order frames inside the window and drops frames older than the flushed position', async () => {
    const rec = await CallRecorder.open({ dir, name: 'order', flushEveryMs: 100 });
    const frame = (ms: number): Buffer => mulawAt(ms * 8, FRAME_BYTES);
    rec.callerAudio(frame(0), 0);
    rec.callerAudio(frame(40), 40);
    rec.callerAudio(frame(20), 20); // late but still unflushed: placed
    feedCaller(rec, 60, 500);
    feedCaller(rec, 520, 600); // flushes trail the caller by 200 ms: written up to 400 ms
    rec.callerAudio(frame(500), 500); // 100 ms late, within the margin: placed
    rec.callerAudio(Buffer.alloc(FRAME_BYTES, 0x00), 80); // already written: dropped
    const info = await rec.finalize();

    expect(info.droppedLateCallerFrames).to.equal(1);
    const { left } = await readChannels(info.path);
    expect(left.length).to.equal(4800);
    expect(firstSignalMismatch(left, 0, 4800)).to.equal(-1);
  });

  it('places agent audio stamped slightly behind the caller clock', async () => {
    const rec = await CallRecorder.open({ dir, name: 'behind', flushEveryMs: 100 });
    feedCaller(rec, 0, 1000); // written up to 800 ms
    rec.agentAudio(mulawAt(7840, 800), 980); // stamped with the last frame's start
    rec.agentAudio(mulawAt(6000, 800), 750); // 50 ms of it lie before 800 ms: only the rest is kept
    const info = await rec.finalize();

    expect(info.durationMs).to.equal(1080);
    const { right } = await readChannels(info.path);
    expect(firstNonZero(right, 0, 6400)).to.equal(-1);
    expect(firstSignalMismatch(right, 6400, 6800)).to.equal(-1);
    expect(firstNonZero(right, 6800, 7840)).to.equal(-1);
    expect(firstSignalMismatch(right, 7840, 8640)).to.equal(-1);
  });

  it('puts agent audio queued ahead in the right channel and cuts it exactly at a barge-in', async () => {
    const rec = await CallRecorder.open({ dir, name: 'agent', flushEveryMs: 200 });
    feedCaller(rec, 0, 500);
    const agent = mulawAt(8000, 16000); // 2 s, meant for 1000..3000 ms
    rec.agentAudio(agent, 1000);
    agent.fill(0x00); // the sender reuses its buffer: the recorder must have copied
    rec.agentAudio(mulawAt(13600, 800), 1700); // a later chunk of the same turn, also cut
    feedCaller(rec, 500, 1400);
    rec.cutAgentFrom(1500);
    rec.agentAudio(mulawAt(16000, 800), 2000); // the next turn, queued after the cut: kept
    feedCaller(rec, 1400, 2500);
    const info = await rec.finalize();

    expect(info.durationMs).to.equal(2500);
    const { left, right } = await readChannels(info.path);
    expect(firstSignalMismatch(left, 0, 20000)).to.equal(-1);
    expect(firstNonZero(right, 0, 8000)).to.equal(-1);
    expect(firstSignalMismatch(right, 8000, 12000)).to.equal(-1);
    expect(firstNonZero(right, 12000, 16000)).to.equal(-1);
    expect(firstSignalMismatch(right, 16000, 16800)).to.equal(-1);
    expect(firstNonZero(right, 16800, 20000)).to.equal(-1);
  });

  it('lets the later-queued agent chunk win where two overlap', async () => {
    const rec = await CallRecorder.open({ dir, name: 'overlap' });
    rec.agentAudio(Buffer.alloc(800, encodeMulawSample(5000)), 0);
    rec.agentAudio(mulawAt(400, 800), 50);
    const info = await rec.finalize();

    expect(info.durationMs).to.equal(150);
    const { left, right } = await readChannels(info.path);
    const first = MULAW_TO_PCM16[encodeMulawSample(5000)]!;
    expect(Array.from(right.subarray(0, 400)).every((v) => v === first)).to.equal(true);
    expect(firstSignalMismatch(right, 400, 1200)).to.equal(-1);
    expect(firstNonZero(left, 0, 1200)).to.equal(-1);
  });

  it('extends the recording to the end of queued agent audio by default', async () => {
    const rec = await CallRecorder.open({ dir, name: 'tail' });
    feedCaller(rec, 0, 1000);
    rec.agentAudio(mulawAt(6400, 8000), 800); // plays until 1800 ms
    const info = await rec.finalize();

    expect(info.durationMs).to.equal(1800);
    const { left, right } = await readChannels(info.path);
    expect(firstNonZero(left, 8000, 14400)).to.equal(-1);
    expect(firstSignalMismatch(right, 6400, 14400)).to.equal(-1);
  });

  it('finalize(endAtMs) drops agent audio after the end', async () => {
    const rec = await CallRecorder.open({ dir, name: 'end' });
    feedCaller(rec, 0, 1000);
    rec.agentAudio(mulawAt(6400, 8000), 800);
    const info = await rec.finalize(1200);

    expect(info.durationMs).to.equal(1200);
    expect(info.bytes).to.equal(44 + 9600 * 4);
    expect((await stat(info.path)).size).to.equal(info.bytes);
    const { left, right } = await readChannels(info.path);
    expect(right.length).to.equal(9600);
    expect(firstSignalMismatch(left, 0, 8000)).to.equal(-1);
    expect(firstNonZero(left, 8000, 9600)).to.equal(-1);
    expect(firstNonZero(right, 0, 6400)).to.equal(-1);
    expect(firstSignalMismatch(right, 6400, 9600)).to.equal(-1);
  });

  it('finalize(endAtMs) before already-flushed audio truncates the file to the end', async () => {
    const rec = await CallRecorder.open({ dir, name: 'short', flushEveryMs: 100 });
    feedCaller(rec, 0, 2000);
    const info = await rec.finalize(500);

    expect(info.durationMs).to.equal(500);
    expect((await stat(info.path)).size).to.equal(44 + 4000 * 4);
    const { left } = await readChannels(info.path);
    expect(left.length).to.equal(4000);
    expect(firstSignalMismatch(left, 0, 4000)).to.equal(-1);
  });

  it('keeps memory bounded over a long call and writes every sample', async () => {
    const rec = await CallRecorder.open({ dir, name: 'long' });
    const scratch = Buffer.alloc(FRAME_BYTES);
    const agentTurn = mulawAt(0, 8000); // 1 s of agent speech
    const callMs = 10 * 60 * 1000;
    let maxPending = 0;
    let pendingAfterFirstMinute = 0;
    for (let t = 0; t < callMs; t += FRAME_MS) {
      // Every 5 s the agent sends a 1 s reply 2 s ahead of the caller clock.
      if (t % 5000 === 0) rec.agentAudio(agentTurn, t + 2000);
      scratch.fill(encodeMulawSample(signal(t)));
      rec.callerAudio(scratch, t);
      maxPending = Math.max(maxPending, rec.pendingSamples);
      if (t === 60_000) pendingAfterFirstMinute = maxPending;
      if (t % 1000 === 0) await new Promise((resolve) => setImmediate(resolve)); // let writes run
    }
    // The caller lane holds one flush window (1 s + the 200 ms late margin + a frame); the agent
    // lane reaches from the flushed position to the end of the queued turn (up to 4.2 s), at most
    // doubled by its growth steps. Nothing grows after the first minute.
    const callerLane = 8000 + 1600 + FRAME_BYTES;
    expect(maxPending).to.be.at.most(callerLane + 2 * 4200 * 8);
    expect(maxPending).to.equal(pendingAfterFirstMinute);
    const info = await rec.finalize();

    expect(info.durationMs).to.equal(callMs);
    expect((await stat(info.path)).size).to.equal(44 + callMs * 8 * 4);
    const { left, right } = await readChannels(info.path);
    expect(left.length).to.equal(callMs * 8);
    for (const ms of [0, 20, 123_460, 599_980]) {
      const s = ms * 8;
      expect(left[s], `left at ${ms} ms`).to.equal(MULAW_TO_PCM16[encodeMulawSample(signal(ms))]);
    }
    const turnAt = (300_000 + 2000) * 8;
    expect(right[turnAt - 1]).to.equal(0);
    expect(right[turnAt]).to.equal(expected(0));
    expect(right[turnAt + 7999]).to.equal(expected(7999));
    expect(right[turnAt + 8000]).to.equal(0);
  });

  it('does not record agent audio queued over ten minutes ahead (a bound on memory)', async () => {
    const rec = await CallRecorder.open({ dir, name: 'far' });
    const before = rec.pendingSamples;
    rec.agentAudio(mulawAt(0, 800), 11 * 60 * 1000);
    expect(rec.pendingSamples).to.equal(before);
    feedCaller(rec, 0, 200);
    const info = await rec.finalize();
    expect(info.durationMs).to.equal(200);
  });

  it('finalize is idempotent and input after it is ignored', async () => {
    const rec = await CallRecorder.open({ dir, name: 'twice' });
    feedCaller(rec, 0, 200);
    const first = rec.finalize();
    expect(rec.finalize()).to.equal(first);
    rec.callerAudio(mulawAt(1600, FRAME_BYTES), 200);
    rec.agentAudio(mulawAt(0, 800), 0);
    rec.cutAgentFrom(0);
    const info = await first;
    expect(await rec.finalize(5000)).to.equal(info);

    expect(info.durationMs).to.equal(200);
    const { left, right } = await readChannels(info.path);
    expect(left.length).to.equal(1600);
    expect(firstNonZero(right, 0, 1600)).to.equal(-1);
  });

  it('rejects names that are not plain file stems', async () => {
    for (const name of ['../x', 'a/b', '', 'x'.repeat(129), 'a b', 'a\\b']) {
      let caught: unknown;
      await CallRecorder.open({ dir, name }).catch((err: unknown) => (caught = err));
      expect(caught, `name ${JSON.stringify(name)}`).to.be.instanceOf(Error);
    }
    expect(await exists(path.join(dir, '..', 'x.wav.part'))).to.equal(false);
  });

  it('refuses to reuse a part file that already exists', async () => {
    const first = await CallRecorder.open({ dir, name: 'dup' });
    let caught: unknown;
    await CallRecorder.open({ dir, name: 'dup' }).catch((err: unknown) => (caught = err));
    expect((caught as { code?: string }).code).to.equal('EEXIST');
    await first.finalize();
  });

  it('creates the directory, and after every write failed (a broken handle) leaves a valid empty WAV, reporting once', async () => {
    const nested = path.join(dir, 'a', 'b');
    const errors: Error[] = [];
    const rec = await CallRecorder.open({ dir: nested, name: 'broken', flushEveryMs: 100, onWriteError: (err) => errors.push(err) });
    // Break the file under the recorder: every later write fails with EBADF.
    await (rec as unknown as { file: FileHandle }).file.close();
    expect(() => feedCaller(rec, 0, 500)).not.to.throw();
    const info = await rec.finalize();
    expect(errors).to.have.length(1);
    expect(info.failedWrites).to.be.greaterThan(1);
    expect(info).to.include({ path: rec.finalPath, bytes: 44, durationMs: 0 });
    expect((await readPcmWav(rec.finalPath)).samples.length).to.equal(0);
    expect(await exists(rec.partPath)).to.equal(false);
    expect(await exists(`${rec.partPath}.owner`)).to.equal(false);
  });

  it('rejects finalize when the part file cannot even be sealed, without throwing from input', async () => {
    const rec = await CallRecorder.open({ dir, name: 'gone', flushEveryMs: 100 });
    await (rec as unknown as { file: FileHandle }).file.close();
    await rm(rec.partPath);
    expect(() => feedCaller(rec, 0, 500)).not.to.throw();
    let caught: unknown;
    await rec.finalize().catch((err: unknown) => (caught = err));
    expect(caught).to.be.instanceOf(Error);
    expect(await exists(rec.finalPath)).to.equal(false);
  });

  it('on a disk that fills mid-call: reports the first failed write at once, counts the rest, keeps a valid WAV of what was written', async () => {
    // Room for the header and 2.5 s of stereo PCM16: the third 1 s block is cut short.
    const capacity = 44 + 2.5 * 8000 * 4;
    let reported: (err: Error) => void = () => undefined;
    const firstError = new Promise<Error>((resolve) => (reported = resolve));
    const errors: Error[] = [];
    const rec = await CallRecorder.open({
      dir,
      name: 'full-disk',
      openPart: async (p) => diskOfSize(await open(p, 'wx'), capacity),
      onWriteError: (err) => {
        errors.push(err);
        reported(err);
      },
    });
    feedCaller(rec, 0, 4000);
    // Reported while the call goes on, not at its end.
    expect((await firstError).message).to.match(/ENOSPC/);
    feedCaller(rec, 4000, 8000);
    const info = await rec.finalize();

    expect(errors).to.have.length(1);
    expect(info.failedWrites).to.be.at.least(2);
    expect(info.path).to.equal(rec.finalPath);
    expect(info.bytes).to.equal(capacity);
    expect(info.durationMs).to.equal(2500);
    const { left, right } = await readChannels(info.path);
    expect(left.length).to.equal(2.5 * 8000);
    expect(firstSignalMismatch(left, 0, left.length)).to.equal(-1);
    expect(firstNonZero(right, 0, right.length)).to.equal(-1);
    expect(await exists(rec.partPath)).to.equal(false);
  });
});

describe('CallRecorder block reuse', () => {
  it('writes identical bytes when its mix blocks are reused across many flushes', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rec-reuse-'));
    const rec = await CallRecorder.open({ dir, name: 'reuse', flushEveryMs: 100 });
    // Agent audio queued ahead, then distinct caller content per frame: a stale or unzeroed
    // reused block would show up beside some later frame.
    rec.agentAudio(Buffer.alloc(FRAME_BYTES * 10, encodeMulawSample(-3000)), 4000);
    for (let f = 0; f < 500; f++) {
      rec.callerAudio(Buffer.alloc(FRAME_BYTES, encodeMulawSample((f % 50) * 600)), f * FRAME_MS);
      // Let each block's write finish, as real time would, so blocks come back and are reused.
      if (f % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const wav = await readPcmWav((await rec.finalize()).path);
    for (let f = 0; f < 500; f++) {
      const at = f * FRAME_BYTES * 2;
      expect(wav.samples[at], `caller frame ${f}`).to.equal(MULAW_TO_PCM16[encodeMulawSample((f % 50) * 600)]);
      expect(wav.samples[at + 1], `agent beside frame ${f}`).to.equal(f >= 200 && f < 210 ? MULAW_TO_PCM16[encodeMulawSample(-3000)] : 0);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps two calls apart when they take turns with the process\'s blocks', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rec-shared-'));
    const a = await CallRecorder.open({ dir, name: 'call-a', flushEveryMs: 100 });
    const b = await CallRecorder.open({ dir, name: 'call-b', flushEveryMs: 100 });
    const sampleOf = (call: number, f: number) => encodeMulawSample(call * 4000 + (f % 20) * 300 - 8000);
    for (let f = 0; f < 300; f++) {
      a.callerAudio(Buffer.alloc(FRAME_BYTES, sampleOf(1, f)), f * FRAME_MS);
      b.callerAudio(Buffer.alloc(FRAME_BYTES, sampleOf(2, f)), f * FRAME_MS);
      // Writes finish between flushes, so a block one call gave back is the next one the other takes.
      if (f % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const [wavA, wavB] = await Promise.all([a.finalize(), b.finalize()]).then((infos) => Promise.all(infos.map((info) => readPcmWav(info.path))));
    for (let f = 0; f < 300; f++) {
      const at = f * FRAME_BYTES * 2;
      expect(wavA!.samples[at], `call a, frame ${f}`).to.equal(MULAW_TO_PCM16[sampleOf(1, f)]);
      expect(wavB!.samples[at], `call b, frame ${f}`).to.equal(MULAW_TO_PCM16[sampleOf(2, f)]);
      expect(wavA!.samples[at + 1], `call a's agent side, frame ${f}`).to.equal(0);
    }
    await rm(dir, { recursive: true, force: true });
  });
});
