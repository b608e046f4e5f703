// The shared ring that carries caller audio to an agent worker: both ends in one thread here, the
// reader polling as it does in a worker.
import { expect } from 'chai';
import type { AgentSink, CallContext } from '../../src/agents/bridge.js';
import { AudioRingReader, AudioRingWriter, MAX_RING_FRAME_BYTES, createAudioRing } from '../../src/agents/worker/audio-ring.js';
import { ECHO_OFF_THREAD } from '../../src/agents/worker/hosted-agents.js';
import { AgentWorkerPool } from '../../src/agents/worker/pool.js';
import { loadConfig } from '../../src/config.js';
import { Telemetry } from '../../src/telemetry/events.js';
import { silentLogger } from '../../src/telemetry/logger.js';

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
        expect(writer.push(n % 3, frame(n, n % 2 ? 160 : 80), n * 20)).to.equal('queued');
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
    const pushed = Array.from({ length: 6 }, (_, n) => writer.push(1, frame(n), n * 20));
    expect(pushed).to.deep.equal(['queued', 'queued', 'queued', 'queued', 'dropped', 'dropped']);
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
    expect(writer.push(1, frame(1, MAX_RING_FRAME_BYTES + 1), 0)).to.equal('too-large');
    expect(writer.push(1, frame(1, MAX_RING_FRAME_BYTES), 0)).to.equal('queued');
    expect(writer.dropped).to.equal(0);
  });
});

describe('audio ring drops, per call, in telemetry', function () {
  this.timeout(20_000);

  it("counts a call's frames lost to a full ring and reports them in its telemetry when it ends", async () => {
    const telemetry = new Telemetry({ noisyEveryN: 1 });
    // 4 slots: a burst of frames written in one go outruns a worker that reads every 5 ms.
    const pool = new AgentWorkerPool({ size: 1, config: loadConfig({}), logger: silentLogger(), ringSlots: 4, telemetry });
    try {
      const factory = await pool.factoryFor(ECHO_OFF_THREAD);
      const sink: AgentSink = {
        audio: () => undefined,
        turnStarted: () => undefined,
        utteranceDone: () => undefined,
        bargeIn: () => undefined,
        transcript: () => undefined,
        latency: () => undefined,
        action: () => undefined,
        error: () => undefined,
      };
      const call: CallContext = { callSid: 'CA' + '1'.repeat(32), streamSid: 'MZ' + '2'.repeat(32), parameters: {}, taskId: undefined, prompt: undefined, greeting: undefined };
      const quiet = factory({ ...call, callSid: 'CA' + '3'.repeat(32) }, sink);
      const bridge = factory(call, sink);
      await Promise.all([quiet.start(), bridge.start()]);
      for (let n = 0; n < 200; n++) bridge.pushCallerAudio(frame(n), n * 20);
      await Promise.all([quiet.close('twilio_stop'), bridge.close('twilio_stop')]);

      const lost = pool.droppedFrames();
      expect(lost).to.be.greaterThan(100, 'frames the ring refused');
      const events = telemetry.recent({ component: 'agent_worker', action: 'frames_dropped' });
      expect(events.map((e) => [e.call_sid, e.stream_sid, e.frames])).to.deep.equal([[call.callSid, call.streamSid, lost]]);
    } finally {
      await pool.close();
    }
  });
});
