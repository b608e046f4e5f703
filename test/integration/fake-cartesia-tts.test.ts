// The Cartesia TTS stand-in (tools/fake-providers/cartesia-tts.ts) driven by the real LiveKit
// cartesia plugin pointed at it by base URL: the audio a pipeline would get, what the stand-in
// received, and each fault as the plugin reports it.
import { tts } from '@livekit/agents';
import * as cartesia from '@livekit/agents-plugin-cartesia';
import type { AudioFrame } from '@livekit/rtc-node';
import { expect } from 'chai';
import { FakeCartesiaTts } from '../../tools/fake-providers/cartesia-tts.js';
import { replySpeechPcm24k } from '../../tools/fake-providers/speech.js';
import { pluginErrors, quietLivekitLogger, settlesWithin, within } from './lib/livekit-plugins.js';

const API_KEY = 'cartesia-test-key';
const ONE_TRY = { maxRetry: 0, retryIntervalMs: 0, timeoutMs: 1000 };
const REPLY = 'Sure. I have booked your flight to Paris for Friday morning. Is there anything else?';

interface Spoken {
  frames: AudioFrame[];
  /** Words with timings, as the plugin attaches them to frames. */
  words: string[];
  ended: boolean;
}

/** Sends one reply through a streaming synthesis, as a pipeline does, and collects what comes out. */
async function speak(plugin: cartesia.TTS, text: string, connOptions = ONE_TRY): Promise<Spoken> {
  const stream = plugin.stream({ connOptions });
  stream.pushText(text);
  stream.endInput();
  const spoken: Spoken = { frames: [], words: [], ended: false };
  for await (const audio of stream) {
    if (audio === tts.SynthesizeStream.END_OF_STREAM) {
      spoken.ended = true;
      break;
    }
    spoken.frames.push(audio.frame);
    spoken.words.push(...(audio.timedTranscripts ?? []).map((word) => String(word.text ?? word).trim()));
  }
  await stream.close();
  return spoken;
}

describe('fake Cartesia streaming TTS, driven by the LiveKit cartesia plugin', function () {
  let fake: FakeCartesiaTts;
  let plugin: cartesia.TTS | undefined;

  before(quietLivekitLogger);
  beforeEach(async () => {
    fake = await FakeCartesiaTts.start({ apiKey: API_KEY });
  });
  afterEach(async () => {
    await plugin?.close();
    plugin = undefined;
    await fake.close();
  });

  function newTts(apiKey = API_KEY): cartesia.TTS {
    plugin = new cartesia.TTS({ baseUrl: fake.baseUrl, apiKey });
    return plugin;
  }

  it('speaks a reply as the fixture speech in 24 kHz frames, with word timings, then ends the segment', async () => {
    const spoken = await within(5000, 'synthesis', speak(newTts(), REPLY));

    expect(spoken.ended).to.equal(true);
    expect(new Set(spoken.frames.map((f) => f.sampleRate))).to.deep.equal(new Set([24000]));
    const samples = spoken.frames.reduce((n, f) => n + f.samplesPerChannel, 0);
    expect(samples).to.equal((await replySpeechPcm24k()).length / 2, 'every sample of the fixture');
    const peak = Math.max(...spoken.frames.map((f) => Math.max(...f.data.map(Math.abs))));
    expect(peak).to.be.greaterThan(3000, 'speech, not silence');
    expect(spoken.words.join(' ')).to.equal(REPLY);
  });

  it('receives the key and API version headers, the model, the output format, and the whole text', async () => {
    await within(5000, 'synthesis', speak(newTts(), REPLY));

    const [connection] = fake.connections;
    expect(connection?.headers['x-api-key']).to.equal(API_KEY);
    expect(connection?.headers['cartesia-version']).to.equal('2025-04-16');
    const [context] = fake.contexts;
    expect(context?.requests[0]).to.deep.include({
      model_id: 'sonic-3',
      output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 24000 },
      language: 'en',
      add_timestamps: true,
    });
    expect(context?.requests.at(-1)).to.include({ continue: false });
    expect(context?.transcript.replace(/\s+/g, ' ').trim()).to.equal(REPLY);
    expect(context?.done).to.equal(true);
  });

  it('carries consecutive replies over one pooled socket, one context each', async () => {
    const model = newTts();
    await within(5000, 'first reply', speak(model, 'Hello there, this is the first reply of the call.'));
    await within(5000, 'second reply', speak(model, 'And this is the second reply of the same call.'));

    expect(fake.connections).to.have.length(1);
    expect(fake.contexts.map((c) => c.done)).to.deep.equal([true, true]);
  });

  it('refuses a wrong key with 401, reported as a non-recoverable error', async () => {
    const model = newTts('wrong-key');
    const errors = pluginErrors(model);
    const spoken = await within(5000, 'synthesis', speak(model, REPLY));
    const { error, recoverable } = await within(5000, 'error event', errors.first);

    expect(spoken.frames).to.deep.equal([]);
    expect(recoverable).to.equal(false);
    expect(error).to.have.property('statusCode', 401);
  });

  it('reports an upgrade refused with 500 as an error with that status', async () => {
    fake.faults.fail('websocket', { kind: 'status', status: 500 });
    const model = newTts();
    const errors = pluginErrors(model);
    await within(5000, 'synthesis', speak(model, REPLY));
    expect((await within(5000, 'error event', errors.first)).error).to.have.property('statusCode', 500);
  });

  it('reports an upgrade that is never answered as a timeout after connOptions.timeoutMs', async () => {
    fake.faults.fail('websocket', { kind: 'hang' });
    const model = newTts();
    const errors = pluginErrors(model);
    const spoken = await within(5000, 'synthesis', speak(model, REPLY, { ...ONE_TRY, timeoutMs: 400 }));
    const { error } = await within(5000, 'error event', errors.first);

    expect(spoken.frames).to.deep.equal([]);
    expect(error.name).to.equal('APITimeoutError');
  });

  it('stalls forever when a context is accepted but never answered, without an error, until closed', async () => {
    fake.faults.fail('websocket', { kind: 'hang', afterChunks: 0 });
    const model = newTts();
    const errors = pluginErrors(model);
    const stream = model.stream({ connOptions: ONE_TRY });
    stream.pushText(REPLY);
    stream.endInput();
    const reading = (async () => {
      for await (const audio of stream) if (audio === tts.SynthesizeStream.END_OF_STREAM) break;
    })();

    const state = await settlesWithin(1000, reading);
    await stream.close();
    await within(5000, 'the stream after close', reading);

    expect(state).to.equal('still waiting', 'its chunk timeout starts only at the first chunk');
    expect(errors.all).to.deep.equal([]);
  });

  it('reports a reply that stalls after its first chunks as a timeout after chunkTimeout', async () => {
    fake.faults.fail('websocket', { kind: 'hang', afterChunks: 2 });
    plugin = new cartesia.TTS({ baseUrl: fake.baseUrl, apiKey: API_KEY, chunkTimeout: 300 });
    const errors = pluginErrors(plugin);
    const spoken = await within(5000, 'synthesis', speak(plugin, REPLY));
    const { error } = await within(5000, 'error event', errors.first);

    expect(spoken.ended).to.equal(false);
    expect(error.name).to.equal('APITimeoutError');
  });

  it('reports a socket dropped mid-reply as a connection error, after the audio that did arrive', async () => {
    fake.faults.fail('websocket', { kind: 'drop', afterChunks: 3 });
    const model = newTts();
    const errors = pluginErrors(model);
    const spoken = await within(5000, 'synthesis', speak(model, REPLY));
    const { error } = await within(5000, 'error event', errors.first);

    expect(spoken.ended).to.equal(false);
    const samples = spoken.frames.reduce((n, f) => n + f.samplesPerChannel, 0);
    expect(samples).to.be.within(1, 3 * 2400, 'at most the three chunks sent before the drop');
    expect(error.name).to.equal('APIConnectionError');
    expect(error.message).to.match(/closed mid-generation/);
  });
});
