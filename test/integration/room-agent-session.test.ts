// The room agent's entry (room-agent.ts) on everything but a room: a job context without one (the
// real JobContext needs an SFU to connect), the pipeline built by the phone calls' factory and
// pointed at the provider stand-ins. It runs room-less, as a phone call's session does, so no
// audio flows: turns are driven as text. What it proves: the dispatch's prompt wins over
// SYSTEM_PROMPT, the greeting is said, transfer_call is not offered, the lines reach the sink in
// order, and end_call ends the job once the goodbye is over, with the session recorded as ended.
import { expect } from 'chai';
import type { JobContext } from '@livekit/agents';
import { loadConfig } from '../../src/config.js';
import { runRoomAgent, type RoomAgentRun } from '../../src/rooms/room-agent.js';
import { FakeOpenAi } from '../../tools/fake-providers/openai.js';
import { quietLivekitLogger, STAND_IN_KEYS, standInEnv } from './lib/livekit-plugins.js';
import { RecordingRoomSink } from '../helpers/recording-room-sink.js';

/** A job context with no room: connect() has nothing to join; shutdown runs the callbacks once. */
function roomlessJob(metadata: string) {
  const shutdowns: string[] = [];
  const callbacks: Array<() => Promise<void>> = [];
  let finished: Promise<unknown> | undefined;
  const ctx = {
    job: { id: 'AJ_roomless', metadata, room: { name: 'room-roomless' } },
    room: undefined,
    connect: async () => undefined,
    addShutdownCallback: (callback: () => Promise<void>) => callbacks.push(callback),
    shutdown: (reason: string) => {
      shutdowns.push(reason);
      finished ??= Promise.all(callbacks.map((callback) => callback()));
    },
  };
  return { ctx: ctx as unknown as JobContext, shutdowns, finished: () => finished };
}

describe('room agent entry, without a room', function () {
  this.timeout(60_000);
  let grok: FakeOpenAi;
  let openai: FakeOpenAi;
  let run: RoomAgentRun | undefined;

  before(async () => {
    quietLivekitLogger();
    grok = await FakeOpenAi.start({
      apiKey: STAND_IN_KEYS.grok,
      defaultReply: (request) => {
        const last = request.messages.at(-1);
        return String(last?.content).includes('bye') ? { text: 'Goodbye!', toolCalls: [{ name: 'end_call', arguments: { reason: 'visitor said bye' } }] } : { text: 'The paintings are in the east wing.' };
      },
    });
    openai = await FakeOpenAi.start({ apiKey: STAND_IN_KEYS.openai });
  });

  after(async () => {
    await run?.agentSession?.close();
    await Promise.all([grok?.close(), openai?.close()]);
  });

  it('serves the dispatched session with its own prompt and greeting, and ends it on end_call', async () => {
    const config = loadConfig({
      ...standInEnv({ grok, openai, deepgram: { baseUrl: 'ws://127.0.0.1:9' }, cartesia: { baseUrl: 'http://127.0.0.1:9' } }),
      SYSTEM_PROMPT: 'You are a phone assistant.',
      // Transfers would be possible on a phone line; a room has none.
      TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'token',
      PUBLIC_URL: 'https://gateway.example.com',
      TWILIO_TRANSFER_NUMBER: '+15550002222',
    });
    const job = roomlessJob(JSON.stringify({ session_id: 'sess-room', system_prompt: 'You are a museum guide.', greeting: 'Welcome to the museum!' }));
    const sink = Object.assign(new RecordingRoomSink(), { close: async () => undefined });

    run = await runRoomAgent(job.ctx, { config: () => config, sink });
    expect(run?.id).to.equal('sess-room');
    const session = run!.agentSession!;
    const greeting = await sink.next('line');
    expect(greeting.line).to.include({ role: 'assistant', text: 'Welcome to the museum!' });
    await session.generateReply({ userInput: 'Where are the paintings?' }).waitForPlayout();
    await session.generateReply({ userInput: 'Thanks, bye' }).waitForPlayout();

    const ended = await sink.next('ended', 30_000);
    expect(ended).to.deep.equal({ op: 'ended', sessionId: 'sess-room', reason: 'agent_ended: visitor said bye' });
    expect(job.shutdowns).to.deep.equal(['agent_ended: visitor said bye']);
    await job.finished();

    expect(sink.calls.map((c) => (c.op === 'line' ? `${c.line.role}: ${c.line.text}` : c.op))).to.deep.equal([
      'started',
      'assistant: Welcome to the museum!',
      'user: Where are the paintings?',
      'assistant: The paintings are in the east wing.',
      'user: Thanks, bye',
      'assistant: Goodbye!',
      'ended',
    ]);
    expect(sink.calls[0]).to.deep.equal({ op: 'started', sessionId: 'sess-room', info: { jobId: 'AJ_roomless' } });

    const [first] = grok.requestsTo('chat');
    const messages = (first!.json!['messages'] as Array<{ role: string; content: unknown }>).filter((m) => m.role === 'system');
    expect(JSON.stringify(messages)).to.include('You are a museum guide.').and.not.include('phone assistant');
    const tools = (first!.json!['tools'] as Array<{ function: { name: string } }>).map((t) => t.function.name);
    expect(tools).to.deep.equal(['end_call']);
  });

  it('serves a room its token dispatched (no metadata) without a session record, rather than refusing the job', async () => {
    const config = loadConfig({
      ...standInEnv({ grok, openai, deepgram: { baseUrl: 'ws://127.0.0.1:9' }, cartesia: { baseUrl: 'http://127.0.0.1:9' } }),
      SYSTEM_PROMPT: 'You are a museum guide.',
    });
    const job = roomlessJob('');
    const chatsBefore = grok.requestsTo('chat').length;
    const sink = Object.assign(new RecordingRoomSink(), { close: async () => undefined });

    const tokenRun = await runRoomAgent(job.ctx, { config: () => config, sink });
    try {
      expect(job.shutdowns).to.deep.equal([]);
      const session = tokenRun!.agentSession!;
      expect(session).to.not.equal(undefined);
      await session.generateReply({ userInput: 'Where are the paintings?' }).waitForPlayout();
      expect(grok.requestsTo('chat').length).to.be.greaterThan(chatsBefore);
      // No session was created for it: nothing is reported (the gateway's store has no such id).
      expect(sink.calls).to.deep.equal([]);
    } finally {
      await tokenRun?.agentSession?.close();
    }
  });
});
