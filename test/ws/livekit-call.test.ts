// Whole calls through the LiveKit pipeline bridge: a fake Twilio caller streams the speech
// fixtures over a real socket; the pipeline runs in-process (two scenarios also in an agent worker) against the provider stand-ins
// (Grok and OpenAI as OpenAI-compatible servers, Deepgram's streaming STT, Cartesia's TTS socket),
// each over its own real socket. What is asserted is what the caller hears and what the call keeps.
import { initializeLogger } from '@livekit/agents';
import { expect } from 'chai';
import nock from 'nock';
import { performance } from 'node:perf_hooks';
import { agentUnavailablePrompt } from '../../src/agents/prompts.js';
import { readPcmWav } from '../../src/audio/wav-io.js';
import { installFaultGuard } from '../../src/call/fault-guard.js';
import type { PipelineOverrides } from '../../src/agents/livekit/pipeline.js';
import type { Env } from '../../src/config.js';
import { agentStarted, caller1, caller2, lastUserMessage, say, startLivekitCall, turn, type LivekitCall } from '../helpers/livekit-call.js';

const window = (audio: Buffer, at: number, bytes = 800) => audio.subarray(at, at + bytes);
const contains = (haystack: Buffer, needle: Buffer) => haystack.indexOf(needle) >= 0;

const calls: LivekitCall[] = [];

/** Polls `ready` until it holds; fails naming `what` after 10 s. */
async function until(ready: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; !ready(); await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (Date.now() > deadline) throw new Error(`${what}: not after 10 s`);
  }
}

/** The stand-ins, a gateway whose calls get a LivekitAgent pointed at them, and a caller. */
async function setUp(
  env: Env = {},
  customParameters: Record<string, string> = {},
  overrides?: PipelineOverrides,
  where: 'in-process' | 'worker' = 'in-process',
): Promise<LivekitCall> {
  const call = await startLivekitCall(where === 'worker' ? { where, env } : { where, env, customParameters, overrides });
  calls.push(call);
  return call;
}

describe('media stream with the LiveKit pipeline (in-process, provider stand-ins)', function () {
  this.timeout(45_000);
  // The framework's own logger, quiet: the failures below are on purpose.
  before(() => initializeLogger({ pretty: false, level: 'silent' }));

  afterEach(async () => {
    nock.cleanAll();
    for (const call of calls.splice(0)) await call.close();
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

  // The same call in-process and in an agent worker (AGENT_PROVIDER=livekit as an operator runs it).
  for (const where of ['in-process', 'worker'] as const) {
    it(`barge-in (${where}): the caller talking over a reply clears it, and its transcript line is cut to what was heard`, async () => {
      const { caller: c, t, deepgram, grok } = await setUp({}, {}, undefined, where);
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
  }

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
      // Nothing stray reached the guard: the check of whether Cartesia is back fails quietly (the
      // plugin's own synthesis over https left a rejection unhandled).
      const guardLines = log.lines.filter((l) => String(l['message']).includes('in a call'));
      expect(guardLines.map((l) => l['message'])).to.deep.equal([]);
    } finally {
      uninstall();
    }
  });

  it('Cartesia back after failing: checked by a handshake at CARTESIA_BASE_URL (http here), no synthesis billed, and the next reply is Cartesia\'s', async () => {
    const { caller: c, t, deepgram, grok, cartesia, openai } = await setUp({}, {}, { ttsRecoveryDelayMs: 200 });
    deepgram.transcribeWith('I would like to book a flight', 'thank you');
    grok.replyWith({ text: 'Sure, where to?' }, { text: 'You are welcome.' });
    cartesia.faults.fail('websocket', { kind: 'status', status: 500 });
    await c.connect();
    await turn(c, caller1, 1); // spoken by OpenAI
    // The reply's refused handshake, then the adapter's checks, refused while Cartesia is down.
    await until(() => cartesia.refused.length >= 3, 'checks at the stand-in');
    cartesia.faults.recover('websocket');
    await until(() => cartesia.connections.length >= 1, 'a check accepted');
    await turn(c, caller2, 2);
    await c.streamSilence(400);
    await c.stop();
    const summary = await t.nextEnded(10_000);

    expect(openai.requestsTo('speech').map((r) => r.json?.input)).to.deep.equal(['Sure, where to?']);
    // Every Cartesia context is a reply's: the checks synthesized nothing, over the socket or HTTP.
    expect(cartesia.contexts.map((ctx) => ctx.transcript.trim())).to.deep.equal(['You are welcome.']);
    expect(cartesia.httpRequests).to.deep.equal([]);
    expect(summary.transcript.filter((l) => l.role === 'assistant').map((l) => l.text)).to.deep.equal(['Sure, where to?', 'You are welcome.']);
    expect(summary.reason).to.equal('twilio_stop');
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
    // The greeting tried each TTS once: no retry rounds of the whole fallback before the apology.
    expect(openai.requestsTo('speech')).to.have.length(1);
    expect(contains(c.heardAudio(), window(agentUnavailablePrompt(), 8000))).to.equal(true, 'the apology heard');
    expect(contains(c.heardAudio(), window(agentUnavailablePrompt(), agentUnavailablePrompt().length - 1000))).to.equal(true, 'all of it');
    const wav = await readPcmWav(summary.recording!.path);
    expect(wav.samples.length / 2 / 8000).to.be.greaterThan(1, 'the recording kept');
  });

  it('no LLM left after the caller speaks: the apology at once (no retry rounds), then a clean end with the transcript kept', async () => {
    const { caller: c, t, grok, openai, deepgram } = await setUp();
    deepgram.transcribeWith('I would like to book a flight');
    grok.faults.fail('chat', { kind: 'status', status: 500 });
    openai.faults.fail('chat', { kind: 'status', status: 500 });
    await c.connect();
    await say(c, caller1);
    await c.waitFor((e) => e.kind === 'media', 20_000); // no greeting: the first audio is the apology
    const apologyAt = performance.now();
    await c.waitFor(() => c.marksEchoed.length >= 1, 20_000);
    const summary = await t.nextEnded(20_000);

    // Each LLM asked once for the reply, plus the FallbackAdapter's one recovery check of it. The
    // framework's default retried the whole adapter 3 times, 2 s apart: 6 s of silence.
    expect(grok.requestsTo('chat').length).to.be.within(1, 2);
    expect(openai.requestsTo('chat').length).to.be.within(1, 2);
    const silenceMs = apologyAt - grok.requestsTo('chat')[0]!.atMs;
    expect(silenceMs).to.be.lessThan(3000, 'ms from the first failed request to the apology');
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

  it('end_call, the caller sending nothing after its last words and the VAD hearing them late: the whole goodbye is heard and written, then the call is hung up', async () => {
    const twilio = { account: 'AC' + 'b'.repeat(32), token: 'twilio-token' };
    // What the caller had heard when the gateway asked Twilio to hang up.
    const hangUps: { status: string | null; marksSent: number; marksEchoed: number; heardMs: number }[] = [];
    // The VAD runs 2 s behind, as on a busy CPU: the STT ends the turn, and the caller's words then
    // reach the VAD while the goodbye plays, as if the caller spoke over it.
    const env = { TWILIO_ACCOUNT_SID: twilio.account, TWILIO_AUTH_TOKEN: twilio.token, PUBLIC_URL: 'https://gw.example.com' };
    const call = await startLivekitCall({ where: 'in-process', env, vadLagMs: 2000 });
    calls.push(call);
    const { caller: c, t, deepgram, grok } = call;
    nock('https://api.twilio.com')
      .post(`/2010-04-01/Accounts/${twilio.account}/Calls/${c.callSid}.json`)
      .reply(async (req: Request) => {
        hangUps.push({
          status: new URLSearchParams(await req.text()).get('Status'),
          marksSent: c.events.filter((e) => e.kind === 'mark-sent').length,
          marksEchoed: c.marksEchoed.length,
          heardMs: c.heardAudio().length / 8,
        });
        return [200, { sid: c.callSid, status: 'completed' }];
      });
    const goodbye = 'Goodbye, and have a nice trip!';
    deepgram.transcribeWith('that is all, thank you');
    grok.replyWith({ text: goodbye, toolCalls: [{ name: 'end_call', arguments: { reason: 'the caller is done' } }] });
    await c.connect();
    await say(c, caller1); // and then not one frame more
    const summary = await t.nextEnded(20_000);

    expect(summary.reason).to.equal('agent_hangup');
    expect(summary.detail).to.equal('the caller is done');
    expect(hangUps).to.have.length(1);
    expect(hangUps[0]!.status).to.equal('completed');
    // The goodbye had started playing, and Twilio had echoed the mark of its last audio: all of it was heard first.
    expect(hangUps[0]!.heardMs).to.be.greaterThan(4000, 'ms of the goodbye heard before the hang-up');
    expect(hangUps[0]!.marksSent).to.be.greaterThanOrEqual(1);
    expect(hangUps[0]!.marksEchoed).to.equal(hangUps[0]!.marksSent, 'every mark echoed before the hang-up');
    expect(c.clears).to.equal(0, 'nothing cut the goodbye');
    expect(summary.transcript.map((l) => [l.role, l.text, l.interrupted])).to.deep.equal([
      ['user', 'that is all, thank you', undefined],
      ['assistant', goodbye, undefined],
    ]);
    expect(grok.requestsTo('chat')).to.have.length(1, 'no reply asked for after the tool');
  });

  for (const where of ['in-process', 'worker'] as const) {
    it(`DTMF (${where}): the LLM hears the key as a user message; the digit reaches no log line, telemetry or transcript`, async () => {
      // Debug: no log line at any level may carry the digit.
      const { caller: c, t, grok, log } = await setUp({ LOG_LEVEL: 'debug' }, {}, undefined, where);
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
  }
});
