// The LiveKit pipeline's provider stand-ins (tools/fake-providers: Grok and OpenAI as two
// OpenAI-compatible servers, Deepgram streaming STT, Cartesia TTS) in a process of their own, so
// their work never runs on the gateway's threads or the load generator's event loop. The LLMs and
// the TTS wait BENCH_LLM_DELAY_MS and BENCH_TTS_DELAY_MS before answering (default 0), so the
// benchmark can take the stand-ins' own time out of a turn's latency. Prints
// {"grok": URL, "openai": URL, "deepgram": URL, "cartesia": URL} once they listen; its life and
// exit are fake-process.ts's.
import { FakeCartesiaTts } from '../../../tools/fake-providers/cartesia-tts.js';
import { FakeDeepgramStt } from '../../../tools/fake-providers/deepgram-stt.js';
import { FakeOpenAi } from '../../../tools/fake-providers/openai.js';
import { replySpeechPcm24k, TTS_SAMPLE_RATE } from '../../../tools/fake-providers/speech.js';
import { serveUntilTold } from './fake-process.js';

/**
 * Each reply's speech. The call scripts leave 1.2 s of silence after each utterance: a reply this
 * short has played before the caller speaks again, so each turn gets its own reply instead of a
 * barge-in cutting a long one, and the latency of every turn is measured.
 */
const REPLY_S = 0.4;

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`fake providers: ${name} is not set`);
  return value;
};
const delayMs = (name: string): number => Math.max(0, Number(process.env[name] ?? 0) || 0);

const llmDelayMs = delayMs('BENCH_LLM_DELAY_MS');
const speechPcm = (await replySpeechPcm24k()).subarray(0, Math.round(REPLY_S * TTS_SAMPLE_RATE) * 2);
const [grok, openai, deepgram, cartesia] = await Promise.all([
  FakeOpenAi.start({ apiKey: env('GROK_API_KEY'), defaultReply: { text: 'Grok here.' }, speechPcm, answerDelayMs: llmDelayMs }),
  FakeOpenAi.start({ apiKey: env('OPENAI_API_KEY'), defaultReply: { text: 'OpenAI here.' }, speechPcm, answerDelayMs: llmDelayMs }),
  // Tens of calls for a minute: the audio is not kept for inspection.
  FakeDeepgramStt.start({ apiKey: env('DEEPGRAM_API_KEY'), keepAudio: false }),
  FakeCartesiaTts.start({ apiKey: env('CARTESIA_API_KEY'), speechPcm, answerDelayMs: delayMs('BENCH_TTS_DELAY_MS') }),
]);

serveUntilTold({
  what: 'fake providers',
  close: () => Promise.all([grok.close(), openai.close(), deepgram.close(), cartesia.close()]),
  ready: { grok: grok.baseUrl, openai: openai.baseUrl, deepgram: deepgram.baseUrl, cartesia: cartesia.baseUrl },
});
