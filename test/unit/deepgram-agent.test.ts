// DeepgramAgent on its own, against the fake Deepgram agent over a real socket: what the agent
// itself does, apart from what the call session around it would hide (a session ignores late
// results of an agent it has closed, so only a test at this level sees them).
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeDeepgramAgent, CONVERSE_PATH } from '../../tools/fake-deepgram-agent.js';
import { loadConfig } from '../../src/config.js';
import type { AgentSink, CallContext } from '../../src/agents/bridge.js';
import { DeepgramAgent } from '../../src/agents/deepgram/agent.js';

const KEY = 'test-key';
const CONNECT_TIMEOUT_MS = 8000;
/** Far below the connect timeout, far above any scheduling delay on a loaded machine. */
const AT_ONCE_MS = 2000;

const CALL: CallContext = { streamSid: 'MZ1', callSid: 'CA1', parameters: {}, taskId: undefined, prompt: undefined, greeting: undefined };

interface RecordingSink extends AgentSink {
  errors: { err: Error; fatal: boolean }[];
  audioBytes: number;
  /** Resolves with the next error the agent reports. */
  nextError(): Promise<Error>;
}

/** A sink that keeps what the agent reported. */
function recordingSink(): RecordingSink {
  let errorWaiter: ((err: Error) => void) | undefined;
  const sink: RecordingSink = {
    errors: [],
    audioBytes: 0,
    audio: (chunk: Buffer) => void (sink.audioBytes += chunk.length),
    turnStarted: () => undefined,
    utteranceDone: () => undefined,
    bargeIn: () => undefined,
    transcript: () => undefined,
    latency: () => undefined,
    action: () => undefined,
    error: (err: Error, fatal: boolean) => {
      sink.errors.push({ err, fatal });
      errorWaiter?.(err);
    },
    nextError: () => new Promise((resolve) => (errorWaiter = resolve)),
  };
  return sink;
}

/** 'settled' when `promise` settles (either way) within `ms`, else 'pending'. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<'settled' | 'pending'> {
  const settled = promise.then(
    () => 'settled' as const,
    () => 'settled' as const,
  );
  return Promise.race([settled, sleep(ms, 'pending' as const)]);
}

describe('DeepgramAgent', function () {
  let fake: FakeDeepgramAgent;

  beforeEach(async () => {
    // Connects, then never says Welcome: the agent waits in its connect phase.
    fake = await FakeDeepgramAgent.start({ requireAuth: `Token ${KEY}`, welcomeDelayMs: 60_000 });
  });

  afterEach(async () => {
    await fake.close();
  });

  it('close() during the connect settles start() at once, closes the socket and reports no failure', async () => {
    const config = loadConfig({ DEEPGRAM_API_KEY: KEY, DEEPGRAM_VOICE_AGENT_WS_URL: `${fake.url}${CONVERSE_PATH}` }).deepgram;
    const sink = recordingSink();
    const agent = new DeepgramAgent({ config, systemPrompt: 'p', transferNumber: undefined, connectTimeoutMs: CONNECT_TIMEOUT_MS }, CALL, sink);
    const started = agent.start();
    const session = await fake.waitForSession(0, 5000);
    // The server side is up before the client sees its socket open; a Warning the agent reports
    // proves the client is open too. The open and the Warning can arrive in one read, so the
    // agent's own continuation after the open may still be queued: a macrotask lets it run, and
    // then the agent waits for SettingsApplied (no Welcome will come).
    const warned = sink.nextError();
    session.sendJson({ type: 'Warning', code: 'TEST', description: 'the client is open' });
    expect((await warned).message).to.match(/TEST/);
    await new Promise(setImmediate);

    await agent.close();

    // Without the pending connect settled by close(), start() would wait out the 8 s timeout.
    expect(await settlesWithin(started, AT_ONCE_MS)).to.equal('settled');
    await started; // a call that ended while connecting is no failure: start() resolves
    expect(await settlesWithin(session.closed, AT_ONCE_MS)).to.equal('settled');
    expect((await session.closed).code).to.equal(1000);
    expect(sink.errors.map((e) => e.err.message)).to.deep.equal(['Deepgram warning TEST: the client is open']);
    expect(sink.audioBytes).to.equal(0); // no apology queued for a call that is gone
  });
});
