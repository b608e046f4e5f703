// A room-less LiveKit AgentSession on a phone call's audio, end to end over real sockets: the
// caller fixture goes in through TwilioAudioInput, the Deepgram STT stand-in ends the turn, the
// OpenAI stand-in answers and speaks, and TwilioAudioOutput feeds a real Playback whose wire
// messages a test transport plays the part of Twilio for (echoing marks when told to).
import { performance } from 'node:perf_hooks';
import { llm, voice } from '@livekit/agents';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as openai from '@livekit/agents-plugin-openai';
import { expect } from 'chai';
import type { AgentSink } from '../../src/agents/bridge.js';
import { TwilioAudioInput, TwilioAudioOutput, TwilioTranscriptOutput } from '../../src/agents/livekit/twilio-io.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { Playback } from '../../src/call/playback.js';
import { FRAME_BYTES, MULAW_SILENCE, outboundFrames } from '../../src/twilio/protocol.js';
import { FakeDeepgramStt } from '../../tools/fake-providers/deepgram-stt.js';
import { FakeOpenAi } from '../../tools/fake-providers/openai.js';
import { CALLER_1_WAV, quietLivekitLogger, within } from './lib/livekit-plugins.js';

const KEY = 'test-key';
const FIRST_REPLY = 'Hello, you have reached the booking line.';
const LONG_REPLY =
  'Let me read you every option we have for that date, starting with the early morning departures and then the afternoon ones, with their prices and seats.';

interface WireMessage {
  event: 'media' | 'mark' | 'clear';
  media?: { payload: string };
  mark?: { name: string };
}

/** The call side: a real Playback on a real clock, whose messages a fake Twilio receives. */
function phoneCall() {
  const started = performance.now();
  const wire: WireMessage[] = [];
  let echoMarks = true;
  let output: TwilioAudioOutput | undefined;
  const playback = new Playback(
    outboundFrames('MZlivekit'),
    (text) => {
      const message = JSON.parse(text) as WireMessage;
      wire.push(message);
      // Twilio echoes a mark once the audio before it has played; this one plays at once.
      if (message.event === 'mark' && echoMarks) setImmediate(() => playback.onMark(message.mark!.name));
    },
    () => performance.now() - started,
    { scheduled: () => {}, cut: () => {}, utteranceStarted: () => {}, played: (played) => output!.utterancePlayed(played) },
  );
  const sink: AgentSink = {
    audio: (chunk) => playback.push(chunk),
    turnStarted: () => playback.beginTurn(),
    utteranceDone: () => playback.endUtterance(),
    bargeIn: () => playback.interrupt(),
    transcript: () => {},
    latency: () => {},
    action: () => {},
    error: () => {},
  };
  const transcript = new TwilioTranscriptOutput();
  output = new TwilioAudioOutput(sink, transcript);
  return {
    input: new TwilioAudioInput(),
    output,
    transcript,
    playback,
    wire,
    holdMarks: () => (echoMarks = false),
  };
}

/** Resolves with the first `type` event of the session that `accept` takes. */
function nextEvent<T>(session: voice.AgentSession, type: voice.AgentSessionEventTypes, accept: (ev: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const listener = (ev: T): void => {
      if (!accept(ev)) return;
      session.off(type, listener as never);
      resolve(ev);
    };
    session.on(type, listener as never);
  });
}

/** The next assistant message the session adds to its chat. */
async function nextAssistantMessage(session: voice.AgentSession): Promise<llm.ChatMessage> {
  const ev = await nextEvent<voice.ConversationItemAddedEvent>(
    session,
    voice.AgentSessionEventTypes.ConversationItemAdded,
    (e) => e.item.type === 'message' && e.item.role === 'assistant',
  );
  return ev.item as llm.ChatMessage;
}

describe('LiveKit AgentSession on a phone call (Twilio IO, real Playback, provider stand-ins)', function () {
  let stt: FakeDeepgramStt;
  let oa: FakeOpenAi;
  let session: voice.AgentSession | undefined;

  before(quietLivekitLogger);
  beforeEach(async () => {
    stt = await FakeDeepgramStt.start({ apiKey: KEY });
    oa = await FakeOpenAi.start({ apiKey: KEY });
  });
  afterEach(async () => {
    await session?.close();
    session = undefined;
    await Promise.all([stt.close(), oa.close()]);
  });

  async function startSession(call: ReturnType<typeof phoneCall>): Promise<voice.AgentSession> {
    const s = new voice.AgentSession({
      stt: new deepgram.STT({ baseUrl: stt.baseUrl, sampleRate: 8000, apiKey: KEY }),
      llm: new openai.LLM({ baseURL: oa.baseUrl, apiKey: KEY, model: 'gpt-4o-mini' }),
      tts: new openai.TTS({ baseURL: oa.baseUrl, apiKey: KEY }),
      vad: null,
      turnHandling: { turnDetection: 'stt', interruption: { resumeFalseInterruption: false } },
      aecWarmupDuration: null,
      userAwayTimeout: null,
    });
    s.input.audio = call.input;
    s.output.audio = call.output;
    s.output.transcription = call.transcript.asTextOutput();
    await s.start({ agent: new voice.Agent({ instructions: 'You answer the phone for a travel agency.' }) });
    return s;
  }

  /** The caller fixture, then a second of silence, as Twilio frames (faster than real time: the STT stand-in counts audio time). */
  async function callerSays(input: TwilioAudioInput): Promise<void> {
    const speech = await readMulawWav(CALLER_1_WAV);
    for (let at = 0; at + FRAME_BYTES <= speech.length; at += FRAME_BYTES) input.pushMulaw(speech.subarray(at, at + FRAME_BYTES));
    const silence = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
    for (let i = 0; i < 50; i++) input.pushMulaw(silence);
  }

  it('answers the caller in 20 ms mu-law frames with a mark, and goes back to listening once the mark echoes', async () => {
    const call = phoneCall();
    stt.transcribeWith('I would like to book a flight');
    oa.replyWith({ text: FIRST_REPLY });
    session = await startSession(call);
    const reply = nextAssistantMessage(session);
    const speaking = nextEvent<voice.AgentStateChangedEvent>(session, voice.AgentSessionEventTypes.AgentStateChanged, (ev) => ev.newState === 'speaking');

    await callerSays(call.input);
    await within(10_000, 'the agent speaking', speaking);
    const listening = nextEvent<voice.AgentStateChangedEvent>(session, voice.AgentSessionEventTypes.AgentStateChanged, (ev) => ev.newState === 'listening');
    const item = await within(10_000, 'the reply in the chat', reply);
    await within(5000, 'the agent listening again', listening);

    const media = call.wire.filter((m) => m.event === 'media').map((m) => Buffer.from(m.media!.payload, 'base64'));
    expect(media.length).to.be.greaterThan(0);
    expect(media.every((b) => b.length % FRAME_BYTES === 0)).to.equal(true, 'whole 20 ms frames');
    const seconds = media.reduce((n, b) => n + b.length, 0) / 8000;
    expect(seconds).to.be.greaterThan(1, 'the reply speech, at 8 kHz');
    expect(call.wire.at(-1)?.event).to.equal('mark', 'a mark after the reply');
    expect(call.wire.filter((m) => m.event === 'clear')).to.have.length(0);
    expect(item.textContent).to.equal(FIRST_REPLY);
    expect(item.interrupted).to.equal(false);
    const [chat] = oa.requestsTo('chat');
    const said = (chat?.json?.messages as { role: string; content: string }[]).find((m) => m.role === 'user');
    expect(said?.content).to.equal('I would like to book a flight');
  });

  it('on a barge-in, clears the call and records the reply interrupted, cut to what the caller heard', async () => {
    const call = phoneCall();
    oa.replyWith({ text: LONG_REPLY });
    session = await startSession(call);
    call.holdMarks(); // the caller is still hearing the reply when they cut in
    const speaking = nextEvent<voice.AgentStateChangedEvent>(session, voice.AgentSessionEventTypes.AgentStateChanged, (ev) => ev.newState === 'speaking');
    const reply = nextAssistantMessage(session);

    session.generateReply();
    await within(10_000, 'the agent speaking', speaking);
    await new Promise((resolve) => setTimeout(resolve, 800)); // the caller hears the first words
    session.interrupt();
    const item = await within(5000, 'the interrupted reply in the chat', reply);

    const events = call.wire.map((m) => m.event);
    expect(events).to.include('clear');
    expect(events.indexOf('clear')).to.be.greaterThan(events.indexOf('media'));
    expect(events.slice(events.indexOf('clear') + 1)).to.not.include('media', 'nothing sent after the clear');
    expect(item.interrupted).to.equal(true);
    const heard = item.textContent ?? '';
    const words = heard.split(' ').filter(Boolean).length;
    expect(LONG_REPLY.startsWith(heard)).to.equal(true, `"${heard}" is the start of the reply`);
    expect(words).to.be.within(1, LONG_REPLY.split(' ').length - 5, `"${heard}": the words heard, not the whole reply`);
  });

  it('stops the reply when the caller talks over it: clear, and the reply kept only as far as it was heard', async () => {
    const call = phoneCall();
    stt.transcribeWith('I would like to book a flight', 'no wait, stop');
    oa.replyWith({ text: LONG_REPLY }, { text: 'Of course.' });
    session = await startSession(call);
    const speaking = nextEvent<voice.AgentStateChangedEvent>(session, voice.AgentSessionEventTypes.AgentStateChanged, (ev) => ev.newState === 'speaking');
    const reply = nextAssistantMessage(session);

    call.holdMarks(); // the caller is still hearing the reply when they cut in
    await callerSays(call.input);
    await within(10_000, 'the agent speaking', speaking);
    await new Promise((resolve) => setTimeout(resolve, 800)); // the caller hears the first words
    await callerSays(call.input);
    const item = await within(10_000, 'the interrupted reply in the chat', reply);

    expect(call.wire.map((m) => m.event)).to.include('clear');
    expect(item.interrupted).to.equal(true);
    const heard = item.textContent ?? '';
    expect(LONG_REPLY.startsWith(heard)).to.equal(true, `"${heard}" is the start of the reply`);
    expect(heard.split(' ').filter(Boolean).length).to.be.within(1, LONG_REPLY.split(' ').length - 5, `"${heard}"`);
  });
});
