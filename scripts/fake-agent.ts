// `npm run fake-agent`: the tests' fake Deepgram Voice Agent (and a fake LLM for the post-call
// analysis) on local ports, so the whole Deepgram path (greeting, transcript, latency, analysis)
// can be tried without keys. Prints the .env lines that point a gateway at them; Ctrl-C stops.
import { parseArgs } from 'node:util';
import { FakeDeepgramAgent, CONVERSE_PATH } from '../tools/fake-deepgram-agent.js';
import { FAKE_LLM_MODEL, startFakeLlm } from '../tools/fake-llm.js';

const GREETING = 'Hello! This is the fake agent. How can I help?';
const WAIT_CHUNK_MS = 60 * 60 * 1000;
const USAGE = `Usage: npm run fake-agent -- [--port N] [--llm-port N]

  --port N       the fake Deepgram agent's port on 127.0.0.1 (default: any free port), so the
                 DEEPGRAM_VOICE_AGENT_WS_URL in .env stays valid from one run to the next
  --llm-port N   the fake LLM's port (default: any free port)
  -h, --help     this text`;

interface FakeAgentArgs {
  port: number;
  llmPort: number;
}

const OPTIONS = {
  port: { type: 'string' },
  'llm-port': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A TCP port, 0 (any free port) to 65535. */
function portArg(name: string, raw: string | undefined): number {
  if (raw === undefined) return 0;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new Error(`--${name} must be a port number 0-65535, got "${raw}"`);
  return Number(raw);
}

/** The options given; after --help the usage and exit 0, after a bad option the usage and exit 2. */
function readArgs(argv: string[]): FakeAgentArgs {
  try {
    // strict (the default): an unknown option or a positional argument is an error.
    const { values } = parseArgs({ args: argv, options: OPTIONS });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    return { port: portArg('port', values.port), llmPort: portArg('llm-port', values['llm-port']) };
  } catch (err) {
    console.error(`fake-agent: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const args = readArgs(process.argv.slice(2));
  const agent = await FakeDeepgramAgent.start({ port: args.port }).catch((err: unknown) => fail(err, '--port', args.port));
  const llm = await startFakeLlm(args.llmPort).catch((err: unknown) => fail(err, '--llm-port', args.llmPort));
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

/** Ends the process with one line when a port cannot be listened on (e.g. EADDRINUSE). */
function fail(err: unknown, option: string, port: number): never {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  console.error(`fake-agent: cannot listen on 127.0.0.1:${port} (${code}); choose another ${option}`);
  process.exit(1);
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
