// Whole calls through the Deepgram bridge: a fake Twilio caller on one side, a fake Deepgram
// Voice Agent speaking the real converse protocol on the other, both over real sockets.
import { expect } from 'chai';
import nock from 'nock';
import { FakeTwilioCaller, randomSid } from '../../tools/twilio-caller.js';
import { FakeDeepgramAgent, REPLY_TEXT, type FakeAgentOptions, type FakeAgentSession } from '../../tools/fake-deepgram-agent.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { inboundStream } from '../helpers/twilio-stream.js';
import { readMulawWav, readPcmWav } from '../../src/audio/wav-io.js';
import { DeepgramAgent } from '../../src/agents/deepgram/agent.js';
import { agentUnavailablePrompt } from '../../src/agents/prompts.js';
import type { Env } from '../../src/config.js';
import type { GatewayDeps } from '../../src/gateway.js';

const SPEED = 8;
const KEY = 'test-key';
const ACCOUNT = 'AC' + 'a'.repeat(32);
const TOKEN = 'twilio-token';
const PUBLIC = 'https://gw.example.com';
const caller1 = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const caller2 = await readMulawWav('fixtures/speech/caller-2-8k-mulaw.wav');
const reply = await readMulawWav('fixtures/speech/agent-reply-8k-mulaw.wav');
const greeting = await readMulawWav('fixtures/speech/agent-greeting-8k-mulaw.wav');

const window = (audio: Buffer, at: number, bytes = 800) => audio.subarray(at, at + bytes);
const contains = (haystack: Buffer, needle: Buffer) => haystack.indexOf(needle) >= 0;
const occurrences = (haystack: Buffer, needle: Buffer) => {
  let count = 0;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) count++;
  return count;
};

interface Harness {
  fake: FakeDeepgramAgent;
  t: TestGateway;
  caller: FakeTwilioCaller;
  /** Wall time (Date.now, like the fake's own stamps) of each `clear` the caller received. */
  clearWall: number[];
  session(index?: number): Promise<FakeAgentSession>;
}

const harnesses: Harness[] = [];

async function setUp(fakeOptions: FakeAgentOptions = {}, env: Env = {}, deps: (fake: FakeDeepgramAgent) => GatewayDeps = () => ({})): Promise<Harness> {
  const fake = await FakeDeepgramAgent.start({ requireAuth: `Token ${KEY}`, replyAudio: [reply], ...fakeOptions });
  const t = await startTestGateway(
    {
      AGENT_PROVIDER: 'deepgram',
      DEEPGRAM_API_KEY: KEY,
      DEEPGRAM_VOICE_AGENT_WS_URL: `${fake.url}/v1/agent/converse`,
      SYSTEM_PROMPT: 'You book flights.',
      ...env,
    },
    deps(fake),
  );
  const clearWall: number[] = [];
  // With signature checks on, the call's stream URL comes from the voice webhook, as Twilio gets it.
  const callSid = randomSid('CA');
  const stream = env.TWILIO_AUTH_TOKEN ? await inboundStream(t, env.TWILIO_AUTH_TOKEN, callSid) : { url: t.wsUrl, headers: undefined };
  const caller = new FakeTwilioCaller({
    url: stream.url,
    speed: SPEED,
    headers: stream.headers,
    callSid,
    customParameters: { taskId: 'task_dg' },
    onEvent: (e) => e.kind === 'clear' && clearWall.push(Date.now()),
  });
  const h = { fake, t, caller, clearWall, session: (i = 0) => fake.waitForSession(i, 5000) };
  harnesses.push(h);
  return h;
}

/** How far the caller's playback was (marks sent to it, marks it echoed) when the gateway asked Twilio to update the call. */
interface MarksAtUpdate {
  /** Set once the caller exists: the mock reads its marks when the request arrives. */
  caller: FakeTwilioCaller | undefined;
  readonly seen: { marksSent: number; marksEchoed: number }[];
}

/** Mocks Twilio's call-update API (hang-up, redirect), answering with `status`, and notes the caller's marks at each request. */
function marksAtCallUpdate(status: string): MarksAtUpdate {
  const probe: MarksAtUpdate = { caller: undefined, seen: [] };
  nock('https://api.twilio.com')
    .post(/\/Calls\/CA[a-f0-9]+\.json/)
    .reply(() => {
      const c = probe.caller!;
      probe.seen.push({ marksSent: c.events.filter((e) => e.kind === 'mark-sent').length, marksEchoed: c.marksEchoed.length });
      return [200, { sid: 'CA1', status }];
    });
  return probe;
}

async function turn(c: FakeTwilioCaller, speech: Buffer, marks: number): Promise<void> {
  await c.streamAudio(speech);
  await c.streamSilence(700);
  await c.waitFor(() => c.marksEchoed.length >= marks, 10_000);
}

describe('media stream with the Deepgram agent', function () {
  this.timeout(30_000);

  afterEach(async () => {
    nock.cleanAll();
    for (const h of harnesses.splice(0)) {
      h.caller.close();
      await h.t.close();
      await h.fake.close();
    }
  });

  it('holds a two-turn conversation: caller audio passes through untouched, the agent is heard, the transcript is kept', async () => {
    const { caller: c, t, session } = await setUp();
    await c.connect();
    const s = await session();
    await turn(c, caller1, 1);
    await turn(c, caller2, 2);
    await c.streamSilence(200);
    const sent = c.framesSent;
    await c.stop();
    const summary = await t.nextEnded();

    expect(s.headers.authorization).to.equal(`Token ${KEY}`);
    expect(s.userTurns).to.equal(2);
    // Every caller frame reached the agent, plus silence where the caller's timestamps skipped.
    expect(s.received.audioBytes).to.equal((sent + summary.stats.framesPadded) * 160);
    // The agent's reply, re-chunked but byte for byte, is what the caller heard.
    expect(contains(c.heardAudio(), window(reply, 8000))).to.equal(true);
    expect(contains(c.heardAudio(), window(reply, reply.length - 2000))).to.equal(true);
    expect(c.invalidFrames).to.deep.equal([]);
    expect(summary.transcript.map((l) => [l.role, l.text])).to.deep.equal([
      ['user', '<turn 1>'],
      ['assistant', REPLY_TEXT],
      ['user', '<turn 2>'],
      ['assistant', REPLY_TEXT],
    ]);
    expect(summary.reason).to.equal('twilio_stop');
    const rows = t.telemetry.summary();
    expect(rows.find((r) => r.component === 'agent' && r.action === 'turn_latency')?.count).to.equal(2);
    expect(rows.find((r) => r.action === 'deepgram_total_latency')?.count).to.equal(2);
    expect(rows.find((r) => r.action === 'deepgram_started_total_latency')?.count).to.equal(2);
  });

  it('sends Settings built from the configuration, with the per-call greeting played first', async () => {
    const { caller: c, t, session } = await setUp(
      { greetingAudio: greeting },
      { DEEPGRAM_VOICE_AGENT_GREETING: 'Hi! Thanks for calling.', DEEPGRAM_VOICE_AGENT_THINK_PROVIDER: 'anthropic', DEEPGRAM_VOICE_AGENT_THINK_MODEL: 'claude-x' },
    );
    await c.connect();
    const s = await session();
    await c.waitFor(() => c.marksEchoed.length >= 1, 10_000);
    await c.stop();
    await t.nextEnded();
    const settings = s.settings as { audio: unknown; agent: { think: { provider: unknown; prompt: string }; greeting: string } };
    expect(settings.audio).to.deep.equal({
      input: { encoding: 'mulaw', sample_rate: 8000 },
      output: { encoding: 'mulaw', sample_rate: 8000, container: 'none' },
    });
    expect(settings.agent.think.provider).to.deep.equal({ type: 'anthropic', model: 'claude-x' });
    expect(settings.agent.think.prompt).to.equal('You book flights.');
    expect(settings.agent.greeting).to.equal('Hi! Thanks for calling.');
    expect(contains(c.heardAudio(), window(greeting, 8000))).to.equal(true);
  });

  it('holds caller audio until SettingsApplied, then sends it all in order', async () => {
    const { caller: c, t, session } = await setUp({ settingsAppliedDelayMs: 400 });
    await c.connect();
    await c.streamSilence(400);
    const s = await session();
    await turn(c, caller1, 1);
    const sent = c.framesSent;
    await c.stop();
    const summary = await t.nextEnded();
    // The fake answers audio before SettingsApplied with an Error; there was none.
    expect(s.sent.map((m) => m.type)).to.not.include('Error');
    expect(s.received.audioBytes).to.equal((sent + summary.stats.framesPadded) * 160);
  });

  it('barge-in: clear promptly after UserStartedSpeaking, no stale audio after it, the line cut to what was heard', async () => {
    const { caller: c, t, session, clearWall } = await setUp({ replyAudio: [reply, greeting], replyPaceMs: 20 });
    await c.connect();
    const s = await session();
    await c.streamAudio(caller1);
    await c.streamSilence(700);
    await c.waitFor((e) => e.kind === 'media', 10_000);
    await c.streamSilence(300);
    const beforeBargeIn = c.receivedAudio().length;
    await c.streamAudio(caller2);
    await c.waitFor((e) => e.kind === 'clear', 10_000);
    const marksAtClear = c.marksEchoed.length;
    await c.streamSilence(700);
    await c.waitFor(() => c.marksEchoed.length > marksAtClear, 10_000);
    await c.stop();
    const summary = await t.nextEnded();

    const userStarted = s.sent.filter((m) => m.type === 'UserStartedSpeaking');
    expect(userStarted).to.have.length(2);
    expect(c.clears).to.equal(1);
    // Wall-clock gap between the agent's barge-in signal and Twilio receiving `clear`: a few ms
    // when idle; the bound leaves room for a loaded CI machine yet stays well under the reply's
    // playout (about 700 ms at this speed), so a clear that waited for anything would fail.
    expect(clearWall[0]! - userStarted[1]!.at).to.be.lessThan(500);
    // After the clear, nothing more of the first reply; the second reply (the greeting fixture) arrives.
    const afterClear = c.receivedAudio().subarray(beforeBargeIn);
    for (let at = reply.length - 8000; at < reply.length - 800; at += 1600) {
      expect(contains(afterClear, window(reply, at)), `reply byte ${at} after the clear`).to.equal(false);
    }
    expect(contains(afterClear, window(greeting, 8000))).to.equal(true);
    const assistant = summary.transcript.filter((l) => l.role === 'assistant');
    expect(assistant[0]!.interrupted).to.equal(true);
    expect(assistant[0]!.text.split(' ').length).to.be.lessThan(REPLY_TEXT.split(' ').length);
    expect(REPLY_TEXT.startsWith(assistant[0]!.text)).to.equal(true);
    expect(assistant[1]!.interrupted).to.equal(undefined);
  });

  it('end_call: answers the function call, then hangs up through Twilio REST', async () => {
    const hangups: URLSearchParams[] = [];
    nock('https://api.twilio.com')
      .post(/\/2010-04-01\/Accounts\/AC[a-f0-9]+\/Calls\/CA[a-f0-9]+\.json/)
      .reply(async (req: Request) => {
        hangups.push(new URLSearchParams(await req.text()));
        return [200, { sid: 'CA1', status: 'completed' }];
      });
    const { caller: c, t, session } = await setUp(
      { functionCallOnTurn: [{ turn: 1, name: 'end_call', arguments: { reason: 'caller is done' } }] },
      { TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: PUBLIC },
    );
    await c.connect();
    const s = await session();
    await c.streamAudio(caller1);
    await c.streamSilence(700);
    const response = await s.waitFor((m) => m.type === 'FunctionCallResponse', 10_000);
    expect(JSON.parse((response as unknown as { content: string }).content)).to.have.property('ok', true);
    const summary = await t.nextEnded(10_000);
    expect(summary.reason).to.equal('agent_hangup');
    expect(summary.detail).to.equal('caller is done');
    expect(hangups.map((b) => Object.fromEntries(b))).to.deep.equal([{ Status: 'completed' }]);
  });

  for (const [when, goodbye] of [
    ['starts 2 s after the function call', { afterMs: 2000 }],
    ['starts 4.5 s after the function call, the agent thinking meanwhile', { afterMs: 4500, thinkingAfterMs: 500 }],
  ] as const) {
    it(`end_call: a goodbye that ${when} is heard in full, then the call is hung up`, async () => {
      const hangup = marksAtCallUpdate('completed');
      const { caller: c, t, session } = await setUp(
        { functionCallOnTurn: [{ turn: 1, name: 'end_call', arguments: { reason: 'caller is done' }, reply: goodbye }] },
        { TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: PUBLIC },
      );
      hangup.caller = c;
      await c.connect();
      const s = await session();
      await c.streamAudio(caller1);
      await c.streamSilence(700);
      const summary = await t.nextEnded(20_000);
      expect(summary.reason).to.equal('agent_hangup');
      expect(s.sent.filter((m) => m.type === 'AgentAudioDone')).to.have.length(1); // the goodbye was sent in full
      expect(hangup.seen).to.have.length(1);
      expect(hangup.seen[0]!.marksSent).to.equal(1);
      expect(hangup.seen[0]!.marksEchoed).to.equal(1);
      expect(contains(c.heardAudio(), window(reply, 8000))).to.equal(true);
      expect(contains(c.heardAudio(), window(reply, reply.length - 3600))).to.equal(true);
      expect(summary.transcript.map((l) => [l.role, l.text])).to.deep.equal([
        ['user', '<turn 1>'],
        ['assistant', REPLY_TEXT],
      ]);
    });
  }

  it('end_call without Twilio credentials closes the stream', async () => {
    const { caller: c, t } = await setUp({ functionCallOnTurn: [{ turn: 1, name: 'end_call', arguments: {} }] });
    await c.connect();
    await c.streamAudio(caller1);
    await c.streamSilence(700);
    const closed = await c.waitForClose(10_000);
    expect(closed.code).to.equal(1000);
    expect((await t.nextEnded()).reason).to.equal('agent_hangup');
  });

  it('transfer_call: redirects the live call to the configured number with <Dial> after the agent speaks', async () => {
    const updates: URLSearchParams[] = [];
    nock('https://api.twilio.com')
      .post(/\/Calls\/CA[a-f0-9]+\.json/)
      .reply(async (req: Request) => {
        updates.push(new URLSearchParams(await req.text()));
        return [200, { sid: 'CA1', status: 'in-progress' }];
      });
    const { caller: c, t, session } = await setUp(
      { functionCallOnTurn: [{ turn: 1, name: 'transfer_call', arguments: { reason: 'wants a human' } }] },
      { TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: PUBLIC, TWILIO_TRANSFER_NUMBER: '+15550009999' },
    );
    await c.connect();
    const s = await session();
    await s.waitFor((m) => m.type === 'Settings', 5000);
    const functions = (s.settings as { agent: { think: { functions: { name: string }[] } } }).agent.think.functions.map((f) => f.name);
    expect(functions).to.deep.equal(['end_call', 'transfer_call']);
    await c.streamAudio(caller1);
    await c.streamSilence(1000);
    const summary = await t.nextEnded(15_000);
    expect(summary.reason).to.equal('transferred');
    // The summary (logged, and a task's end reason) names the number by its last digits only.
    expect(summary.detail).to.equal('to ***9999');
    expect(updates).to.have.length(1);
    expect(updates[0]!.get('Twiml')).to.contain('<Dial>+15550009999</Dial>');
    // The agent's words after the function call were played before the transfer.
    expect(contains(c.receivedAudio(), window(reply, 8000))).to.equal(true);
  });

  it('transfer_call: the redirect goes out only once the caller heard the last line in full (mark echoed)', async () => {
    const redirect = marksAtCallUpdate('in-progress');
    const { caller: c, t } = await setUp(
      { functionCallOnTurn: [{ turn: 1, name: 'transfer_call', arguments: { reason: 'wants a human' } }] },
      { TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: PUBLIC, TWILIO_TRANSFER_NUMBER: '+15550009999' },
    );
    redirect.caller = c;
    await c.connect();
    await c.streamAudio(caller1);
    await c.streamSilence(1000);
    const summary = await t.nextEnded(15_000);
    expect(summary.reason).to.equal('transferred');
    // One redirect, sent after Twilio echoed the mark of the agent's last audio.
    expect(redirect.seen).to.have.length(1);
    expect(redirect.seen[0]!.marksSent).to.be.greaterThan(0);
    expect(redirect.seen[0]!.marksEchoed).to.equal(redirect.seen[0]!.marksSent);
    // The caller heard the line to its last words before the stream closed.
    expect(contains(c.heardAudio(), window(reply, reply.length - 3600))).to.equal(true);
  });

  it('keeps the reason we chose when Twilio\'s stop arrives before our hang-up request returns', async () => {
    let caller: FakeTwilioCaller | undefined;
    nock('https://api.twilio.com')
      .post(/\/Calls\/CA[a-f0-9]+\.json/)
      .reply(async () => {
        // Twilio hangs up at once and tells the stream before it answers our request.
        await caller!.stop();
        return [200, { sid: 'CA1', status: 'completed' }];
      });
    const { caller: c, t } = await setUp(
      { functionCallOnTurn: [{ turn: 1, name: 'end_call', arguments: { reason: 'caller is done' } }] },
      { TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: PUBLIC },
    );
    caller = c;
    await c.connect();
    await c.streamAudio(caller1);
    await c.streamSilence(700);
    const summary = await t.nextEnded(15_000);
    expect(c.events.some((e) => e.kind === 'sent-stop')).to.equal(true);
    expect(summary.reason).to.equal('agent_hangup');
    expect(summary.detail).to.equal('caller is done');
  });

  it('does not offer transfer_call when no transfer number is configured', async () => {
    const { caller: c, t, session } = await setUp({}, { TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: PUBLIC });
    await c.connect();
    const s = await session();
    await s.waitFor((m) => m.type === 'Settings', 5000);
    await c.stop();
    await t.nextEnded();
    const functions = (s.settings as { agent: { think: { functions: { name: string }[] } } }).agent.think.functions.map((f) => f.name);
    expect(functions).to.deep.equal(['end_call']);
  });

  it('reconnects when the agent socket drops between turns, with the conversation so far as context', async () => {
    const { caller: c, t, fake, session } = await setUp({ greetingAudio: greeting }, { DEEPGRAM_VOICE_AGENT_GREETING: 'Hello!' });
    await c.connect();
    const first = await session(0);
    await c.waitFor(() => c.marksEchoed.length >= 1, 10_000);
    await turn(c, caller1, 2);
    first.drop();
    const second = await session(1);
    await second.waitFor((m) => m.type === 'Settings', 5000);
    await turn(c, caller2, 3);
    await c.stop();
    const summary = await t.nextEnded();
    expect(fake.sessions).to.have.length(2);
    const agent = (second.settings as { agent: { greeting?: string; context: { messages: unknown[] } } }).agent;
    expect(agent.greeting).to.equal(undefined);
    expect(agent.context.messages).to.deep.equal([
      { type: 'History', role: 'assistant', content: 'Hello!' },
      { type: 'History', role: 'user', content: '<turn 1>' },
      { type: 'History', role: 'assistant', content: REPLY_TEXT },
    ]);
    expect(summary.reason).to.equal('twilio_stop');
    expect(summary.transcript.filter((l) => l.role === 'user').map((l) => l.text)).to.deep.equal(['<turn 1>', '<turn 1>']);
  });

  it('reconnect: the agent drops mid-reply and refuses connections for 1.5 s; the call goes on in silence, with the heard part of the reply as context', async () => {
    const { caller: c, t, fake, session } = await setUp();
    fake.faults.dropNextSessionMidUtterance = { afterBytes: reply.length / 2, refuseForMs: 1500 };
    await c.connect();
    const first = await session(0);
    await c.streamAudio(caller1);
    await c.streamSilence(700);
    await first.closed;
    const second = await fake.waitForSession(1, 12_000);
    await second.waitFor((m) => m.type === 'Settings', 5000);
    expect(fake.refusedUpgrades).to.be.greaterThan(0); // it kept trying through the outage
    await turn(c, caller2, 2);
    await c.stop();
    const summary = await t.nextEnded();

    expect(summary.reason).to.equal('twilio_stop');
    expect(contains(c.receivedAudio(), window(agentUnavailablePrompt(), 8000))).to.equal(false);
    const agent = (second.settings as { agent: { greeting?: string; context: { messages: { role: string; content: string }[] } } }).agent;
    expect(agent.greeting).to.equal(undefined);
    const [user, heard, ...rest] = agent.context.messages;
    expect(user).to.deep.include({ role: 'user', content: '<turn 1>' });
    expect(heard!.role).to.equal('assistant');
    // About half the reply was sent before the drop, and the caller heard all of that.
    const words = heard!.content.split(' ').length;
    expect(REPLY_TEXT.startsWith(heard!.content)).to.equal(true);
    expect(words).to.be.within(3, REPLY_TEXT.split(' ').length - 3);
    expect(rest).to.deep.equal([]);
    // The second session answered the caller's next turn, and the caller heard it.
    expect(second.sentAudioBytes).to.equal(reply.length);
    expect(contains(c.heardAudio(), window(reply, reply.length - 3600))).to.equal(true);
  });

  it('reconnect: a drop during the greeting does not make the caller hear the greeting twice', async () => {
    const { caller: c, t, fake, session } = await setUp({ greetingAudio: greeting }, { DEEPGRAM_VOICE_AGENT_GREETING: 'Hello! Thanks for calling Paris Air.' });
    fake.faults.dropNextSessionMidUtterance = { afterBytes: greeting.length / 2 };
    await c.connect();
    await session(0);
    const second = await session(1);
    await second.waitFor((m) => m.type === 'Settings', 5000);
    await c.streamSilence(1500);
    await c.waitFor(() => c.marksEchoed.length >= 1, 10_000);
    await c.stop();
    await t.nextEnded();

    const agent = (second.settings as { agent: { greeting?: string; context?: { messages: { content: string }[] } } }).agent;
    expect(agent.greeting).to.equal(undefined);
    expect(second.sentAudioBytes).to.equal(0);
    const heardGreeting = agent.context!.messages.map((m) => m.content);
    expect(heardGreeting).to.have.length(1);
    expect('Hello! Thanks for calling Paris Air.'.startsWith(heardGreeting[0]!)).to.equal(true);
    expect(occurrences(c.receivedAudio(), window(greeting, 800))).to.equal(1);
  });

  it('when the reconnect fails too, apologizes and ends the call, keeping the recording', async () => {
    const { caller: c, t, fake, session } = await setUp({}, {}, (fake) => ({
      agentFactory: (call, sink) =>
        new DeepgramAgent({ config: deepgramConfig(fake.url), systemPrompt: 'p', transferNumber: undefined, reconnectBudgetMs: 2000 }, call, sink),
    }));
    await c.connect();
    const first = await session(0);
    await turn(c, caller1, 1);
    await fake.close();
    first.drop();
    await c.streamSilence(1500);
    await c.waitFor(() => c.marksEchoed.length >= 2, 15_000);
    const summary = await t.nextEnded(15_000);
    expect(summary.reason).to.equal('agent_error');
    expect(contains(c.heardAudio(), window(agentUnavailablePrompt(), 16000))).to.equal(true);
    const wav = await readPcmWav(summary.recording!.path);
    expect(wav.samples.length / 2 / 8000).to.be.greaterThan(caller1.length / 8000);
  });

  it('an agent Error ends the call cleanly after an apology, with the reason on the call', async () => {
    const { caller: c, t, fake, session } = await setUp();
    fake.faults.errorNextSessionAfterMs = { ms: 300, code: 'INTERNAL_SERVER_ERROR', description: 'boom' };
    await c.connect();
    await session();
    await c.streamSilence(600);
    await c.waitFor(() => c.marksEchoed.length >= 1, 15_000);
    const summary = await t.nextEnded(15_000);
    expect(summary.reason).to.equal('agent_error');
    expect(summary.detail).to.equal('Deepgram error INTERNAL_SERVER_ERROR: boom');
    expect(contains(c.heardAudio(), window(agentUnavailablePrompt(), 8000))).to.equal(true);
    // An Error is final: no second session.
    expect(fake.sessions).to.have.length(1);
  });

  it('a wrong API key: the caller hears the apology and the call ends', async () => {
    const { caller: c, t } = await setUp({}, { DEEPGRAM_API_KEY: 'wrong-key' });
    await c.connect();
    await c.streamSilence(300);
    const summary = await t.nextEnded(15_000);
    expect(summary.reason).to.equal('agent_error');
    expect(summary.detail).to.match(/401/);
    expect(contains(c.receivedAudio(), window(agentUnavailablePrompt(), 8000))).to.equal(true);
  });

  // The session ignores an agent's late results, so this sees the call's side only; the agent's
  // own settling of its connect is pinned in test/unit/deepgram-agent.test.ts.
  it('a call that ends while the agent is still connecting leaves no connect timer behind, and no log line for it', async () => {
    const { logger, lines } = capturingLogger();
    const { caller: c, t, session } = await setUp({ welcomeDelayMs: 60_000 }, {}, (fake) => ({
      logger,
      agentFactory: (call, sink) =>
        new DeepgramAgent({ config: deepgramConfig(fake.url), systemPrompt: 'p', transferNumber: undefined, connectTimeoutMs: 300 }, call, sink),
    }));
    await c.connect();
    await session(); // connected, never welcomed
    await c.stop();
    expect((await t.nextEnded()).reason).to.equal('twilio_stop');
    await new Promise((r) => setTimeout(r, 1500)); // well past the 300 ms connect timeout
    const afterEnd = lines.slice(lines.findIndex((l) => l.message === 'call ended'));
    expect(afterEnd.map((l) => l.message)).to.deep.equal(['call ended']);
    expect(t.telemetry.summary().filter((r) => r.component === 'agent')).to.deep.equal([]);
  });

  it('sends KeepAlive while no caller audio flows, so the agent does not time out', async () => {
    const { caller: c, t, session } = await setUp({ clientMessageTimeoutMs: 1200 }, {}, (fake) => ({
      agentFactory: (call, sink) =>
        new DeepgramAgent({ config: deepgramConfig(fake.url), systemPrompt: 'p', transferNumber: undefined, keepAliveAfterMs: 300 }, call, sink),
    }));
    await c.connect();
    const s = await session();
    await s.waitFor((m) => m.type === 'Settings', 5000);
    await new Promise((r) => setTimeout(r, 2000)); // the caller sends no media at all
    expect(s.received.keepAlives).to.be.at.least(3);
    expect(s.sent.map((m) => m.type)).to.not.include('Error');
    await c.stop();
    expect((await t.nextEnded()).reason).to.equal('twilio_stop');
  });
});

function deepgramConfig(url: string) {
  return {
    apiKey: KEY,
    enabled: true,
    wsUrl: `${url}/v1/agent/converse`,
    listenModel: 'nova-3',
    speakModel: 'aura-2-thalia-en',
    thinkProvider: 'openai' as const,
    thinkModel: 'gpt-4o-mini',
    thinkTemperature: undefined,
    thinkEndpointUrl: undefined,
    thinkEndpointHeaders: undefined,
    greeting: undefined,
  };
}
