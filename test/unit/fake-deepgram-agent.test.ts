// The fake Deepgram agent against the real @deepgram/sdk client, over real sockets.
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { DeepgramClient } from '@deepgram/sdk';
import type { CallContext } from '../../src/agents/bridge.js';
import { loadConfig, type Env } from '../../src/config.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { toSdkSettings, toServerMessage, type SettingsMessage } from '../../src/agents/deepgram/messages.js';
import { buildSettings } from '../../src/agents/deepgram/settings.js';
import { parseFunctionCall } from '../../src/agents/deepgram/tools.js';
import {
  ERROR_CLOSE_CODE,
  FakeDeepgramAgent,
  REPLY_TEXT,
  validateSettings,
  type FakeAgentOptions,
} from '../../tools/fake-deepgram-agent.js';

type AgentConnection = Awaited<ReturnType<DeepgramClient['agent']['v1']['connect']>>;
type Received = { type: string; [field: string]: unknown };

const FIXTURES = fileURLToPath(new URL('../../fixtures/speech/', import.meta.url));
const FRAME = 160;
const SILENCE = 0xff;

const CALL: CallContext = {
  streamSid: 'MZ1',
  callSid: 'CA1',
  parameters: {},
  taskId: undefined,
  prompt: undefined,
  greeting: undefined,
};

function settings(env: Env = {}, transferAvailable = false): SettingsMessage {
  return buildSettings(loadConfig(env).deepgram, CALL, { systemPrompt: 'Be brief.', transferAvailable });
}

/**
 * Everything the SDK delivers, in order. Audio arrives as Blobs whose bytes are read
 * asynchronously, so every message goes through one promise chain to keep the order.
 */
class Inbox {
  readonly messages: Received[] = [];
  /** Audio bytes per agent utterance (a new one starts at each AgentStartedSpeaking). */
  readonly utterances: Buffer[][] = [];
  readonly audio: Buffer[] = [];
  readonly closed: Promise<number>;
  private chain = Promise.resolve();
  private readonly listeners = new Set<() => void>();

  constructor(conn: AgentConnection) {
    conn.on('message', (m) => {
      this.chain = this.chain.then(() => this.take(m));
    });
    this.closed = new Promise((resolve) => conn.on('close', (e) => resolve(e.code)));
  }

  types(): string[] {
    return this.messages.map((m) => m.type);
  }

  audioBytes(): number {
    return this.audio.reduce((n, b) => n + b.length, 0);
  }

  /** The nth (1-based) message of this type, waiting for it. */
  waitFor(type: string, nth = 1, timeoutMs = 3000): Promise<Received> {
    return this.until(() => this.messages.filter((m) => m.type === type)[nth - 1], `${type} #${nth}`, timeoutMs);
  }

  until<T>(probe: () => T | undefined, what: string, timeoutMs = 3000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = probe();
        if (found === undefined) return;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${this.types().join(', ')}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  private async take(m: unknown): Promise<void> {
    if (m instanceof Blob) {
      const bytes = Buffer.from(await m.arrayBuffer());
      this.audio.push(bytes);
      this.utterances.at(-1)?.push(bytes);
    } else if (typeof m === 'object' && m !== null) {
      const msg = m as Received;
      this.messages.push(msg);
      if (msg.type === 'AgentStartedSpeaking') this.utterances.push([]);
    }
    for (const listener of [...this.listeners]) listener();
  }
}

const fakes: FakeDeepgramAgent[] = [];
const connections: AgentConnection[] = [];

async function startFake(opts: FakeAgentOptions = {}): Promise<FakeDeepgramAgent> {
  const fake = await FakeDeepgramAgent.start({ requireAuth: 'Token test-key', ...opts });
  fakes.push(fake);
  return fake;
}

async function connect(fake: FakeDeepgramAgent, apiKey = 'test-key'): Promise<{ conn: AgentConnection; inbox: Inbox }> {
  const client = new DeepgramClient({ apiKey, baseUrl: fake.url });
  // reconnectAttempts: 0, or the SDK silently opens a fresh session after any close but 1000.
  const conn = await client.agent.v1.connect({ reconnectAttempts: 0 });
  connections.push(conn);
  const inbox = new Inbox(conn);
  conn.connect();
  await conn.waitForOpen();
  return { conn, inbox };
}

/** Opens a session and applies Settings. */
async function converse(fake: FakeDeepgramAgent, msg: SettingsMessage = settings()) {
  const { conn, inbox } = await connect(fake);
  await inbox.waitFor('Welcome');
  conn.sendSettings(toSdkSettings(msg));
  await inbox.waitFor('SettingsApplied');
  return { conn, inbox };
}

/** Streams audio in 20 ms frames as fast as possible, then `silenceMs` of mu-law silence. */
function stream(conn: AgentConnection, audio: Buffer, silenceMs: number): number {
  for (let i = 0; i < audio.length; i += FRAME) conn.sendMedia(audio.subarray(i, i + FRAME));
  const silence = Buffer.alloc(FRAME, SILENCE);
  for (let ms = 0; ms < silenceMs; ms += 20) conn.sendMedia(silence);
  return audio.length + Math.ceil(silenceMs / 20) * FRAME;
}

/** Polls until `probe` holds (for state the fake updates without sending anything). */
async function eventually(probe: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('FakeDeepgramAgent with the real SDK', () => {
  let caller1: Buffer;
  let caller2: Buffer;
  let reply: Buffer;
  let greeting: Buffer;

  before(async () => {
    [caller1, caller2, reply, greeting] = await Promise.all([
      readMulawWav(`${FIXTURES}caller-1-8k-mulaw.wav`),
      readMulawWav(`${FIXTURES}caller-2-8k-mulaw.wav`),
      readMulawWav(`${FIXTURES}agent-reply-8k-mulaw.wav`),
      readMulawWav(`${FIXTURES}agent-greeting-8k-mulaw.wav`),
    ]);
  });

  afterEach(async () => {
    for (const conn of connections.splice(0)) conn.close();
    await Promise.all(fakes.splice(0).map((f) => f.close()));
  });

  it('welcomes, applies Settings exactly as sent, and sees the SDK auth header', async () => {
    const fake = await startFake();
    const { conn, inbox } = await connect(fake);
    const welcome = await inbox.waitFor('Welcome');
    expect(welcome.request_id).to.be.a('string').and.not.equal('');

    const msg = settings();
    conn.sendSettings(toSdkSettings(msg));
    await inbox.waitFor('SettingsApplied');

    const session = await fake.waitForSession();
    expect(session.headers.authorization).to.equal('Token test-key');
    expect(session.settings).to.deep.equal(msg);
    expect(inbox.types()).to.deep.equal(['Welcome', 'SettingsApplied']);
  });

  it('refuses the upgrade with 401 when the key is wrong', async () => {
    const fake = await startFake();
    const client = new DeepgramClient({ apiKey: 'wrong-key', baseUrl: fake.url });
    const conn = await client.agent.v1.connect({ reconnectAttempts: 0 });
    connections.push(conn);
    conn.connect();
    // The SDK rejects with an ErrorEvent (not an Error), after a synthetic close with code 1000.
    const failure = await conn.waitForOpen().then(
      () => undefined,
      (e: { message?: string }) => e,
    );
    expect(failure?.message).to.contain('401');
    expect(fake.sessions).to.have.length(0);
  });

  it('plays the greeting after SettingsApplied', async () => {
    const fake = await startFake();
    const { inbox } = await converse(fake, settings({ DEEPGRAM_VOICE_AGENT_GREETING: 'Hi! Thanks for calling.' }));
    await inbox.waitFor('AgentAudioDone');
    expect(inbox.types()).to.deep.equal([
      'Welcome',
      'SettingsApplied',
      'ConversationText',
      'History',
      'AgentStartedSpeaking',
      'AgentAudioDone',
    ]);
    expect(inbox.messages[2]).to.deep.equal({ type: 'ConversationText', role: 'assistant', content: 'Hi! Thanks for calling.' });
    expect(Buffer.concat(inbox.utterances[0]!).equals(greeting)).to.equal(true);
  });

  it('hears a caller turn and answers with the whole reply in random chunks', async () => {
    const fake = await startFake();
    const { conn, inbox } = await converse(fake);
    const sent = stream(conn, caller1, 1200);

    await inbox.waitFor('UserStartedSpeaking');
    const userText = await inbox.waitFor('ConversationText');
    expect(userText).to.deep.equal({ type: 'ConversationText', role: 'user', content: '<turn 1>' });
    await inbox.waitFor('AgentAudioDone');
    await inbox.waitFor('LatencyReport');

    expect(inbox.types().filter((t) => t !== 'History')).to.deep.equal([
      'Welcome',
      'SettingsApplied',
      'UserStartedSpeaking',
      'ConversationText',
      'ConversationText',
      'AgentStartedSpeaking',
      'AgentAudioDone',
      'LatencyReport',
    ]);
    expect(inbox.messages.find((m) => m.role === 'assistant')?.content).to.equal(REPLY_TEXT);
    expect(Buffer.concat(inbox.audio).equals(reply)).to.equal(true);
    const sizes = inbox.audio.map((b) => b.length);
    expect(new Set(sizes).size, 'chunk sizes vary').to.be.greaterThan(3);
    expect(Math.max(...sizes)).to.be.at.most(1500);

    const session = await fake.waitForSession();
    expect(session.userTurns).to.equal(1);
    await eventually(() => session.received.audioBytes === sent, 'all caller audio counted');
    // Every message the fake sends parses as a known server message.
    for (const m of inbox.messages) expect(toServerMessage(m)?.type, m.type).to.equal(m.type);
  });

  it('stops the reply when the caller barges in, then answers the new turn', async () => {
    const fake = await startFake({ replyPaceMs: 15 });
    const { conn, inbox } = await converse(fake);
    stream(conn, caller1, 1000);
    await inbox.waitFor('AgentStartedSpeaking');
    stream(conn, caller2, 1000);

    await inbox.waitFor('UserStartedSpeaking', 2);
    await inbox.waitFor('AgentAudioDone', 1, 5000);
    const types = inbox.types().filter((t) => t !== 'History');
    const bargeIn = types.lastIndexOf('UserStartedSpeaking');
    expect(types.slice(0, bargeIn), 'no AgentAudioDone for the cut reply').not.to.include('AgentAudioDone');
    expect(inbox.utterances).to.have.length(2);
    const cut = Buffer.concat(inbox.utterances[0]!);
    expect(cut.length).to.be.greaterThan(0).and.lessThan(reply.length);
    expect(cut.equals(reply.subarray(0, cut.length))).to.equal(true);
    expect(Buffer.concat(inbox.utterances[1]!).equals(reply)).to.equal(true);
    expect((await fake.waitForSession()).userTurns).to.equal(2);
  });

  it('asks for a client-side function call on the configured turn and goes quiet after end_call', async () => {
    const fake = await startFake({ functionCallOnTurn: [{ turn: 1, name: 'end_call', arguments: { reason: 'done' } }] });
    const { conn, inbox } = await converse(fake);
    stream(conn, caller1, 1000);

    const request = toServerMessage(await inbox.waitFor('FunctionCallRequest'));
    if (request?.type !== 'FunctionCallRequest') throw new Error('expected a FunctionCallRequest');
    const [fn] = request.functions;
    expect(fn?.client_side).to.equal(true);
    expect(parseFunctionCall(fn!.name, fn!.arguments)).to.deep.equal({ tool: 'end_call', reason: 'done' });

    conn.sendFunctionCallResponse({ type: 'FunctionCallResponse', id: fn!.id, name: fn!.name, content: '{"ok":true}' });
    const session = await fake.waitForSession();
    await session.waitFor((m) => m.type === 'FunctionCallResponse');
    await inbox.until(() => inbox.messages.find((m) => Array.isArray(m.function_calls)), 'History of the call');
    await sleep(100);
    expect(session.received.functionResponses).to.deep.equal([
      { type: 'FunctionCallResponse', id: fn!.id, name: 'end_call', content: '{"ok":true}' },
    ]);
    expect(inbox.types()).not.to.include('AgentStartedSpeaking');
  });

  it('with a reply on end_call, thinks, then speaks the goodbye that long after the response', async () => {
    const fake = await startFake({
      functionCallOnTurn: [{ turn: 1, name: 'end_call', arguments: {}, reply: { afterMs: 600, thinkingAfterMs: 100 } }],
    });
    const { conn, inbox } = await converse(fake);
    stream(conn, caller1, 1000);
    const request = toServerMessage(await inbox.waitFor('FunctionCallRequest'));
    if (request?.type !== 'FunctionCallRequest') throw new Error('expected a FunctionCallRequest');
    const [fn] = request.functions;
    conn.sendFunctionCallResponse({ type: 'FunctionCallResponse', id: fn!.id, name: fn!.name, content: '{"ok":true}' });
    const session = await fake.waitForSession();
    await inbox.waitFor('AgentAudioDone');
    const sent = session.sent.map((m) => m.type);
    expect(sent.indexOf('AgentThinking')).to.be.greaterThan(sent.indexOf('FunctionCallRequest'));
    expect(sent.indexOf('AgentStartedSpeaking')).to.be.greaterThan(sent.indexOf('AgentThinking'));
    const at = (type: string) => session.sent.find((m) => m.type === type)!.at;
    expect(at('AgentStartedSpeaking') - at('FunctionCallRequest')).to.be.at.least(550);
    expect(inbox.audioBytes()).to.equal(reply.length);
  });

  it('drops a session mid-utterance, then refuses upgrades with 503 for a while', async () => {
    const fake = await startFake();
    fake.faults.dropNextSessionMidUtterance = { afterBytes: 4000, refuseForMs: 800 };
    const { conn, inbox } = await converse(fake);
    stream(conn, caller1, 1000);
    await inbox.closed;
    const session = await fake.waitForSession();
    expect(session.sentAudioBytes).to.be.within(4000, 4000 + 1500);
    const refused = await connect(fake).then(
      () => 'connected',
      (err: Error) => err.message,
    );
    expect(refused).to.match(/503/);
    expect(fake.refusedUpgrades).to.equal(1);
    await sleep(900);
    await converse(fake);
    expect(fake.sessions).to.have.length(2);
  });

  it('acknowledges a prompt update and speaks an injected agent message', async () => {
    const fake = await startFake();
    const { conn, inbox } = await converse(fake);
    conn.sendUpdatePrompt({ type: 'UpdatePrompt', prompt: 'Be briefer.' });
    await inbox.waitFor('PromptUpdated');
    conn.sendInjectAgentMessage({ type: 'InjectAgentMessage', message: 'Are you still there?' });
    await inbox.waitFor('AgentAudioDone');
    expect(inbox.messages.find((m) => m.role === 'assistant')?.content).to.equal('Are you still there?');
    expect(Buffer.concat(inbox.utterances[0]!).equals(reply)).to.equal(true);
  });

  it('closes with Error UNPARSABLE_CLIENT_MESSAGE on a Settings field the service does not know', async () => {
    const fake = await startFake();
    const { conn, inbox } = await connect(fake);
    await inbox.waitFor('Welcome');
    const msg = settings() as unknown as { agent: { think: { functions: Record<string, unknown>[] } } };
    msg.agent.think.functions[0]!.client_side = true;
    conn.sendSettings(msg as never);

    const error = await inbox.waitFor('Error');
    expect(error.code).to.equal('UNPARSABLE_CLIENT_MESSAGE');
    expect(error.description).to.equal('Settings.agent.think.functions[0].client_side: unknown field');
    expect(await inbox.closed).to.equal(ERROR_CLOSE_CODE);
    expect(inbox.types()).not.to.include('SettingsApplied');
  });

  it('closes with an Error when audio comes before SettingsApplied', async () => {
    const fake = await startFake({ settingsAppliedDelayMs: 200 });
    const { conn, inbox } = await connect(fake);
    await inbox.waitFor('Welcome');
    conn.sendSettings(toSdkSettings(settings()));
    conn.sendMedia(Buffer.alloc(FRAME, SILENCE));

    const error = await inbox.waitFor('Error');
    expect(error.code).to.equal('UNPARSABLE_CLIENT_MESSAGE');
    expect(error.description).to.contain('before SettingsApplied');
    expect(await inbox.closed).to.equal(ERROR_CLOSE_CODE);
  });

  it('holds a Settings sent before a slow Welcome and answers it after', async () => {
    const fake = await startFake({ welcomeDelayMs: 150 });
    const started = Date.now();
    const { conn, inbox } = await connect(fake);
    conn.sendSettings(toSdkSettings(settings()));
    await inbox.waitFor('SettingsApplied');
    expect(Date.now() - started).to.be.at.least(140);
    expect(inbox.types()).to.deep.equal(['Welcome', 'SettingsApplied']);
  });

  it('ends an idle session with Error CLIENT_MESSAGE_TIMEOUT', async () => {
    const fake = await startFake({ clientMessageTimeoutMs: 250 });
    const { inbox } = await converse(fake);
    const error = await inbox.waitFor('Error');
    expect(error.code).to.equal('CLIENT_MESSAGE_TIMEOUT');
    expect(await inbox.closed).to.equal(ERROR_CLOSE_CODE);
  });

  it('counts KeepAlives, which keep an idle session open', async () => {
    const fake = await startFake({ clientMessageTimeoutMs: 250 });
    const { conn, inbox } = await converse(fake);
    for (let i = 0; i < 5; i++) {
      conn.sendKeepAlive({ type: 'KeepAlive' });
      await sleep(100);
    }
    const session = await fake.waitForSession();
    expect(session.received.keepAlives).to.equal(5);
    expect(inbox.types()).not.to.include('Error');
  });

  it('echoes every audio byte back in echo mode, without greeting or turns', async () => {
    const fake = await startFake({ mode: 'echo' });
    const { conn, inbox } = await converse(fake, settings({ DEEPGRAM_VOICE_AGENT_GREETING: 'Hello' }));
    const sent = Buffer.concat([caller1.subarray(0, 8000), Buffer.alloc(1600, SILENCE)]);
    stream(conn, sent, 0);

    await inbox.until(() => (inbox.audioBytes() >= sent.length ? true : undefined), 'the echo');
    expect(Buffer.concat(inbox.audio).equals(sent)).to.equal(true);
    expect(inbox.types()).to.deep.equal(['Welcome', 'SettingsApplied']);
  });

  it('injects faults into the next session only', async () => {
    const fake = await startFake();
    fake.faults.errorNextSessionAfterMs = { ms: 50, code: 'INTERNAL_SERVER_ERROR', description: 'boom' };
    const first = await connect(fake);
    expect(await first.inbox.waitFor('Error')).to.deep.include({ code: 'INTERNAL_SERVER_ERROR', description: 'boom' });
    expect(await first.inbox.closed).to.equal(ERROR_CLOSE_CODE);

    fake.faults.dropNextSessionAfterMs = 50;
    const second = await connect(fake);
    expect(await second.inbox.closed).to.equal(1006);

    const third = await converse(fake);
    await sleep(100);
    expect(third.inbox.types()).to.deep.equal(['Welcome', 'SettingsApplied']);
    expect(fake.sessions).to.have.length(3);
  });
});

describe('fake Settings validation', () => {
  const valid = settings({ DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_URL: 'https://llm.example.com/v1' }, true);

  /** A copy of the valid Settings changed by `edit`. */
  function edited(edit: (s: Record<string, any>) => void): unknown {
    const copy = structuredClone(valid) as Record<string, any>;
    edit(copy);
    return copy;
  }

  const cases: { what: string; edit: (s: Record<string, any>) => void; problem: string }[] = [
    { what: 'an unknown top-level field', edit: (s) => (s.bogus = 1), problem: 'Settings.bogus: unknown field' },
    {
      what: 'the endpoint nested in the provider',
      edit: (s) => (s.agent.think.provider.endpoint = s.agent.think.endpoint),
      problem: 'Settings.agent.think.provider.endpoint: unknown field',
    },
    {
      what: 'a listen provider without version',
      edit: (s) => delete s.agent.listen.provider.version,
      problem: 'Settings.agent.listen.provider.version: missing required field',
    },
    {
      what: 'our provider name instead of the service one',
      edit: (s) => (s.agent.think.provider.type = 'openai'),
      problem: 'Settings.agent.think.provider.type: expected one of open_ai, anthropic, google, groq, aws_bedrock',
    },
    {
      what: 'a temperature as a string',
      edit: (s) => (s.agent.think.provider.temperature = '0.5'),
      problem: 'Settings.agent.think.provider.temperature: expected a number',
    },
    {
      what: 'an endpoint without headers',
      edit: (s) => delete s.agent.think.endpoint.headers,
      problem: 'Settings.agent.think.endpoint.headers: missing required field',
    },
    {
      what: 'a container the service does not offer',
      edit: (s) => (s.audio.output.container = 'raw'),
      problem: 'Settings.audio.output.container: expected one of none, wav, ogg',
    },
    { what: 'no speak', edit: (s) => delete s.agent.speak, problem: 'Settings.agent.speak: missing required field' },
    {
      what: 'a history line with a bad role',
      edit: (s) => (s.agent.context = { messages: [{ type: 'History', role: 'system', content: 'x' }] }),
      problem: 'Settings.agent.context.messages[0].role: expected one of user, assistant',
    },
  ];

  it('accepts what buildSettings makes, with every option on', () => {
    expect(validateSettings(valid)).to.equal(undefined);
  });

  for (const { what, edit, problem } of cases) {
    it(`rejects ${what}`, () => {
      expect(validateSettings(edited(edit))).to.equal(problem);
    });
  }
});
