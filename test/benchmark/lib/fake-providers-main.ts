// The LiveKit pipeline's provider stand-ins (tools/fake-providers: Grok and OpenAI as two
// OpenAI-compatible servers, Deepgram streaming STT, Cartesia TTS) in a process of their own, so
// their work never runs on the gateway's threads or the load generator's event loop. They answer
// at once (no delay of their own), so a turn's latency is the gateway's and the pipeline's.
// Prints one line, {"grok": URL, "openai": URL, "deepgram": URL, "cartesia": URL}, once they listen.
// Exits on SIGTERM, when its stdin closes (the benchmark is gone, however it died), and after
// BENCH_FAKE_MAX_S seconds at the latest.
import { FakeCartesiaTts } from '../../../tools/fake-providers/cartesia-tts.js';
import { FakeDeepgramStt } from '../../../tools/fake-providers/deepgram-stt.js';
import { FakeOpenAi } from '../../../tools/fake-providers/openai.js';
import { replySpeechPcm24k, TTS_SAMPLE_RATE } from '../../../tools/fake-providers/speech.js';

const DEFAULT_MAX_S = 900;
/**
 * Each reply's speech. The call scripts leave 1.2 s of silence after each utterance: a reply this
 * short has played before the caller speaks again, so each turn gets its own reply instead of a
 * barge-in cutting a long one, and the latency of every turn is measured.
 */
const REPLY_S = 0.4;
const CLOSE_TIMEOUT_MS = 2000;

const maxS = Number(process.env.BENCH_FAKE_MAX_S ?? DEFAULT_MAX_S);
const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`fake providers: ${name} is not set`);
  return value;
};

const speechPcm = (await replySpeechPcm24k()).subarray(0, Math.round(REPLY_S * TTS_SAMPLE_RATE) * 2);
const [grok, openai, deepgram, cartesia] = await Promise.all([
  FakeOpenAi.start({ apiKey: env('GROK_API_KEY'), defaultReply: { text: 'Grok here.' }, speechPcm }),
  FakeOpenAi.start({ apiKey: env('OPENAI_API_KEY'), defaultReply: { text: 'OpenAI here.' }, speechPcm }),
  // Tens of calls for a minute: the audio is not kept for inspection.
  FakeDeepgramStt.start({ apiKey: env('DEEPGRAM_API_KEY'), keepAudio: false }),
  FakeCartesiaTts.start({ apiKey: env('CARTESIA_API_KEY'), speechPcm }),
]);
let closing = false;

async function shutDown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  // Closing drops every session; a socket that will not close must not keep the process alive.
  setTimeout(() => process.exit(code), CLOSE_TIMEOUT_MS).unref();
  await Promise.all([grok.close(), openai.close(), deepgram.close(), cartesia.close()]).catch(() => undefined);
  process.exit(code);
}

process.on('SIGTERM', () => void shutDown(0));
process.on('SIGINT', () => void shutDown(0));
process.stdin.on('close', () => void shutDown(0));
process.stdin.resume();
const lifetime = Number.isFinite(maxS) && maxS > 0 ? maxS : DEFAULT_MAX_S;
setTimeout(() => {
  process.stderr.write(`fake providers: still running after ${lifetime} s; exiting\n`);
  void shutDown(1);
}, lifetime * 1000).unref();
process.stdout.write(`${JSON.stringify({ grok: grok.baseUrl, openai: openai.baseUrl, deepgram: deepgram.baseUrl, cartesia: cartesia.baseUrl })}\n`);
