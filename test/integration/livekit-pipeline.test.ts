// The pipeline factory (src/agents/livekit/pipeline.ts) built from configuration variables that
// point every provider at a local stand-in (tools/fake-providers): what each part of a call's
// pipeline answers, which provider it came from, and that each call gets its own instances.
import type { EventEmitter } from 'node:events';
import { llm, stt, tokenize, tts } from '@livekit/agents';
import { expect } from 'chai';
import { closePipeline, createPipeline, processVad, type Pipeline, type PipelineOverrides } from '../../src/agents/livekit/pipeline.js';
import { livekitTools } from '../../src/agents/livekit/tools.js';
import { AGENT_FUNCTIONS } from '../../src/agents/deepgram/tools.js';
import { ConfigError, loadConfig, type Env } from '../../src/config.js';
import { FakeCartesiaTts } from '../../tools/fake-providers/cartesia-tts.js';
import { FakeDeepgramStt } from '../../tools/fake-providers/deepgram-stt.js';
import { FakeOpenAi } from '../../tools/fake-providers/openai.js';
import { phoneFrames, pluginErrors, quietLivekitLogger, silentFrames, STAND_IN_KEYS, standInEnv, unhandledRejectionsDuring, within } from './lib/livekit-plugins.js';

const KEYS = STAND_IN_KEYS;
const CALLER_1_WORDS = 'he was not an ill disposed young man';

function userSays(text: string): llm.ChatContext {
  const ctx = llm.ChatContext.empty();
  ctx.addMessage({ role: 'system', content: 'You answer phone calls.' });
  ctx.addMessage({ role: 'user', content: text });
  return ctx;
}

/** One chat turn through the pipeline's LLM: the text a caller would hear. */
async function chatTurn(model: llm.LLM, text: string, toolCtx?: llm.ToolContext): Promise<string> {
  let reply = '';
  for await (const chunk of model.chat({ chatCtx: userSays(text), ...(toolCtx ? { toolCtx } : {}) })) reply += chunk.delta?.content ?? '';
  return reply;
}

/**
 * One reply spoken through the pipeline's TTS as a session streams it (a TTS that cannot stream is
 * wrapped in a new StreamAdapter for the turn, as the session's ttsNode does): the audio.
 */
async function speak(model: tts.TTS, text: string): Promise<{ samples: number; peak: number }> {
  const turnTts = model.capabilities.streaming ? model : new tts.StreamAdapter(model, new tokenize.basic.SentenceTokenizer());
  const stream = turnTts.stream();
  stream.pushText(text);
  stream.endInput();
  let samples = 0;
  let peak = 0;
  for await (const audio of stream) {
    if (audio === tts.SynthesizeStream.END_OF_STREAM) break;
    samples += audio.frame.samplesPerChannel;
    for (const sample of audio.frame.data) peak = Math.max(peak, Math.abs(sample));
  }
  stream.close();
  return { samples, peak };
}

describe('LiveKit pipeline factory, against the provider stand-ins', function () {
  let grok: FakeOpenAi;
  let openai: FakeOpenAi;
  let deepgram: FakeDeepgramStt;
  let cartesia: FakeCartesiaTts;
  const pipelines: Pipeline[] = [];

  before(quietLivekitLogger);
  beforeEach(async () => {
    [grok, openai, deepgram, cartesia] = await Promise.all([
      FakeOpenAi.start({ apiKey: KEYS.grok, defaultReply: { text: 'Grok here.' } }),
      FakeOpenAi.start({ apiKey: KEYS.openai, defaultReply: { text: 'OpenAI here.' } }),
      FakeDeepgramStt.start({ apiKey: KEYS.deepgram }),
      FakeCartesiaTts.start({ apiKey: KEYS.cartesia }),
    ]);
  });
  afterEach(async () => {
    await Promise.all(pipelines.splice(0).map(closePipeline));
    await Promise.all([grok.close(), openai.close(), deepgram.close(), cartesia.close()]);
  });

  /** Every provider keyed and pointed at its stand-in, as an operator's .env would. */
  function env(overrides: Env = {}): Env {
    return {
      AGENT_PROVIDER: 'livekit',
      ...standInEnv({ grok, openai, deepgram, cartesia }),
      ...overrides,
    };
  }

  function pipelineOf(overrides: Env = {}, build: PipelineOverrides = {}): Pipeline {
    const pipeline = createPipeline(loadConfig(env(overrides)), build);
    pipelines.push(pipeline);
    return pipeline;
  }

  describe('LLM', () => {
    it('answers from Grok first, with its key and model', async () => {
      const reply = await within(5000, 'chat turn', chatTurn(pipelineOf().llm, 'hello'));

      expect(reply).to.equal('Grok here.');
      const [request] = grok.requestsTo('chat');
      expect(request?.headers.authorization).to.equal(`Bearer ${KEYS.grok}`);
      expect(request?.json).to.include({ model: 'grok-test' });
      expect(openai.requestsTo('chat')).to.deep.equal([]);
    });

    it('answers from OpenAI when Grok fails with 500', async () => {
      grok.faults.fail('chat', { kind: 'status', status: 500 });
      const reply = await within(5000, 'chat turn', chatTurn(pipelineOf().llm, 'hello'));

      expect(reply).to.equal('OpenAI here.');
      expect(grok.requestsTo('chat')[0]?.fault).to.deep.equal({ kind: 'status', status: 500 });
      const [request] = openai.requestsTo('chat');
      expect(request?.headers.authorization).to.equal(`Bearer ${KEYS.openai}`);
      expect(request?.json).to.include({ model: 'gpt-test' });
    });

    it('answers from OpenAI when Grok sends its headers and then nothing', async () => {
      grok.faults.fail('chat', { kind: 'hang', afterChunks: 1 });
      const pipeline = pipelineOf({}, { streamIdleTimeoutMs: 300 });
      const reply = await within(5000, 'chat turn', chatTurn(pipeline.llm, 'hello'));

      expect(reply).to.equal('OpenAI here.');
      expect(grok.requestsTo('chat')[0]?.fault).to.deep.equal({ kind: 'hang', afterChunks: 1 });
    });

    it('ends a turn whose reply stops mid-stream with an error, instead of waiting forever', async () => {
      grok.replyWith({ text: 'one two three four five six' });
      grok.faults.fail('chat', { kind: 'hang', afterChunks: 3 }, 1);
      const pipeline = pipelineOf({}, { streamIdleTimeoutMs: 300 });
      const errors = pluginErrors(pipeline.llm); // as the session listens

      const reply = await within(5000, 'chat turn', chatTurn(pipeline.llm, 'hello').catch((e: Error) => `failed: ${e.message}`));

      expect(reply).to.equal('one two ');
      expect(errors.all.map((e) => e.error.message)).to.deep.equal(['the response body stopped for 300 ms']);
      // What the caller may already hear is not started over by another provider.
      expect(openai.requestsTo('chat')).to.deep.equal([]);
    });

    it('never calls Grok when LLM_PROVIDER=openai', async () => {
      const pipeline = pipelineOf({ LLM_PROVIDER: 'openai' });
      pipeline.llm.prewarm();
      const reply = await within(5000, 'chat turn', chatTurn(pipeline.llm, 'hello'));

      expect(reply).to.equal('OpenAI here.');
      expect(grok.received).to.deep.equal([], 'not even the model list');
    });

    it('offers the call tools to the model with the schema the Deepgram agent declares', async () => {
      const tools = livekitTools({ transferAvailable: true }, () => ({ ok: true }));
      await within(5000, 'chat turn', chatTurn(pipelineOf().llm, 'hello', tools));

      const sent = grok.requestsTo('chat')[0]?.json?.tools as { function: { name: string; description: string; parameters: unknown } }[];
      expect(sent.map((t) => t.function.name)).to.deep.equal(AGENT_FUNCTIONS.map((f) => f.name));
      for (const [i, fn] of AGENT_FUNCTIONS.entries()) {
        expect(sent[i]?.function.description).to.equal(fn.description);
        expect(sent[i]?.function.parameters).to.deep.include({ type: 'object', properties: fn.parameters.properties });
      }
    });
  });

  describe('TTS', () => {
    it('speaks with Cartesia first, with its key and model', async () => {
      const spoken = await within(5000, 'speech', speak(pipelineOf().tts, 'Sure. I have booked your flight.'));

      expect(spoken.samples).to.be.greaterThan(24000, 'over a second of audio');
      expect(spoken.peak).to.be.greaterThan(3000, 'speech, not silence');
      expect(cartesia.connections[0]?.headers['x-api-key']).to.equal(KEYS.cartesia);
      expect(cartesia.contexts[0]?.requests[0]).to.include({ model_id: 'sonic-3' });
      expect(openai.requestsTo('speech')).to.deep.equal([]);
    });

    it('speaks with OpenAI TTS, in the configured voice, when Cartesia refuses the connection', async () => {
      cartesia.faults.fail('websocket', { kind: 'status', status: 500 });
      const pipeline = pipelineOf();
      const errors = pluginErrors(pipeline.tts); // as the session listens
      let spoken = { samples: 0, peak: 0 };
      const rejections = await unhandledRejectionsDuring(async () => {
        spoken = await within(10_000, 'speech', speak(pipeline.tts, 'Sure. I have booked your flight.'));
      });

      expect(spoken.samples).to.be.greaterThan(24000, 'over a second of audio');
      expect(spoken.peak).to.be.greaterThan(3000, 'speech, not silence');
      expect(cartesia.refused.map((r) => r.status)).to.include(500);
      const [request] = openai.requestsTo('speech');
      expect(request?.headers.authorization).to.equal(`Bearer ${KEYS.openai}`);
      expect(request?.json).to.include({ model: 'tts-1', voice: 'alloy', response_format: 'pcm' });
      // The FallbackAdapter's check of whether Cartesia is back is a handshake of ours: it leaves
      // nothing unhandled (the plugin's own synthesize() over https did).
      expect(rejections.map(String)).to.deep.equal([]);
      expect(errors.all.map((e) => e.label)).to.include('cartesia.TTS', 'the failure is reported to the session');
    });

    it('speaks with OpenAI alone, in TTS_VOICE, when TTS_PROVIDER=openai', async () => {
      const spoken = await within(5000, 'speech', speak(pipelineOf({ TTS_PROVIDER: 'openai', TTS_VOICE: 'nova' }).tts, 'Hello.'));

      expect(spoken.peak).to.be.greaterThan(3000);
      expect(openai.requestsTo('speech')[0]?.json).to.include({ voice: 'nova' });
      expect(cartesia.connections).to.deep.equal([]);
    });

    it('reports an OpenAI TTS failure to the listener the session keeps, never as an unhandled error event', async () => {
      openai.faults.fail('speech', { kind: 'status', status: 500 });
      const pipeline = pipelineOf({ TTS_PROVIDER: 'openai' });
      const errors = pluginErrors(pipeline.tts);
      let spoken = { samples: 0, peak: 0 };
      const rejections = await unhandledRejectionsDuring(async () => {
        spoken = await within(10_000, 'speech', speak(pipeline.tts, 'Hello.'));
      });

      expect(spoken.samples).to.equal(0);
      expect(errors.all.map((e) => e.error)).to.have.length.greaterThan(0);
      expect(errors.all[0]?.error).to.have.property('status', 500);
      // The plugin still leaves its own request's rejection unhandled (the bridge must contain
      // those); what must not happen is an `error` event thrown for want of a listener.
      expect(rejections.map(String).filter((r) => r.includes('ERR_UNHANDLED_ERROR'))).to.deep.equal([]);
    });
  });

  describe('STT', () => {
    it('transcribes the caller with Deepgram at the phone rate, with its key and model', async () => {
      deepgram.transcribeWith(CALLER_1_WORDS);
      // Without OPENAI_API_KEY Deepgram has no fallback: the plugin's own stream.
      const pipeline = pipelineOf({ OPENAI_API_KEY: '', LLM_PROVIDER: '', TTS_PROVIDER: 'cartesia' });
      const stream = pipeline.stt.stream();
      for (const frame of [...(await phoneFrames()), ...silentFrames(30)]) stream.pushFrame(frame);

      let transcript: string | undefined;
      await within(10_000, 'transcript', (async () => {
        for await (const event of stream) {
          if (event.type !== stt.SpeechEventType.FINAL_TRANSCRIPT) continue;
          transcript = event.alternatives?.[0]?.text;
          break;
        }
      })());
      stream.close();

      expect(transcript).to.equal(CALLER_1_WORDS);
      const [session] = deepgram.sessions;
      expect(session?.headers.authorization).to.equal(`Token ${KEYS.deepgram}`);
      expect(session?.query.get('sample_rate')).to.equal('8000');
      expect(session?.query.get('model')).to.equal('nova-3');
    });
  });

  describe('STT fallback', () => {
    it('transcribes with OpenAI when Deepgram refuses the connection', async () => {
      deepgram.faults.fail('listen', { kind: 'status', status: 500 });
      openai.transcribeWith(CALLER_1_WORDS);
      const pipeline = pipelineOf();
      const stream = pipeline.stt.stream();
      // The caller starts speaking once Deepgram has failed: audio sent to a provider that then
      // fails is not replayed to the next one.
      for (const frame of silentFrames(5)) stream.pushFrame(frame);
      // The adapter emits this outside its typed events.
      const adapter = pipeline.stt as unknown as EventEmitter;
      const available = new Promise((resolve) => adapter.once('stt_availability_changed', resolve));
      await within(5000, 'Deepgram marked unavailable', available);
      for (const frame of [...(await phoneFrames()), ...silentFrames(50)]) stream.pushFrame(frame);

      let transcript: string | undefined;
      await within(15_000, 'transcript', (async () => {
        for await (const event of stream) {
          if (event.type !== stt.SpeechEventType.FINAL_TRANSCRIPT) continue;
          transcript = event.alternatives?.[0]?.text;
          break;
        }
      })());
      stream.close();

      expect(transcript).to.equal(CALLER_1_WORDS);
      expect(deepgram.refused.map((r) => r.status)).to.include(500);
      const [request] = openai.requestsTo('transcriptions');
      expect(request?.form).to.include({ model: 'whisper-1' });
      expect(request?.audio?.sampleRate).to.equal(8000);
    });
  });

  describe('per call', () => {
    it('gives every call its own STT, LLM and TTS, and their fallbacks their own providers', () => {
      const first = pipelineOf();
      const second = pipelineOf();

      for (const part of ['stt', 'llm', 'tts'] as const) expect(first[part], part).to.not.equal(second[part]);
      const instances = (p: Pipeline) => [
        ...(p.stt as stt.FallbackAdapter).sttInstances,
        ...(p.llm as llm.FallbackAdapter).llms,
        ...(p.tts as tts.FallbackAdapter).ttsInstances,
      ];
      expect(instances(first)).to.have.length(6);
      for (const instance of instances(first)) expect(instances(second)).to.not.include(instance);
    });

    it('refuses to build a pipeline whose chosen provider has no key, naming it', () => {
      const config = loadConfig(env({ AGENT_PROVIDER: 'echo', CARTESIA_API_KEY: '' }));
      expect(() => createPipeline(config)).to.throw(ConfigError, /^CARTESIA_API_KEY: is required/);
    });

    it('shares one VAD, tuned by VAD_*, between every call', () => {
      const config = loadConfig(env({ VAD_MIN_SILENCE_DURATION: '0.45' }));
      const vad = processVad(config.vad);
      expect(vad.minSilenceDuration).to.equal(450);
      expect(processVad(loadConfig(env({ VAD_MIN_SILENCE_DURATION: '0.45' })).vad)).to.equal(vad);
    });
  });
});
