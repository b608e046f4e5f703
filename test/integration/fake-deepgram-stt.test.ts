// The Deepgram streaming STT stand-in (tools/fake-providers/deepgram-stt.ts) driven by the real
// LiveKit deepgram plugin pointed at it by base URL, on the caller fixture decoded to 8 kHz PCM as a
// phone call delivers it: the speech events a pipeline would see, what the stand-in received, and
// each fault as the plugin surfaces it.
import { stt } from '@livekit/agents';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import type { AudioFrame } from '@livekit/rtc-node';
import { expect } from 'chai';
import { FakeDeepgramStt, type FakeSttSession } from '../../tools/fake-providers/deepgram-stt.js';
import { phoneFrames, pluginErrors, quietLivekitLogger, settlesWithin, silentFrames, within } from './lib/livekit-plugins.js';

const API_KEY = 'dg-test-key';
const ONE_TRY = { maxRetry: 0, retryIntervalMs: 0, timeoutMs: 1500 };
const CALLER_1_WORDS = 'he was not an ill disposed young man';

type Event = { type: stt.SpeechEventType; text?: string };

/**
 * Streams frames through a plugin stream and collects its speech events. The input ends once
 * `utterances` turns have ended (ending it at once would close the stream before it connects, as a
 * pipeline never does); without that many, the events end only when the plugin gives up.
 */
async function transcribe(stream: stt.SpeechStream, frames: AudioFrame[], utterances = Infinity, flush = false): Promise<Event[]> {
  for (const frame of frames) stream.pushFrame(frame);
  if (flush) stream.flush();
  const events: Event[] = [];
  let ended = 0;
  for await (const event of stream) {
    if (event.type === stt.SpeechEventType.RECOGNITION_USAGE) continue;
    const text = event.alternatives?.[0]?.text;
    events.push(text === undefined ? { type: event.type } : { type: event.type, text });
    if (event.type === stt.SpeechEventType.END_OF_SPEECH && ++ended === utterances) stream.endInput();
  }
  return events;
}

describe('fake Deepgram streaming STT, driven by the LiveKit deepgram plugin', function () {
  let fake: FakeDeepgramStt;

  before(quietLivekitLogger);
  beforeEach(async () => {
    fake = await FakeDeepgramStt.start({ apiKey: API_KEY });
  });
  afterEach(async () => {
    await fake.close();
  });

  function newStt(apiKey = API_KEY): deepgram.STT {
    return new deepgram.STT({ baseUrl: fake.baseUrl, sampleRate: 8000, apiKey });
  }

  it('turns the caller speech into start of speech, an interim, the final transcript and end of speech', async () => {
    fake.transcribeWith(CALLER_1_WORDS);
    const plugin = newStt();
    const errors = pluginErrors(plugin);
    const frames = [...(await phoneFrames()), ...silentFrames(30)];

    const events = await within(10_000, 'transcription', transcribe(plugin.stream({ connOptions: ONE_TRY }), frames, 1));

    const { START_OF_SPEECH, INTERIM_TRANSCRIPT, FINAL_TRANSCRIPT, END_OF_SPEECH } = stt.SpeechEventType;
    expect(events).to.deep.equal([
      { type: START_OF_SPEECH },
      { type: INTERIM_TRANSCRIPT, text: 'he' },
      { type: FINAL_TRANSCRIPT, text: CALLER_1_WORDS },
      { type: END_OF_SPEECH },
    ]);
    expect(errors.all).to.deep.equal([]);
  });

  it('receives what the plugin sends: its key, 8 kHz linear16 nova-3, all the speech, and CloseStream', async () => {
    const frames = [...(await phoneFrames()), ...silentFrames(30)];
    await within(10_000, 'transcription', transcribe(newStt().stream({ connOptions: ONE_TRY }), frames, 1));

    const [session] = fake.sessions;
    expect(session?.headers.authorization).to.equal(`Token ${API_KEY}`);
    expect(Object.fromEntries(['sample_rate', 'encoding', 'channels', 'model', 'vad_events', 'interim_results'].map((k) => [k, session?.query.get(k)]))).to.deep.equal({
      sample_rate: '8000',
      encoding: 'linear16',
      channels: '1',
      model: 'nova-3',
      vad_events: 'true',
      interim_results: 'true',
    });
    // Everything up to the end of the speech, plus the quiet the plugin sends before its energy filter stops it.
    expect(session?.audioMs).to.be.within(2900, frames.length * 20);
    expect(session?.controlMessages.at(-1)).to.deep.equal({ type: 'CloseStream' });
    const speech = Buffer.concat(frames.slice(0, -30).map((f) => Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength)));
    expect(session?.audio().subarray(0, speech.length).equals(speech)).to.equal(true, 'the caller PCM, byte for byte');
  });

  it('closes the utterance on Finalize, which the plugin sends when its input is flushed', async () => {
    fake.transcribeWith(CALLER_1_WORDS);
    const events = await within(10_000, 'transcription', transcribe(newStt().stream({ connOptions: ONE_TRY }), await phoneFrames(), 1, true));

    expect(events.filter((e) => e.type === stt.SpeechEventType.FINAL_TRANSCRIPT)).to.deep.equal([
      { type: stt.SpeechEventType.FINAL_TRANSCRIPT, text: CALLER_1_WORDS },
    ]);
    expect(fake.sessions[0]?.controlMessages[0]).to.deep.equal({ type: 'Finalize' });
    expect(fake.sessions[0]?.sent.find((m) => m.json.is_final === true)?.json).to.include({ from_finalize: true });
  });

  it('scripts one transcript per utterance, in order', async () => {
    fake.transcribeWith('first turn', 'second turn');
    const speech = await phoneFrames();
    const frames = [...speech, ...silentFrames(35), ...speech, ...silentFrames(35)];

    const events = await within(10_000, 'transcription', transcribe(newStt().stream({ connOptions: ONE_TRY }), frames, 2));

    const finals = events.filter((e) => e.type === stt.SpeechEventType.FINAL_TRANSCRIPT).map((e) => e.text);
    expect(finals).to.deep.equal(['first turn', 'second turn']);
    expect(fake.sessions[0]?.finals).to.deep.equal(['first turn', 'second turn']);
  });

  it('refuses a wrong key with 401, which the plugin reports as a non-recoverable error', async () => {
    const plugin = newStt('wrong-key');
    const errors = pluginErrors(plugin);
    const events = await within(5000, 'transcription', transcribe(plugin.stream({ connOptions: ONE_TRY }), await phoneFrames()));
    const { error, recoverable } = await within(5000, 'error event', errors.first);

    expect(events).to.deep.equal([]);
    expect(recoverable).to.equal(false);
    expect(error).to.have.property('statusCode', 401);
    expect(fake.refused.map((r) => r.status)).to.deep.equal([401]);
  });

  it('reports an upgrade refused with 500 as an error with that status', async () => {
    fake.faults.fail('listen', { kind: 'status', status: 500 });
    const plugin = newStt();
    const errors = pluginErrors(plugin);
    await within(5000, 'transcription', transcribe(plugin.stream({ connOptions: ONE_TRY }), await phoneFrames()));
    const { error } = await within(5000, 'error event', errors.first);
    expect(error).to.have.property('statusCode', 500);
  });

  // Two faults the plugin does not report at all: it has no handshake timeout, and it only logs a
  // socket that drops (its close monitor is never awaited). A pipeline needs its own watchdog; the
  // stream's close() is what ends it.
  it('waits forever on an upgrade that is never answered, without an error, until the stream is closed', async () => {
    fake.faults.fail('listen', { kind: 'hang' });
    const plugin = newStt();
    const errors = pluginErrors(plugin);
    const stream = plugin.stream({ connOptions: ONE_TRY });

    const events = transcribe(stream, await phoneFrames());
    const quietFor = await settlesWithin(500, events);
    await stream.close();

    expect(quietFor).to.equal('still waiting');
    expect(await within(5000, 'events after close', events)).to.deep.equal([]);
    expect(errors.all).to.deep.equal([]);
  });

  it('goes deaf when the socket drops mid-stream: no error, no reconnect, no transcript, until closed', async () => {
    fake.faults.fail('listen', { kind: 'drop', afterMs: 500 });
    const plugin = newStt();
    const errors = pluginErrors(plugin);
    const stream = plugin.stream({ connOptions: ONE_TRY });

    const events = transcribe(stream, [...(await phoneFrames()), ...silentFrames(30)]);
    await within(5000, 'the drop', waitForSession(fake).then((session) => session.closed));
    const quietFor = await settlesWithin(500, events);
    await stream.close();

    expect(quietFor).to.equal('still waiting');
    const seen = await within(5000, 'events after close', events);
    expect(seen.map((e) => e.type)).to.not.include(stt.SpeechEventType.FINAL_TRANSCRIPT);
    expect(errors.all).to.deep.equal([]);
    expect(fake.sessions).to.have.length(1, 'it never reconnects');
  });
});

async function waitForSession(fake: FakeDeepgramStt): Promise<FakeSttSession> {
  while (fake.sessions.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  return fake.sessions[0]!;
}
