// Run as a child process by the recovery tests: records 2.5 s of a steady tone, waits until two
// 1 s blocks are on disk, adds a torn write, then kills itself, leaving a `.wav.part` behind.
// With `hold` as third argument it stays alive instead (a live recorder another gateway must not
// touch), prints `holding` once the blocks are on disk, and waits to be killed.
import { appendFile, stat } from 'node:fs/promises';
import { CallRecorder } from '../../src/audio/recorder.js';
import { encodeMulawSample } from '../../src/audio/mulaw.js';
import { FRAME_BYTES, FRAME_MS } from '../../src/twilio/protocol.js';

const [dir, name, mode] = process.argv.slice(2) as [string, string, string | undefined];
const rec = await CallRecorder.open({ dir, name });
const frame = Buffer.alloc(FRAME_BYTES, encodeMulawSample(4000));
for (let t = 0; t < 2500; t += FRAME_MS) rec.callerAudio(frame, t);
const twoBlocks = 44 + 2 * 8000 * 4;
for (let tries = 0; tries < 200 && (await stat(rec.partPath)).size < twoBlocks; tries++) await new Promise((r) => setTimeout(r, 10));
await appendFile(rec.partPath, Buffer.from([1, 2, 3]));
if (mode === 'hold') {
  process.stdout.write('holding\n');
  setInterval(() => undefined, 60_000);
} else {
  process.kill(process.pid, 'SIGKILL');
}
