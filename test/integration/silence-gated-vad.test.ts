// The pipeline's VAD (processVad: LiveKit's Silero behind the silence gate of
// src/agents/livekit/silence-gated-vad.ts) on a caller's real speech: the model does not run while
// the line is silent between utterances, and the utterance after the silence is heard whole.
import { VADEventType, type VADEvent, type VADStream } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import { expect } from 'chai';
import { processVad } from '../../src/agents/livekit/pipeline.js';
import { decodeMulaw } from '../../src/audio/mulaw.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { loadConfig } from '../../src/config.js';
import { CALLER_1_WAV, quietLivekitLogger } from './lib/livekit-plugins.js';

/** 100 ms at 8 kHz: what the pipeline's input hands the framework. */
const SAMPLES = 800;

function frames(pcm: Int16Array): AudioFrame[] {
  const out: AudioFrame[] = [];
  for (let at = 0; at + SAMPLES <= pcm.length; at += SAMPLES) out.push(new AudioFrame(pcm.slice(at, at + SAMPLES), 8000, 1, SAMPLES));
  return out;
}
const silence = (ms: number) => frames(new Int16Array((8000 * ms) / 1000));

/** Every event the stream gives, as it comes; `until` resolves once one of the type arrives. */
function listen(stream: VADStream) {
  const events: VADEvent[] = [];
  const waiters: Array<{ type: VADEventType; count: number; resolve: () => void }> = [];
  const count = (type: VADEventType) => events.filter((e) => e.type === type).length;
  void (async () => {
    for await (const ev of stream) {
      events.push(ev);
      for (const w of waiters.splice(0)) (count(w.type) >= w.count ? w.resolve() : waiters.push(w));
    }
  })();
  return {
    count,
    until: (type: VADEventType, n: number) => new Promise<void>((resolve) => (count(type) >= n ? resolve() : waiters.push({ type, count: n, resolve }))),
  };
}

describe('the pipeline VAD (Silero behind the silence gate)', function () {
  this.timeout(30_000);
  before(quietLivekitLogger);

  it('runs no inference through seconds of silence, and hears the next utterance from its start to its end', async () => {
    const speech = frames(decodeMulaw(await readMulawWav(CALLER_1_WAV)));
    const stream = processVad(loadConfig({}).vad).stream();
    const heard = listen(stream);
    try {
      for (const f of [...speech, ...silence(1000)]) stream.pushFrame(f);
      await heard.until(VADEventType.END_OF_SPEECH, 1);

      // 3 s of a silent line, as while the caller listens to the agent: Silero would run 94 times.
      const before = heard.count(VADEventType.INFERENCE_DONE);
      for (const f of silence(3000)) stream.pushFrame(f);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(heard.count(VADEventType.INFERENCE_DONE) - before).to.be.below(10);

      for (const f of [...speech, ...silence(1000)]) stream.pushFrame(f);
      await heard.until(VADEventType.END_OF_SPEECH, 2);
      expect(heard.count(VADEventType.START_OF_SPEECH)).to.equal(2);
    } finally {
      stream.close();
    }
  });
});
