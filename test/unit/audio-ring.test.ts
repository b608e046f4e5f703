// The shared ring that carries caller audio to an agent worker: both ends in one thread here, the
// reader polling as it does in a worker.
import { expect } from 'chai';
import { AudioRingReader, AudioRingWriter, MAX_RING_FRAME_BYTES, createAudioRing } from '../../src/agents/worker/audio-ring.js';

type Got = { callId: number; bytes: number[]; atMs: number };

function frame(n: number, length = 160): Buffer {
  return Buffer.alloc(length, n & 0xff);
}

function collect(reader: AudioRingReader): { got: Got[]; until: (count: number) => Promise<void> } {
  const got: Got[] = [];
  reader.start((callId, f, atMs) => got.push({ callId, bytes: [f.length, f[0]!, f[f.length - 1]!], atMs }), 1);
  const until = async (count: number) => {
    for (let waited = 0; got.length < count && waited < 5000; waited += 5) await new Promise((r) => setTimeout(r, 5));
  };
  return { got, until };
}

describe('audio ring (media thread to agent worker)', () => {
  it('delivers every frame in order, with its call and time, across many laps of the ring', async () => {
    const sab = createAudioRing(8);
    const writer = new AudioRingWriter(sab);
    const reader = new AudioRingReader(sab);
    const { got, until } = collect(reader);
    try {
      // 40 frames through 8 slots, a ringful at a time.
      for (let n = 0; n < 40; n++) {
        expect(writer.push(n % 3, frame(n, n % 2 ? 160 : 80), n * 20)).to.equal(true);
        if (n % 8 === 7) await until(n + 1);
      }
      await until(40);
      expect(writer.dropped).to.equal(0);
      expect(got.map((g) => g.atMs)).to.deep.equal(Array.from({ length: 40 }, (_, n) => n * 20));
      expect(got.map((g) => g.callId)).to.deep.equal(Array.from({ length: 40 }, (_, n) => n % 3));
      expect(got.map((g) => g.bytes)).to.deep.equal(Array.from({ length: 40 }, (_, n) => [n % 2 ? 160 : 80, n, n]));
    } finally {
      reader.stop();
    }
  });

  it('a full ring refuses and counts frames rather than overwriting unread ones', async () => {
    const sab = createAudioRing(4);
    const writer = new AudioRingWriter(sab);
    for (let n = 0; n < 6; n++) writer.push(1, frame(n), n * 20);
    expect(writer.dropped).to.equal(2);
    const reader = new AudioRingReader(sab);
    const { got, until } = collect(reader);
    try {
      await until(4);
      expect(got.map((g) => g.bytes[1])).to.deep.equal([0, 1, 2, 3]);
    } finally {
      reader.stop();
    }
  });

  it('leaves a frame larger than a slot to the caller', () => {
    const writer = new AudioRingWriter(createAudioRing(4));
    expect(writer.push(1, frame(1, MAX_RING_FRAME_BYTES + 1), 0)).to.equal(false);
    expect(writer.push(1, frame(1, MAX_RING_FRAME_BYTES), 0)).to.equal(true);
    expect(writer.dropped).to.equal(0);
  });
});
