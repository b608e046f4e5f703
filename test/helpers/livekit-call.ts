// One call on the LiveKit pipeline, for the ws tests: the provider stand-ins (Grok and OpenAI as
// OpenAI-compatible servers, Deepgram's streaming STT, Cartesia's TTS socket), each on its own
// real socket; a gateway configured for them through the base URLs alone; and a fake Twilio
// caller. The pipeline runs where the test says: in an agent worker, as an operator runs it
// (AGENT_PROVIDER=livekit), or in-process, where a test can shorten its timers.
import { randomSid, FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { FakeCartesiaTts } from '../../tools/fake-providers/cartesia-tts.js';
import { FakeDeepgramStt } from '../../tools/fake-providers/deepgram-stt.js';
import { FakeOpenAi } from '../../tools/fake-providers/openai.js';
import type { AgentFactory } from '../../src/agents/bridge.js';
import { LivekitAgent } from '../../src/agents/livekit/agent.js';
import { livekitAgentOptions } from '../../src/agents/livekit/hosted.js';
import { processVad, type PipelineOverrides } from '../../src/agents/livekit/pipeline.js';
import type { Env } from '../../src/config.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { STAND_IN_KEYS, standInEnv } from '../integration/lib/livekit-plugins.js';
import { capturingLogger, type CapturingLogger } from './capturing-logger.js';
import { LaggingVad } from './lagging-vad.js';
import { startTestGateway, type TestGateway } from './test-gateway.js';
import { inboundStream } from './twilio-stream.js';

/** The caller's clock runs this much faster than real time. */
const SPEED = 4;

export const caller1 = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
export const caller2 = await readMulawWav('fixtures/speech/caller-2-8k-mulaw.wav');

export interface LivekitCall {
  t: TestGateway;
  caller: FakeTwilioCaller;
  grok: FakeOpenAi;
  openai: FakeOpenAi;
  deepgram: FakeDeepgramStt;
  cartesia: FakeCartesiaTts;
  log: CapturingLogger;
  close(): Promise<void>;
}

export interface LivekitCallOptions {
  /** `worker`: AGENT_PROVIDER=livekit in one agent worker. `in-process`: a LivekitAgent built here, with `overrides`. */
  where: 'worker' | 'in-process';
  env?: Env;
  customParameters?: Record<string, string>;
  overrides?: PipelineOverrides;
  /** In-process: the call's VAD hears the caller this many ms late, as on a busy CPU (lagging-vad.ts). */
  vadLagMs?: number;
}

/**
 * The stand-ins, a gateway pointed at them, and a caller (not yet connected). With
 * TWILIO_AUTH_TOKEN in `env`, the caller's stream comes from the signed voice webhook, as Twilio's does.
 */
export async function startLivekitCall({ where, env = {}, customParameters = {}, overrides, vadLagMs }: LivekitCallOptions): Promise<LivekitCall> {
  const [grok, openai, deepgram, cartesia] = await Promise.all([
    FakeOpenAi.start({ apiKey: STAND_IN_KEYS.grok, defaultReply: { text: 'Grok here.' } }),
    FakeOpenAi.start({ apiKey: STAND_IN_KEYS.openai, defaultReply: { text: 'OpenAI here.' } }),
    FakeDeepgramStt.start({ apiKey: STAND_IN_KEYS.deepgram }),
    FakeCartesiaTts.start({ apiKey: STAND_IN_KEYS.cartesia }),
  ]);
  const log = capturingLogger('debug');
  let gateway: TestGateway | undefined;
  // Built as a worker builds it, from the gateway's configuration, plus the test's overrides.
  const inProcess: AgentFactory = (call, sink) => {
    const config = gateway!.config;
    const vad = vadLagMs === undefined ? overrides?.vad : new LaggingVad(processVad(config.vad), vadLagMs);
    return new LivekitAgent(livekitAgentOptions(config, { ...overrides, ...(vad && { vad }) }), call, sink);
  };
  const t = await startTestGateway(
    {
      // In-process, the bridge comes from the factory below and AGENT_PROVIDER is not consulted.
      AGENT_PROVIDER: where === 'worker' ? 'livekit' : 'echo',
      AGENT_WORKERS: '1',
      LOG_LEVEL: 'error',
      SYSTEM_PROMPT: 'You book flights.',
      ...standInEnv({ grok, openai, deepgram, cartesia }),
      ...env,
    },
    { logger: log.logger, ...(where === 'in-process' && { agentFactory: inProcess }) },
  );
  gateway = t;
  const callSid = randomSid('CA');
  const stream = env.TWILIO_AUTH_TOKEN ? await inboundStream(t, env.TWILIO_AUTH_TOKEN, callSid) : { url: t.wsUrl, headers: undefined };
  const caller = new FakeTwilioCaller({ url: stream.url, headers: stream.headers, callSid, speed: SPEED, customParameters });
  const close = async () => {
    caller.close();
    await t.close();
    await Promise.all([grok.close(), openai.close(), deepgram.close(), cartesia.close()]);
  };
  return { t, caller, grok, openai, deepgram, cartesia, log, close };
}

/** The caller says something, then is quiet long enough for the VAD to end the turn. */
export async function say(c: FakeTwilioCaller, speech: Buffer): Promise<void> {
  await c.streamAudio(speech);
  await c.streamSilence(1500);
}

/** Says `speech` and waits until the caller has heard `marks` agent utterances in all. */
export async function turn(c: FakeTwilioCaller, speech: Buffer, marks: number): Promise<void> {
  await say(c, speech);
  await c.waitFor(() => c.marksEchoed.length >= marks, 20_000);
}

/** Resolves once the call's agent has started (the gateway records its connect time). */
export async function agentStarted(t: TestGateway, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!t.telemetry.recent({ limit: 100 }).some((e) => e.component === 'agent' && e.action === 'connect')) {
    if (Date.now() > deadline) throw new Error('the agent did not start');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The last user message of the stand-in's `index`th chat request. */
export function lastUserMessage(fake: FakeOpenAi, index: number): string | undefined {
  const messages = (fake.requestsTo('chat')[index]?.json?.messages ?? []) as { role: string; content: unknown }[];
  const user = messages.filter((m) => m.role === 'user').at(-1);
  return typeof user?.content === 'string' ? user.content : JSON.stringify(user?.content);
}
