import { expect } from 'chai';
import { EchoAgent } from '../../src/agents/echo.js';
import type { AgentSink } from '../../src/agents/bridge.js';
import { EnergyVad, frameEnergyDb } from '../../src/audio/energy-vad.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { FRAME_BYTES, MULAW_SILENCE } from '../../src/twilio/protocol.js';

const VAD = { minSpeechS: 0.1, minSilenceS: 0.6, paddingS: 0.2 };

function frames(audio: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i + FRAME_BYTES <= audio.length; i += FRAME_BYTES) out.push(audio.subarray(i, i + FRAME_BYTES));
  return out;
}

const silence = (ms: number) => Buffer.alloc((ms / 20) * FRAME_BYTES, MULAW_SILENCE);

function recordingSink() {
  const calls: string[] = [];
  const audio: Buffer[] = [];
  const sink: AgentSink = {
    audio: (chunk) => {
      calls.push('audio');
      audio.push(Buffer.from(chunk));
    },
    turnStarted: () => calls.push('turnStarted'),
    utteranceDone: () => calls.push('utteranceDone'),
    bargeIn: () => calls.push('bargeIn'),
    transcript: () => calls.push('transcript'),
    latency: () => calls.push('latency'),
    action: () => calls.push('action'),
    error: () => calls.push('error'),
  };
  return { sink, calls, audio };
}

function feed(agent: EchoAgent, audio: Buffer): void {
  for (const frame of frames(audio)) agent.pushCallerAudio(Buffer.from(frame));
}

describe('audio/EnergyVad', () => {
  it('measures digital silence far below speech', async () => {
    const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
    expect(frameEnergyDb(Buffer.alloc(FRAME_BYTES, MULAW_SILENCE))).to.be.below(-100);
    const loudest = Math.max(...frames(speech).map(frameEnergyDb));
    expect(loudest).to.be.above(-30);
  });

  it('finds one utterance in each speech fixture, then its end after the silence window', async () => {
    for (const name of ['caller-1', 'caller-2', 'caller-goforward']) {
      const vad = new EnergyVad(VAD);
      const events: string[] = [];
      for (const frame of frames(Buffer.concat([await readMulawWav(`fixtures/speech/${name}-8k-mulaw.wav`), silence(1000)]))) {
        const e = vad.push(frame);
        if (e) events.push(e);
      }
      expect(events, name).to.deep.equal(['speech_start', 'speech_end']);
    }
  });

  it('stays quiet on silence and low noise', () => {
    const vad = new EnergyVad(VAD);
    const noise = Buffer.alloc(FRAME_BYTES);
    for (let i = 0; i < 500; i++) {
      for (let j = 0; j < FRAME_BYTES; j++) noise[j] = 0xf0 + ((i * 7 + j * 13) % 15); // about -50 dBFS
      expect(vad.push(noise)).to.equal(undefined);
    }
  });
});

describe('agents/EchoAgent', () => {
  it('plays the caller utterance back once they stop speaking', async () => {
    const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
    const { sink, calls, audio } = recordingSink();
    const agent = new EchoAgent(VAD, sink);
    const input = Buffer.concat([silence(400), speech, silence(1000)]);
    feed(agent, input);
    expect(calls).to.deep.equal(['bargeIn', 'turnStarted', 'audio', 'utteranceDone']);
    const echoed = audio[0]!;
    // The echo is a contiguous stretch of what the caller said, covering the speech.
    expect(input.indexOf(echoed)).to.be.greaterThan(-1);
    expect(echoed.length).to.be.greaterThan(speech.length * 0.7);
    expect(echoed.length).to.be.lessThan(speech.length + silence(600).length);
  });

  it('starts with the padding before speech was detected, so the first syllable is not clipped', async () => {
    const speech = await readMulawWav('fixtures/speech/caller-goforward-8k-mulaw.wav');
    const { sink, audio } = recordingSink();
    feed(new EchoAgent(VAD, sink), Buffer.concat([speech, silence(1000)]));
    const vad = new EnergyVad(VAD);
    let startFrame = -1;
    frames(speech).forEach((f, i) => {
      if (vad.push(f) === 'speech_start' && startFrame < 0) startFrame = i;
    });
    const firstLoudFrame = startFrame - vad.startLagFrames + 1;
    const echoStart = speech.indexOf(audio[0]!.subarray(0, FRAME_BYTES * 3));
    expect(echoStart / FRAME_BYTES).to.equal(firstLoudFrame - VAD.paddingS / 0.02);
  });

  it('signals barge-in when the caller speaks again', async () => {
    const speech = await readMulawWav('fixtures/speech/caller-2-8k-mulaw.wav');
    const { sink, calls } = recordingSink();
    feed(new EchoAgent(VAD, sink), Buffer.concat([speech, silence(800), speech, silence(800)]));
    expect(calls.filter((c) => c === 'bargeIn')).to.have.length(2);
    expect(calls.filter((c) => c === 'utteranceDone')).to.have.length(2);
  });
});
