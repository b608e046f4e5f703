// Whole calls through the LiveKit pipeline bridge: a fake Twilio caller streams the speech
// fixtures over a real socket; the pipeline runs in-process against the provider stand-ins
// (Grok and OpenAI as OpenAI-compatible servers, Deepgram's streaming STT, Cartesia's TTS socket),
// each over its own real socket. What is asserted is what the caller hears and what the call keeps.
import { initializeLogger } from '@livekit/agents';
import { expect } from 'chai';
import { LivekitAgent } from '../../src/agents/livekit/agent.js';
import { agentUnavailablePrompt } from '../../src/agents/prompts.js';
import { readMulawWav, readPcmWav } from '../../src/audio/wav-io.js';
import { installFaultGuard } from '../../src/call/fault-guard.js';
import type { Env } from '../../src/config.js';
import { FakeCartesiaTts } from '../../tools/fake-providers/cartesia-tts.js';
import { FakeDeepgramStt } from '../../tools/fake-providers/deepgram-stt.js';
import { FakeOpenAi } from '../../tools/fake-providers/openai.js';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { capturingLogger, type CapturingLogger } from '../helpers/capturing-logger.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { STAND_IN_KEYS, standInEnv } from '../integration/lib/livekit-plugins.js';

const SPEED = 4;
const KEYS = STAND_IN_KEYS;
const caller1 = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const caller2 = await readMulawWav('fixtures/speech/caller-2-8k-mulaw.wav');

const window = (audio: Buffer, at: number, bytes = 800) => audio.subarray(at, at + bytes);
const contains = (haystack: Buffer, needle: Buffer) => haystack.indexOf(needle) >= 0;

interface Harness {
  t: TestGateway;
  caller: FakeTwilioCaller;
  grok: FakeOpenAi;
  openai: FakeOpenAi;
  deepgram: FakeDeepgramStt;
  cartesia: FakeCartesiaTts;
  log: CapturingLogger;
}

const harnesses: Harness[] = [];

/** The stand-ins, a gateway whose calls get a LivekitAgent pointed at them, and a caller. */
async function setUp(env: Env = {}, customParameters: Record<string, string> = {}): Promise<Harness> {
  const [grok, openai, deepgram, cartesia] = await Promise.all([
    FakeOpenAi.start({ apiKey: KEYS.grok, defaultReply: { text: 'Grok here.' } }),
    FakeOpenAi.start({ apiKey: KEYS.openai, defaultReply: { text: 'OpenAI here.' } }),
    FakeDeepgramStt.start({ apiKey: KEYS.deepgram }),
    FakeCartesiaTts.start({ apiKey: KEYS.cartesia }),
  ]);
  const log = capturingLogger('debug');
  let gateway: TestGateway | undefined;
  const t = await startTestGateway(
    {
      AGENT_PROVIDER: 'echo', // the bridge runs in-process here: the factory below is injected
      LOG_LEVEL: 'error',
      SYSTEM_PROMPT: 'You book flights.',
      ...standInEnv({ grok, openai, deepgram, cartesia }),
      ...env,
    },
    {
      logger: log.logger,
      agentFactory: (call, sink) => {
        const config = gateway!.config;
        return new LivekitAgent({ config, systemPrompt: config.systemPrompt, transferNumber: undefined, logLevel: config.logLevel }, call, sink);
      },
    },
  );
  gateway = t;
  const caller = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED, customParameters });
  const h = { t, caller, grok, openai, deepgram, cartesia, log };
  harnesses.push(h);
  return h;
}

/** The caller says something, then is quiet long enough for the VAD to end the turn. */
async function say(c: FakeTwilioCaller, speech: Buffer): Promise<void> {
  await c.streamAudio(speech);
  await c.streamSilence(1500);
}

/** Says `speech` and waits until the caller has heard `marks` agent utterances in all. */
async function turn(c: FakeTwilioCaller, speech: Buffer, marks: number): Promise<void> {
  await say(c, speech);
  await c.waitFor(() => c.marksEchoed.length >= marks, 20_000);
}

/** Resolves once the call's agent has started (the gateway records its connect time). */
async function agentStarted(t: TestGateway, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!t.telemetry.recent({ limit: 100 }).some((e) => e.component === 'agent' && e.action === 'connect')) {
    if (Date.now() > deadline) throw new Error('the agent did not start');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The chat request's last user message, as the stand-in received it. */
function lastUserMessage(fake: FakeOpenAi, index: number): string | undefined {
  const messages = (fake.requestsTo('chat')[index]?.json?.messages ?? []) as { role: string; content: unknown }[];
  const user = messages.filter((m) => m.role === 'user').at(-1);
  return typeof user?.content === 'string' ? user.content : JSON.stringify(user?.content);
}

describe('media stream with the LiveKit pipeline (in-process, provider stand-ins)', function () {
  this.timeout(45_000);
  // The framework's own logger, quiet: the failures below are on purpose.
  before(() => initializeLogger({ pretty: false, level: 'silent' }));

  afterEach(async () => {
    for (const h of harnesses.splice(0)) {
      h.caller.close();
      await h.t.close();
      await Promise.all([h.grok.close(), h.openai.close(), h.deepgram.close(), h.cartesia.close()]);
    }
  });

  it('holds a two-turn conversation the caller hears, marks echoed, the transcript kept and the WAV holding both sides', async () => {
    const { caller: c, t, deepgram, grok, cartesia } = await setUp();
    deepgram.transcribeWith('I would like to book a flight', 'to Paris on Friday');
    grok.replyWith({ text: 'Sure, where to?' }, { text: 'Booked for Friday.' });
    await c.connect();
    await turn(c, caller1, 1);
    await turn(c, caller2, 2);
    await c.stop(); // at once: the last reply was heard in full all the same
    const summary = await t.nextEnded(10_000);

    const heard = c.heardAudio();
    expect(heard.length / 8000).to.be.greaterThan(4, 'seconds of agent speech heard');
    expect(c.invalidFrames).to.deep.equal([]);
    expect(cartesia.contexts.map((ctx) => ctx.transcript.trim())).to.deep.equal(['Sure, where to?', 'Booked for Friday.']);
    expect(summary.transcript.map((l) => [l.role, l.text, l.interrupted])).to.deep.equal([
      ['user', 'I would like to book a flight', undefined],
      ['assistant', 'Sure, where to?', undefined],
      ['user', 'to Paris on Friday', undefined],
      ['assistant', 'Booked for Friday.', undefined],
    ]);
    expect(lastUserMessage(grok, 1)).to.equal('to Paris on Friday');
    expect(summary.reason).to.equal('twilio_stop');
    const rows = t.telemetry.summary();
    expect(rows.find((r) => r.component === 'agent' && r.action === 'turn_latency')?.count).to.equal(2);
    expect(rows.find((r) => r.action === 'livekit_llm_ttft')?.count).to.be.greaterThanOrEqual(2);
    expect(rows.find((r) => r.action === 'livekit_tts_ttfb')?.count).to.be.greaterThanOrEqual(2);
    // The recording: the caller on the left, the agent's voice on the right.
    const wav = await readPcmWav(summary.recording!.path);
    let callerEnergy = 0;
    let agentEnergy = 0;
    for (let i = 0; i < wav.samples.length; i += 2) {
      callerEnergy += Math.abs(wav.samples[i]!);
      agentEnergy += Math.abs(wav.samples[i + 1]!);
    }
    expect(wav.channels).to.equal(2);
    expect(callerEnergy / (wav.samples.length / 2)).to.be.greaterThan(100, 'the caller channel holds speech');
    expect(agentEnergy / (wav.samples.length / 2)).to.be.greaterThan(100, 'the agent channel holds speech');
  });

  it('barge-in: the caller talking over a reply clears it, and its transcript line is cut to what was heard', async () => {
    const { caller: c, t, deepgram, grok } = await setUp();
    const long =
      'Let me read you every option we have for that date, starting with the early morning departures and then the afternoon ones, with their prices and seats.';
    deepgram.transcribeWith('what flights do you have', 'stop, the first one please');
    grok.replyWith({ text: long }, { text: 'The first one it is.' });
    await c.connect();
    await say(c, caller1);
    await c.waitFor((e) => e.kind === 'media', 20_000);
    await c.streamSilence(600); // the caller hears the first words of the reply
    await c.streamAudio(caller2);
    await c.waitFor((e) => e.kind === 'clear', 20_000);
    await c.streamSilence(1500);
    await c.waitFor(() => c.marksEchoed.length >= 1, 20_000);
    await c.streamSilence(400);
    await c.stop();
    const summary = await t.nextEnded(10_000);

    expect(c.clears).to.be.greaterThanOrEqual(1);
    const cut = summary.transcript.find((l) => l.role === 'assistant' && l.interrupted);
    expect(cut, JSON.stringify(summary.transcript)).to.not.equal(undefined);
    expect(long.startsWith(cut!.text)).to.equal(true, `"${cut!.text}" is the start of the reply`);
    expect(cut!.text.length).to.be.lessThan(long.length - 20, 'only the words heard');
    expect(summary.transcript.map((l) => l.text)).to.include('stop, the first one please');
  });

  it('answers from OpenAI when Grok fails with 500', async () => {
    const { caller: c, t, deepgram, grok, openai } = await setUp();
    deepgram.transcribeWith('I would like to book a flight');
    grok.faults.fail('chat', { kind: 'status', status: 500 });
    await c.connect();
    await turn(c, caller1, 1);
    await c.streamSilence(400);
    await c.stop();
    const summary = await t.nextEnded(10_000);

    expect(grok.requestsTo('chat')[0]?.fault).to.deep.equal({ kind: 'status', status: 500 });
    expect(lastUserMessage(openai, 0)).to.equal('I would like to book a flight');
    expect(summary.transcript.map((l) => [l.role, l.text])).to.deep.include(['assistant', 'OpenAI here.']);
    expect(c.heardAudio().length / 8000).to.be.greaterThan(1, 'seconds of the reply heard');
    expect(summary.reason).to.equal('twilio_stop');
  });

  it('speaks with OpenAI TTS when Cartesia refuses, and the call goes on under the fault guard', async () => {
    const { caller: c, t, deepgram, cartesia, openai, log } = await setUp();
    // As in production: an unhandled rejection in a call's scope ends that call (here: it would
    // end as internal_error); the plugins' provider failures must not reach it.
    const exits: number[] = [];
    const uninstall = installFaultGuard(log.logger, (code) => exits.push(code));
    try {
      deepgram.transcribeWith('I would like to book a flight', 'thank you');
      cartesia.faults.fail('websocket', { kind: 'status', status: 500 });
      await c.connect();
      await turn(c, caller1, 1);
      await turn(c, caller2, 2);
      await c.streamSilence(400);
      await c.stop();
      const summary = await t.nextEnded(10_000);

      expect(cartesia.refused.map((r) => r.status)).to.include(500);
      expect(openai.requestsTo('speech').length).to.be.greaterThanOrEqual(2);
      expect(c.heardAudio().length / 8000).to.be.greaterThan(4, 'seconds of both replies heard');
      expect(summary.reason).to.equal('twilio_stop');
      expect(summary.transcript.filter((l) => l.role === 'assistant').map((l) => l.text)).to.deep.equal(['Grok here.', 'Grok here.']);
      expect(exits).to.deep.equal([]);
      // The plugin's own unhandled rejection of the refused request is contained, and said so.
      const guardLines = log.lines.filter((l) => String(l['message']).includes('in a call'));
      expect(guardLines.map((l) => l['message'])).to.include('unhandled rejection in a call, contained by it; the call goes on');
      expect(guardLines.map((l) => l['message'])).to.not.include('unhandled rejection in a call; ending that call');
    } finally {
      uninstall();
    }
  });

  it('every provider down: the caller hears the apology and the call ends cleanly, recording kept', async () => {
    const { caller: c, t, grok, openai, deepgram, cartesia } = await setUp({}, { greeting: 'Hello, Paris Air.' });
    grok.faults.fail('chat', { kind: 'status', status: 500 });
    for (const route of ['chat', 'speech', 'transcriptions'] as const) openai.faults.fail(route, { kind: 'status', status: 500 });
    deepgram.faults.fail('listen', { kind: 'status', status: 500 });
    cartesia.faults.fail('websocket', { kind: 'status', status: 500 });
    await c.connect();
    await c.streamAudio(caller1);
    await c.waitFor(() => c.marksEchoed.length >= 1, 20_000);
    const summary = await t.nextEnded(20_000);

    expect(summary.reason).to.equal('agent_error');
    expect(summary.detail).to.match(/^no text-to-speech provider left/);
    expect(contains(c.heardAudio(), window(agentUnavailablePrompt(), 8000))).to.equal(true, 'the apology heard');
    expect(contains(c.heardAudio(), window(agentUnavailablePrompt(), agentUnavailablePrompt().length - 1000))).to.equal(true, 'all of it');
    const wav = await readPcmWav(summary.recording!.path);
    expect(wav.samples.length / 2 / 8000).to.be.greaterThan(1, 'the recording kept');
  });

  it('no LLM left after the caller speaks: the apology, then a clean end with the transcript kept', async () => {
    const { caller: c, t, grok, openai, deepgram } = await setUp();
    deepgram.transcribeWith('I would like to book a flight');
    grok.faults.fail('chat', { kind: 'status', status: 500 });
    openai.faults.fail('chat', { kind: 'status', status: 500 });
    await c.connect();
    await say(c, caller1);
    await c.waitFor(() => c.marksEchoed.length >= 1, 20_000);
    const summary = await t.nextEnded(20_000);

    expect(summary.reason).to.equal('agent_error');
    expect(summary.detail).to.match(/^no LLM provider left/);
    expect(contains(c.heardAudio(), window(agentUnavailablePrompt(), 8000))).to.equal(true, 'the apology heard');
    expect(summary.transcript.map((l) => [l.role, l.text])).to.deep.equal([['user', 'I would like to book a flight']]);
  });

  it('no speech-to-text left (Deepgram refused, OpenAI STT failing): the apology, then agent_error naming speech-to-text, recording kept', async () => {
    const { caller: c, t, openai, deepgram } = await setUp();
    deepgram.faults.fail('listen', { kind: 'status', status: 500 });
    openai.faults.fail('transcriptions', { kind: 'status', status: 500 });
    await c.connect();
    await say(c, caller1);
    await c.waitFor(() => c.marksEchoed.length >= 1, 20_000);
    const summary = await t.nextEnded(20_000);

    expect(openai.requestsTo('transcriptions')[0]?.fault).to.deep.equal({ kind: 'status', status: 500 });
    expect(summary.reason).to.equal('agent_error');
    expect(summary.detail).to.match(/^no speech-to-text provider left/);
    expect(contains(c.heardAudio(), window(agentUnavailablePrompt(), 8000))).to.equal(true, 'the apology heard');
    const wav = await readPcmWav(summary.recording!.path);
    expect(wav.samples.length / 2 / 8000).to.be.greaterThan(1, 'the recording kept');
  });

  it('Deepgram dropping its socket mid-call: the next turn is transcribed by OpenAI and answered', async () => {
    const { caller: c, t, openai, deepgram, log } = await setUp();
    // The socket drops a moment into the second turn's speech (the plugin sends the caller's audio
    // and about 1 s of the quiet after it), and the plugin reports nothing.
    const firstTurnMs = (caller1.length / 8000) * 1000 + 1000;
    deepgram.faults.fail('listen', { kind: 'drop', afterMs: firstTurnMs + 500 }, 1);
    deepgram.transcribeWith('I would like to book a flight');
    openai.transcribeWith('to Paris on Friday');
    await c.connect();
    await turn(c, caller1, 1);
    await say(c, caller2); // lost with the socket
    const deadline = Date.now() + 20_000;
    const fellBack = () => log.text().includes('stt.Watchdog<deepgram.STT> failed, the next speech-to-text takes over');
    while (!fellBack() && Date.now() < deadline) await c.streamSilence(200);
    expect(fellBack(), 'the drop found and logged').to.equal(true);
    await turn(c, caller1, 2);
    await c.streamSilence(400);
    await c.stop();
    const summary = await t.nextEnded(10_000);

    expect(deepgram.sessions[0]?.fault).to.deep.include({ kind: 'drop' });
    expect(deepgram.sessions[0]?.finals).to.deep.equal(['I would like to book a flight'], 'nothing after the drop');
    expect(openai.requestsTo('transcriptions').length).to.be.greaterThanOrEqual(1);
    expect(summary.transcript.map((l) => [l.role, l.text])).to.deep.equal([
      ['user', 'I would like to book a flight'],
      ['assistant', 'Grok here.'],
      ['user', 'to Paris on Friday'],
      ['assistant', 'Grok here.'],
    ]);
    expect(summary.reason).to.equal('twilio_stop');
  });

  for (const [what, fault] of [
    ['dropping its socket', { kind: 'drop', afterMs: 300 }],
    ['never answering its upgrade', { kind: 'hang' }],
  ] as const) {
    it(`a lone Deepgram STT ${what}: the apology, then agent_error naming speech-to-text`, async () => {
      const { caller: c, t, deepgram } = await setUp({ OPENAI_API_KEY: '' });
      deepgram.faults.fail('listen', fault);
      await c.connect();
      await say(c, caller1);
      await c.waitFor(() => c.marksEchoed.length >= 1, 20_000);
      const summary = await t.nextEnded(20_000);

      expect(summary.reason).to.equal('agent_error');
      expect(summary.detail).to.match(/^no speech-to-text provider left \(stt\.Watchdog<deepgram\.STT>\)/);
      expect(contains(c.heardAudio(), window(agentUnavailablePrompt(), 8000))).to.equal(true, 'the apology heard');
    });
  }

  it('end_call: the goodbye is heard to its end, then the call ends', async () => {
    const { caller: c, t, deepgram, grok } = await setUp();
    deepgram.transcribeWith('that is all, thank you');
    grok.replyWith({ text: 'Goodbye, and have a nice trip!', toolCalls: [{ name: 'end_call', arguments: { reason: 'the caller is done' } }] });
    await c.connect();
    await say(c, caller1);
    const summary = await t.nextEnded(20_000);

    expect(summary.reason).to.equal('agent_hangup');
    expect(summary.detail).to.equal('the caller is done');
    const marksSent = c.events.filter((e) => e.kind === 'mark-sent').length;
    expect(marksSent).to.be.greaterThanOrEqual(1);
    expect(c.marksEchoed.length).to.equal(marksSent, 'every mark echoed: the goodbye was heard before the end');
    expect(c.heardAudio().length / 8000).to.be.greaterThan(4, 'seconds of the goodbye heard');
    expect(summary.transcript.map((l) => [l.role, l.text])).to.deep.equal([
      ['user', 'that is all, thank you'],
      ['assistant', 'Goodbye, and have a nice trip!'],
    ]);
    expect(grok.requestsTo('chat')).to.have.length(1, 'no reply asked for after the tool');
  });

  it('DTMF: the LLM hears the key as a user message; the digit reaches no log line, telemetry or transcript', async () => {
    const { caller: c, t, grok, log } = await setUp();
    grok.replyWith({ text: 'You pressed seven.' });
    await c.connect();
    await agentStarted(t);
    c.sendDtmf('7');
    await c.streamSilence(200);
    await c.waitFor(() => c.marksEchoed.length >= 1, 20_000);
    await c.streamSilence(400);
    await c.stop();
    const summary = await t.nextEnded(10_000);

    expect(lastUserMessage(grok, 0)).to.equal('The caller pressed 7 on the keypad.');
    expect(summary.transcript.map((l) => [l.role, l.text])).to.deep.equal([['assistant', 'You pressed seven.']]);
    const everything = log.text() + JSON.stringify(t.telemetry.recent({ limit: 1000 }));
    expect(everything).to.not.contain('pressed 7').and.not.match(/"digit"/);
  });
});
