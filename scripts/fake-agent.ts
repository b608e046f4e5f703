// `npm run fake-agent`: the tests' fake Deepgram Voice Agent (and a fake LLM for the post-call
// analysis) on local ports, so the whole Deepgram path (greeting, transcript, latency, analysis)
// can be tried without keys. Prints the .env lines that point a gateway at them; Ctrl-C stops.
import { FakeDeepgramAgent, CONVERSE_PATH } from '../test/fakes/fake-deepgram-agent.js';
import { FAKE_LLM_MODEL, startFakeLlm } from '../tools/fake-llm.js';

const GREETING = 'Hello! This is the fake agent. How can I help?';
const WAIT_CHUNK_MS = 60 * 60 * 1000;

async function main(): Promise<void> {
  const agent = await FakeDeepgramAgent.start();
  const llm = await startFakeLlm();
  const env = [
    'AGENT_PROVIDER=deepgram',
    'DEEPGRAM_API_KEY=any',
    `DEEPGRAM_VOICE_AGENT_WS_URL=${agent.url}${CONVERSE_PATH}`,
    `DEEPGRAM_VOICE_AGENT_GREETING="${GREETING}"`,
    'LLM_PROVIDER=local',
    `VLLM_BASE_URL=${llm.baseUrl}`,
    `VLLM_MODEL=${FAKE_LLM_MODEL}`,
  ];
  console.log(`fake Deepgram agent on ${agent.url}${CONVERSE_PATH}, fake LLM on ${llm.baseUrl}`);
  console.log('\nStart the gateway with these lines (in .env, or in front of `npm start`):\n');
  for (const line of env) console.log(line);
  console.log('\nThen place a call: npm run simulate-call -- --url ws://127.0.0.1:3001/twilio/media-stream --wav fixtures/speech/caller-1-8k-mulaw.wav');
  console.log('Ctrl-C stops the fakes.');

  void announceSessions(agent);
  const stop = async () => {
    await Promise.all([agent.close(), llm.close()]);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

/** One line per call the gateway places through the fake, until the process stops. */
async function announceSessions(agent: FakeDeepgramAgent): Promise<void> {
  for (let index = 0; ; ) {
    const session = await agent.waitForSession(index, WAIT_CHUNK_MS).catch(() => undefined);
    if (session === undefined) continue;
    index += 1;
    console.log(`session ${index} connected`);
  }
}

await main();
