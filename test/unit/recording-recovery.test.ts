import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { recoverPartialRecordings } from '../../src/audio/recording-recovery.js';
import { MULAW_TO_PCM16, encodeMulawSample } from '../../src/audio/mulaw.js';
import { readPcmWav } from '../../src/audio/wav-io.js';
import { wavHeader } from '../../src/audio/wav-header.js';
import { processStartTime } from '../../src/audio/part-owner.js';

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** Interleaved PCM16 bytes 0, 1, 2, ... as little-endian samples, plus `tornBytes` of a cut-off write. */
function dataBytes(frames: number, tornBytes = 0): Buffer {
  const buf = Buffer.alloc(frames * 4 + tornBytes, 0x7f);
  for (let i = 0; i < frames * 2; i++) buf.writeInt16LE(i, i * 2);
  return buf;
}


describe('recoverPartialRecordings', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'recovery-test-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('repairs a part file with zero sizes and a torn tail into a valid WAV', async () => {
    const part = path.join(dir, 'call-7.wav.part');
    await writeFile(part, Buffer.concat([wavHeader(0), dataBytes(250, 1)])); // 1001 data bytes

    const repaired = await recoverPartialRecordings(dir);

    const final = path.join(dir, 'call-7.wav');
    expect(repaired).to.deep.equal({ repaired: [final], inUse: [] });
    expect(await exists(part)).to.equal(false);
    const bytes = await readFile(final);
    expect(bytes.length).to.equal(44 + 1000);
    expect(bytes.readUInt32LE(4)).to.equal(36 + 1000);
    expect(bytes.readUInt32LE(40)).to.equal(1000);
    const wav = await readPcmWav(final);
    expect(wav.channels).to.equal(2);
    expect(wav.sampleRate).to.equal(8000);
    expect(wav.samples.length).to.equal(500);
    expect(wav.samples[0]).to.equal(0);
    expect(wav.samples[499]).to.equal(499);
  });

  it('keeps an existing .wav and picks a free name for the repaired one', async () => {
    await writeFile(path.join(dir, 'dup.wav'), 'already here');
    await writeFile(path.join(dir, 'dup.wav.part'), Buffer.concat([wavHeader(0), dataBytes(10)]));

    const repaired = await recoverPartialRecordings(dir);

    expect(repaired.repaired).to.deep.equal([path.join(dir, 'dup.recovered.wav')]);
    expect(await readFile(path.join(dir, 'dup.wav'), 'utf8')).to.equal('already here');
    expect((await readPcmWav(repaired.repaired[0]!)).samples.length).to.equal(20);
  });

  it('sets aside files that are not recordings as .corrupt', async () => {
    await writeFile(path.join(dir, 'junk.wav.part'), Buffer.alloc(100, 0x41));
    await writeFile(path.join(dir, 'tiny.wav.part'), wavHeader(0).subarray(0, 20));
    const otherFormat = wavHeader(0);
    otherFormat.writeUInt16LE(1, 22); // a mono WAV: not a layout we wrote
    await writeFile(path.join(dir, 'mono.wav.part'), Buffer.concat([otherFormat, dataBytes(4)]));

    const repaired = await recoverPartialRecordings(dir);

    expect(repaired).to.deep.equal({ repaired: [], inUse: [] });
    expect((await readdir(dir)).sort()).to.deep.equal(['junk.wav.corrupt', 'mono.wav.corrupt', 'tiny.wav.corrupt']);
  });

  it('finds nothing in a missing directory and ignores other files and subdirectories', async () => {
    expect(await recoverPartialRecordings(path.join(dir, 'nope'))).to.deep.equal({ repaired: [], inUse: [] });
    await writeFile(path.join(dir, 'done.wav'), Buffer.concat([wavHeader(40), dataBytes(10)]));
    await mkdir(path.join(dir, 'sub.wav.part'));
    expect(await recoverPartialRecordings(dir)).to.deep.equal({ repaired: [], inUse: [] });
    expect((await readdir(dir)).sort()).to.deep.equal(['done.wav', 'sub.wav.part']);
  });

  it('repairs what a recorder had flushed when its process was killed', async () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/helpers/record-then-die.ts', dir, 'killed'], { encoding: 'utf8' });
    expect(child.signal, child.stderr).to.equal('SIGKILL');
    const { repaired } = await recoverPartialRecordings(dir);

    expect(repaired).to.deep.equal([path.join(dir, 'killed.wav')]);
    expect(await exists(path.join(dir, 'killed.wav.part.owner')), 'the dead owner record is removed').to.equal(false);
    const wav = await readPcmWav(repaired[0]!);
    expect(wav.samples.length).to.equal(2 * 8000 * 2);
    const value = MULAW_TO_PCM16[encodeMulawSample(4000)];
    expect(wav.samples[0]).to.equal(value);
    expect(wav.samples[wav.samples.length - 2]).to.equal(value);
    expect(wav.samples[wav.samples.length - 1]).to.equal(0);
  });

  it('leaves alone a part file a live process is still writing, and repairs it once that process is gone', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/record-then-die.ts', dir, 'live', 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [ready] = (await once(child.stdout!, 'data')) as [Buffer];
      expect(ready.toString()).to.equal('holding\n');
      const part = path.join(dir, 'live.wav.part');
      const before = await readFile(part);

      expect(await recoverPartialRecordings(dir)).to.deep.equal({ repaired: [], inUse: [part] });
      expect(await readFile(part)).to.deep.equal(before);
      expect(before.readUInt32LE(40), 'the header still says "recording"').to.equal(0);

      child.kill('SIGKILL');
      await once(child, 'exit');
      const after = await recoverPartialRecordings(dir);
      expect(after).to.deep.equal({ repaired: [path.join(dir, 'live.wav')], inUse: [] });
      expect((await readPcmWav(after.repaired[0]!)).samples.length).to.equal(2 * 8000 * 2);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes a reused pid for a dead owner, and leaves alone an owner on another host', async () => {
    const file = Buffer.concat([wavHeader(0), dataBytes(10)]);
    await writeFile(path.join(dir, 'reused.wav.part'), file);
    // pid 1 runs, but it is not the process that started at this time.
    const wrongStart = String(Number(processStartTime(1) ?? '0') + 12345);
    await writeFile(path.join(dir, 'reused.wav.part.owner'), JSON.stringify({ host: os.hostname(), pid: 1, startTime: wrongStart }));
    await writeFile(path.join(dir, 'remote.wav.part'), file);
    await writeFile(path.join(dir, 'remote.wav.part.owner'), JSON.stringify({ host: `not-${os.hostname()}`, pid: 1, startTime: '1' }));
    // An owner record of a dead process whose part file is already gone is cleaned up.
    await writeFile(path.join(dir, 'stale.wav.part.owner'), JSON.stringify({ host: os.hostname(), pid: 1, startTime: wrongStart }));

    const result = await recoverPartialRecordings(dir);

    expect(result).to.deep.equal({ repaired: [path.join(dir, 'reused.wav')], inUse: [path.join(dir, 'remote.wav.part')] });
    expect((await readdir(dir)).sort()).to.deep.equal(['remote.wav.part', 'remote.wav.part.owner', 'reused.wav']);
  });
});
