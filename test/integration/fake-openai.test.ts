// The OpenAI-compatible stand-in (tools/fake-providers/openai.ts) driven by the real LiveKit openai
// plugin classes pointed at it by base URL: what a pipeline would get from them, what the
// stand-in received, and each fault surfacing as an error the plugin reports.
import { llm } from '@livekit/agents';
import * as openai from '@livekit/agents-plugin-openai';
import { AudioFrame } from '@livekit/rtc-node';
import { expect } from 'chai';
import { APIConnectionError, APIUserAbortError } from 'openai';
import { FakeOpenAi } from '../../tools/fake-providers/openai.js';
import { replySpeechPcm24k } from '../../tools/fake-providers/speech.js';
import { phoneFrames, pluginErrors, quietLivekitLogger, settlesWithin, unhandledRejectionsDuring, within } from './lib/livekit-plugins.js';

const API_KEY = 'sk-test-fake';
const MODEL = 'gpt-4.1-mini';
/** No retries, and a short request timeout, so a fault ends an attempt quickly. */
const ONE_TRY = { maxRetry: 0, retryIntervalMs: 0, timeoutMs: 1500 };

const END_CALL = {
  end_call: llm.tool({
    description: 'End the call after saying goodbye.',
    parameters: {
      type: 'object',
      properties: { reason: { type: 'string' } },
      required: ['reason'],
    },
    execute: async () => 'ok',
  }),
};

function userSays(text: string): llm.ChatContext {
  const ctx = llm.ChatContext.empty();
  ctx.addMessage({ role: 'system', content: 'You answer phone calls.' });
  ctx.addMessage({ role: 'user', content: text });
  return ctx;
}

/** Runs one chat turn through the plugin: the text and tool calls a pipeline would see. */
async function chatTurn(model: llm.LLM, text: string, tools?: typeof END_CALL, connOptions = ONE_TRY) {
  const stream = model.chat({ chatCtx: userSays(text), ...(tools ? { toolCtx: tools } : {}), connOptions });
  let reply = '';
  const calls: llm.FunctionCall[] = [];
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    reply += chunk.delta?.content ?? '';
    calls.push(...(chunk.delta?.toolCalls ?? []));
  }
  return { reply, calls, chunks };
}

describe('fake OpenAI-compatible provider, driven by the LiveKit openai plugin', function () {
  let fake: FakeOpenAi;

  before(quietLivekitLogger);
  beforeEach(async () => {
    fake = await FakeOpenAi.start({ apiKey: API_KEY });
  });
  afterEach(async () => {
    await fake.close();
  });

  function newLlm(): openai.LLM {
    return new openai.LLM({ baseURL: fake.baseUrl, apiKey: API_KEY, model: MODEL });
  }

  describe('LLM (streamed chat completions)', () => {
    it('streams a scripted reply word by word, with the key and model it was given', async () => {
      fake.replyWith({ text: 'Sure, I can help with that booking.' });
      const model = newLlm();
      const errors = pluginErrors(model);

      const turn = await within(5000, 'chat turn', chatTurn(model, 'I want to book a flight'));

      expect(turn.reply).to.equal('Sure, I can help with that booking.');
      expect(turn.chunks).to.be.greaterThan(3, 'the reply arrives in pieces, not at once');
      expect(errors.all).to.deep.equal([]);
      const [request] = fake.requestsTo('chat');
      expect(request?.headers.authorization).to.equal(`Bearer ${API_KEY}`);
      expect(request?.json).to.include({ model: MODEL, stream: true });
      const messages = request?.json?.messages as { role: string; content: string }[];
      expect(messages.at(-1)).to.deep.equal({ role: 'user', content: 'I want to book a flight' });
    });

    it('answers the GET /v1/models the plugin sends as a prewarm', async () => {
      const model = newLlm();
      model.prewarm();
      await within(5000, 'prewarm', waitUntil(() => fake.requestsTo('models').length > 0));
      expect(fake.requestsTo('models')[0]?.headers.authorization).to.equal(`Bearer ${API_KEY}`);
    });

    it('streams a tool call the way OpenAI does, and the plugin rebuilds its name and arguments', async () => {
      fake.replyWith({ text: 'Goodbye!', toolCalls: [{ name: 'end_call', arguments: { reason: 'caller asked to hang up' } }] });
      const model = newLlm();

      const turn = await within(5000, 'chat turn', chatTurn(model, 'Please hang up now', END_CALL));

      expect(turn.reply).to.equal('Goodbye!');
      expect(turn.calls).to.have.length(1);
      expect(turn.calls[0]?.name).to.equal('end_call');
      expect(JSON.parse(turn.calls[0]?.args ?? '')).to.deep.equal({ reason: 'caller asked to hang up' });
      const tools = fake.requestsTo('chat')[0]?.json?.tools as { function: { name: string } }[];
      expect(tools.map((t) => t.function.name)).to.deep.equal(['end_call']);
    });

    it('scripts a reply from the request, e.g. from what the caller said', async () => {
      fake.replyWith((request) => ({ text: `You said: ${String(request.messages.at(-1)?.content)}` }));
      const turn = await within(5000, 'chat turn', chatTurn(newLlm(), 'the caller pressed 5'));
      expect(turn.reply).to.equal('You said: the caller pressed 5');
    });

    it('reports an HTTP 500 as a non-recoverable error, with its status', async () => {
      fake.faults.fail('chat', { kind: 'status', status: 500 });
      const model = newLlm();
      const errors = pluginErrors(model);

      const turn = await within(5000, 'chat turn', chatTurn(model, 'hello'));
      const { error, recoverable } = await within(5000, 'error event', errors.first);

      expect(turn.reply).to.equal('');
      expect(recoverable).to.equal(false);
      expect(error).to.have.property('statusCode', 500);
      expect(fake.requestsTo('chat')[0]?.fault).to.deep.equal({ kind: 'status', status: 500 });
    });

    it('reports a hanging server as a timeout after connOptions.timeoutMs', async () => {
      fake.faults.fail('chat', { kind: 'hang' });
      const model = newLlm();
      const errors = pluginErrors(model);

      const turn = await within(5000, 'chat turn', chatTurn(model, 'hello', undefined, { ...ONE_TRY, timeoutMs: 400 }));
      const { error } = await within(5000, 'error event', errors.first);

      expect(turn.reply).to.equal('');
      expect(error.name).to.equal('APITimeoutError');
    });

    it('reports a socket dropped mid-stream as a connection error, after the text already streamed', async () => {
      fake.replyWith({ text: 'one two three four five six' });
      fake.faults.fail('chat', { kind: 'drop', afterChunks: 3 });
      const model = newLlm();
      const errors = pluginErrors(model);

      const turn = await within(5000, 'chat turn', chatTurn(model, 'hello'));
      const { error } = await within(5000, 'error event', errors.first);

      expect(turn.reply).to.equal('one two ', 'the role chunk and two words got through');
      expect(error.name).to.equal('APIConnectionError');
    });

    it('stalls forever on a server that stops mid-stream: the timeout covers only the wait for headers', async () => {
      fake.replyWith({ text: 'one two three four five six' });
      fake.faults.fail('chat', { kind: 'hang', afterChunks: 3 });
      const model = newLlm();
      const errors = pluginErrors(model);
      const stream = model.chat({ chatCtx: userSays('hello'), connOptions: { ...ONE_TRY, timeoutMs: 300 } });
      let reply = '';
      const reading = (async () => {
        for await (const chunk of stream) reply += chunk.delta?.content ?? '';
      })();

      const state = await settlesWithin(1000, reading);
      stream.close();
      await within(5000, 'the stream after close', reading);

      expect(state).to.equal('still waiting', 'past three times the timeout');
      expect(reply).to.equal('one two ');
      expect(errors.all).to.deep.equal([]);
    });

    it('recovers once the fault is used up: the next request is answered', async () => {
      fake.faults.fail('chat', { kind: 'status', status: 503 }, 1);
      const model = newLlm();
      pluginErrors(model);
      expect((await chatTurn(model, 'first')).reply).to.equal('');
      expect((await chatTurn(model, 'second')).reply).to.equal('This is the fake model speaking.');
    });
  });

  describe('STT (HTTP transcriptions)', () => {
    function newStt(): openai.STT {
      return new openai.STT({ baseURL: fake.baseUrl, apiKey: API_KEY, useRealtime: false, model: 'whisper-1' });
    }

    it('uploads the caller audio as a WAV and returns the scripted transcript', async () => {
      fake.transcribeWith('he was not an ill disposed young man');
      const frames = await phoneFrames();

      const event = await within(5000, 'recognize', newStt().recognize(frames));

      expect(event.alternatives?.[0]?.text).to.equal('he was not an ill disposed young man');
      const [request] = fake.requestsTo('transcriptions');
      expect(request?.headers.authorization).to.equal(`Bearer ${API_KEY}`);
      expect(request?.form).to.include({ model: 'whisper-1', language: 'en', response_format: 'json' });
      expect(request?.audio).to.deep.equal({ sampleRate: 8000, channels: 1, durationMs: frames.length * 20 });
      const speech = Buffer.concat(frames.map((f) => Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength)));
      expect(request?.wav?.subarray(44).equals(speech)).to.equal(true, 'the caller PCM after a 44-byte WAV header');
    });

    it('rejects the recognition on HTTP 500 and on a dropped socket', async () => {
      const frames = await phoneFrames();
      fake.faults.fail('transcriptions', { kind: 'status', status: 500 }, 1);
      const status = await within(5000, 'recognize', newStt().recognize(frames).then(() => undefined, (e: Error) => e));
      expect(status).to.have.property('status', 500);

      fake.faults.fail('transcriptions', { kind: 'drop', afterChunks: 0 }, 1);
      const dropped = await within(5000, 'recognize', newStt().recognize(frames).then(() => undefined, (e: Error) => e));
      expect(dropped).to.be.instanceOf(APIConnectionError);
    });

    it('has no timeout of its own on a hanging server: only the caller\'s abort signal ends the wait', async () => {
      fake.faults.fail('transcriptions', { kind: 'hang' });
      const frames = await phoneFrames();
      const outcome = await within(
        5000,
        'recognize',
        newStt().recognize(frames, AbortSignal.timeout(300)).then(() => undefined, (e: Error) => e),
      );
      expect(outcome).to.be.instanceOf(APIUserAbortError);
    });
  });

  describe('TTS (speech as raw PCM)', () => {
    function newTts(): openai.TTS {
      return new openai.TTS({ baseURL: fake.baseUrl, apiKey: API_KEY });
    }

    it('returns the fixture speech as 24 kHz frames, and records the request', async () => {
      const frames: AudioFrame[] = [];
      for await (const audio of newTts().synthesize('Sure. I have booked your flight.')) frames.push(audio.frame);

      expect(frames.length).to.be.greaterThan(0);
      expect(new Set(frames.map((f) => f.sampleRate))).to.deep.equal(new Set([24000]));
      // The plugin cuts the body into 100 ms frames and never flushes the rest: the last 58 ms are lost.
      const samples = frames.reduce((n, f) => n + f.samplesPerChannel, 0);
      const fixtureSamples = (await replySpeechPcm24k()).length / 2;
      expect(samples).to.equal(Math.floor(fixtureSamples / 2400) * 2400);
      const peak = Math.max(...frames.map((f) => Math.max(...f.data.map(Math.abs))));
      expect(peak).to.be.greaterThan(3000, 'speech, not silence');
      const [request] = fake.requestsTo('speech');
      expect(request?.json).to.include({ input: 'Sure. I have booked your flight.', model: 'tts-1', voice: 'alloy', response_format: 'pcm' });
    });

    /** Synthesizes `text`; the frames that came out, the plugin's error events, and the unhandled rejections. */
    async function synthesizeAll(text: string, abortSignal?: AbortSignal) {
      const tts = newTts();
      const errors = pluginErrors(tts);
      const frames: AudioFrame[] = [];
      const rejections = await unhandledRejectionsDuring(async () => {
        for await (const audio of tts.synthesize(text, ONE_TRY, abortSignal)) frames.push(audio.frame);
      });
      return { frames, errors: errors.all, rejections };
    }

    it('reports HTTP 500 as an error event, and also leaves unhandled rejections behind (fatal in a bare process)', async () => {
      fake.faults.fail('speech', { kind: 'status', status: 500 });
      const outcome = await within(5000, 'synthesize', synthesizeAll('Hello there.'));

      expect(outcome.frames).to.deep.equal([]);
      expect(outcome.errors).to.have.length(1);
      expect(outcome.errors[0]?.error).to.have.property('status', 500);
      expect(outcome.rejections).to.have.length.greaterThan(0);
      expect(outcome.rejections[0]).to.have.property('status', 500);
    });

    it('reports a socket dropped mid-body the same way, with none of the audio that did arrive', async () => {
      fake.faults.fail('speech', { kind: 'drop', afterChunks: 5 });
      const outcome = await within(5000, 'synthesize', synthesizeAll('Hello there.'));

      expect(outcome.frames).to.deep.equal([], 'the plugin reads the whole body before it makes a frame');
      // Not an APIError: undici's bare TypeError, which no retry budget applies to.
      expect(outcome.errors[0]?.error).to.be.instanceOf(TypeError).with.property('message', 'terminated');
      expect(outcome.rejections).to.have.length.greaterThan(0);
    });

    it('has no timeout of its own on a hanging server: an abort ends it, and is itself reported as an error', async () => {
      fake.faults.fail('speech', { kind: 'hang' });
      const outcome = await within(5000, 'synthesize', synthesizeAll('Hello there.', AbortSignal.timeout(300)));

      expect(outcome.frames).to.deep.equal([]);
      // The SDK's abort error is not named AbortError, so the plugin does not recognise it as one.
      expect(outcome.errors.map((e) => [e.error.constructor.name, e.recoverable])).to.deep.equal([['APIUserAbortError', false]]);
      expect(outcome.rejections.map(String)).to.include('Error: Request was aborted.');
      expect(fake.requestsTo('speech')[0]?.fault).to.deep.equal({ kind: 'hang' });
    });
  });
});

async function waitUntil(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 10));
}
