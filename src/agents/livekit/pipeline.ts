// Turns the configuration into the LiveKit voice pipeline of one call: fresh STT, LLM and TTS
// instances per call, each a FallbackAdapter over the configured providers when more than one has
// a key, and the AgentSession options that suit a phone line. Never share the instances between
// calls: past 10 sessions the plugins warn of listener leaks, and one session's provider error
// would count against every session. Only the VAD is shared: it is loaded once per process.
// Instructions and the greeting are the bridge's: they depend on the call.
import { inference, llm, stt, tokenize, tts, type VAD, type voice } from '@livekit/agents';
import * as cartesia from '@livekit/agents-plugin-cartesia';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as openai from '@livekit/agents-plugin-openai';
import OpenAI from 'openai';
import { ConfigError, pipelineProblems, providerOrder, type PipelineConfig, type VadConfig } from '../../config.js';
import { idleTimeoutFetch } from './idle-timeout-fetch.js';
import { SilenceGatedVad } from './silence-gated-vad.js';
import { CallerSpeech, SttWatchdog, WholeRequestStt } from './stt-guards.js';
import { cartesiaSocketCheck, openAiModelsCheck, RecoveryCheckedTts, type RecoveryCheck } from './tts-recovery.js';

/** The three models of one call's pipeline, to hand to its AgentSession. */
export interface Pipeline {
  stt: stt.STT;
  llm: llm.LLM;
  tts: tts.TTS;
  /** The bridge tells it when the caller speaks: the streaming STT's watchdog arms on it. */
  callerSpeech: CallerSpeech;
  /**
   * The STTs behind the STT FallbackAdapter, in order (none for a lone STT). The adapter moves on
   * from a failed one without telling the session: the bridge listens to them for the log.
   */
  fallbackStts: stt.STT[];
}

export interface PipelineOverrides {
  /** Instead of the process's VAD (which cuts the caller's audio into utterances for OpenAI's STT). */
  vad?: VAD;
  /** Instead of STREAM_IDLE_TIMEOUT_MS (tests make stalls short). */
  streamIdleTimeoutMs?: number;
  /** Instead of STT_STALL_MS. */
  sttStallMs?: number;
  /** Instead of TTS_RECOVERY_DELAY_MS. */
  ttsRecoveryDelayMs?: number;
  /** The rate the streaming STT is fed at, instead of the phone's 8 kHz (a room's audio is wideband). */
  sttSampleRate?: number;
}

/** What building one provider needs. */
interface BuildContext {
  cfg: PipelineConfig;
  vad: VAD;
  streamIdleTimeoutMs: number;
  callerSpeech: CallerSpeech;
  sttStallMs: number;
  sttSampleRate: number;
}

/** Phone audio: the STT gets the call's 8 kHz as it is, no resampling. */
const PHONE_SAMPLE_RATE = 8000;
/** The HTTP requests of OpenAI's STT and TTS: the plugins set no timeout of their own, and a hung one would stall the turn. */
const OPENAI_REQUEST_TIMEOUT_MS = 10_000;
/** A response of an OpenAI-compatible provider (Grok included) that stops mid-body fails after this long. */
const STREAM_IDLE_TIMEOUT_MS = 5_000;
/** OpenAI's transcription endpoint over HTTP; the plugin's default is the realtime socket. */
const OPENAI_STT_MODEL = 'whisper-1';
/**
 * A streaming STT (Deepgram) that has said nothing for this long since the caller started speaking
 * (or since its last word while they speak) has lost its socket, or never had one: the next STT
 * takes over. Deepgram sends interim results about every second of speech.
 */
const STT_STALL_MS = 5_000;
/** Seconds an LLM may take to start answering before the next one is tried (a hung Grok costs this much of a turn). */
const LLM_ATTEMPT_TIMEOUT_S = 4;
/**
 * While a TTS is down, its FallbackAdapter checks every this many ms whether it is back (until the
 * call ends). A check costs a handshake, not a synthesis (tts-recovery.ts).
 */
const TTS_RECOVERY_DELAY_MS = 10_000;
/**
 * The Cartesia API version: the plugin's own default, named here so that the recovery check's
 * handshake is the one replies make.
 */
const CARTESIA_API_VERSION = '2025-04-16';
/**
 * LLM and TTS errors a session takes before it closes itself. High, so the bridge (which sees each
 * error) decides when a call is beyond saving.
 */
const MAX_UNRECOVERABLE_ERRORS = 20;

/**
 * A fresh pipeline for one call, with the providers the configuration chose, in their order.
 * Throws a ConfigError naming the missing keys when a chosen provider has none (start-up reports
 * the same problems for AGENT_PROVIDER=livekit, so a call never meets it).
 */
export function createPipeline(config: { pipeline: PipelineConfig; vad: VadConfig }, overrides: PipelineOverrides = {}): Pipeline {
  const [problem, ...more] = pipelineProblems(config.pipeline);
  if (problem) throw new ConfigError(problem.variable, problem.problem, more);
  const order = providerOrder(config.pipeline);
  const ctx: BuildContext = {
    cfg: config.pipeline,
    vad: overrides.vad ?? processVad(config.vad),
    streamIdleTimeoutMs: overrides.streamIdleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
    callerSpeech: new CallerSpeech(),
    sttStallMs: overrides.sttStallMs ?? STT_STALL_MS,
    sttSampleRate: overrides.sttSampleRate ?? PHONE_SAMPLE_RATE,
  };
  const stts = order.stt.map((p) => newStt(ctx, p));
  return {
    callerSpeech: ctx.callerSpeech,
    fallbackStts: stts.length > 1 ? stts : [],
    // No retry of a failed STT: the caller's next words go to the next one at once.
    stt: oneOrFallback(stts, (sttInstances) => new stt.FallbackAdapter({ sttInstances, maxRetryPerSTT: 0 })),
    llm: oneOrFallback(
      order.llm.map((p) => newLlm(ctx, p)),
      (llms) => new llm.FallbackAdapter({ llms, attemptTimeout: LLM_ATTEMPT_TIMEOUT_S, maxRetryPerLLM: 0 }),
    ),
    tts: ttsOf(order.tts.map((p) => newTts(ctx, p)), overrides.ttsRecoveryDelayMs ?? TTS_RECOVERY_DELAY_MS),
  };
}

/**
 * A lone TTS as it is; several behind a FallbackAdapter, each checked for recovery without a
 * synthesis (tts-recovery.ts). No retry of a failed TTS: the next one speaks at once rather than
 * the caller waiting on retries.
 */
function ttsOf(providers: NewTts[], recoveryDelayMs: number): tts.TTS {
  const [only, ...more] = providers;
  if (only === undefined) throw new Error('no provider with a key'); // unreachable once pipelineProblems is empty
  if (more.length === 0) return only.speaker;
  const ttsInstances = providers.map(({ speaker, recovered }) => new RecoveryCheckedTts(speaker, recovered));
  return new tts.FallbackAdapter({ ttsInstances, maxRetryPerTTS: 0, recoveryDelayMs });
}

/**
 * Closes what a pipeline holds open (sockets, the TTS recovery timers) once its call has ended.
 * The AgentSession does not: without this a down TTS would go on being probed after the call.
 */
export async function closePipeline(pipeline: Pipeline): Promise<void> {
  await Promise.allSettled([pipeline.stt.close(), pipeline.llm.aclose(), pipeline.tts.close()]);
}

function oneOrFallback<T>(instances: T[], fallback: (instances: T[]) => T): T {
  const [only, ...more] = instances;
  if (only === undefined) throw new Error('no provider with a key'); // unreachable once pipelineProblems is empty
  return more.length === 0 ? only : fallback(instances);
}

/**
 * A provider that only answers whole requests (OpenAI's STT and TTS) is wrapped once here, so that
 * it streams like the others. Left bare, the session (or a FallbackAdapter) wraps it anew for every
 * turn, each wrapper adding a listener to the provider and re-emitting its errors where nothing
 * listens: one failed request then throws out of the session as an unhandled error. The STT is
 * wrapped in our own WholeRequestStt, not the framework's StreamAdapter, which only logs a failed
 * request (stt-guards.ts); Deepgram's socket is watched for the failures its plugin never reports.
 */
function newStt({ cfg, vad, streamIdleTimeoutMs, callerSpeech, sttStallMs, sttSampleRate }: BuildContext, provider: PipelineConfig['stt']): stt.STT {
  switch (provider) {
    case 'deepgram': {
      const streaming = new deepgram.STT({
        apiKey: cfg.deepgram.apiKey,
        baseUrl: cfg.deepgram.sttUrl,
        model: cfg.deepgram.sttModel,
        sampleRate: sttSampleRate,
      });
      return new SttWatchdog(streaming, callerSpeech, sttStallMs);
    }
    case 'openai': {
      const whole = new openai.STT({
        apiKey: cfg.openai.apiKey,
        client: openAiClient(cfg.openai.apiKey, cfg.openai.baseUrl, streamIdleTimeoutMs, OPENAI_REQUEST_TIMEOUT_MS),
        useRealtime: false,
        model: OPENAI_STT_MODEL,
        language: 'en',
      });
      return new WholeRequestStt(whole, vad);
    }
  }
}

function newLlm({ cfg, streamIdleTimeoutMs }: BuildContext, provider: PipelineConfig['llm']): llm.LLM {
  switch (provider) {
    case 'grok':
      return openai.LLM.withXAI({
        apiKey: cfg.grok.apiKey,
        baseURL: cfg.grok.baseUrl,
        model: cfg.grok.model,
        client: openAiClient(cfg.grok.apiKey, cfg.grok.baseUrl, streamIdleTimeoutMs),
      });
    case 'openai':
      return new openai.LLM({
        apiKey: cfg.openai.apiKey,
        baseURL: cfg.openai.baseUrl,
        model: cfg.openai.llmModel,
        client: openAiClient(cfg.openai.apiKey, cfg.openai.baseUrl, streamIdleTimeoutMs),
      });
  }
}

/** A TTS provider, and how its FallbackAdapter learns that it is back after a failure. */
interface NewTts {
  speaker: tts.TTS;
  recovered: RecoveryCheck;
}

function newTts({ cfg, streamIdleTimeoutMs }: BuildContext, provider: PipelineConfig['tts']): NewTts {
  switch (provider) {
    case 'cartesia': {
      const { apiKey, baseUrl, model, voice } = cfg.cartesia;
      const speaker = new cartesia.TTS({ apiKey, baseUrl, model, apiVersion: CARTESIA_API_VERSION, ...(voice === undefined ? {} : { voice }) });
      return { speaker, recovered: cartesiaSocketCheck(baseUrl, apiKey!, CARTESIA_API_VERSION) };
    }
    case 'openai': {
      const client = openAiClient(cfg.openai.apiKey, cfg.openai.baseUrl, streamIdleTimeoutMs, OPENAI_REQUEST_TIMEOUT_MS);
      const whole = new openai.TTS({ client, model: cfg.openai.ttsModel, voice: cfg.openai.ttsVoice });
      return { speaker: new tts.StreamAdapter(whole, new tokenize.basic.SentenceTokenizer()), recovered: openAiModelsCheck(client) };
    }
  }
}

/**
 * An OpenAI-compatible client of our own: no retries (the FallbackAdapter moves on instead), a
 * body that stalls fails (the SDK's timeout ends at the headers), and every option explicit so
 * the SDK reads nothing from the environment (OPENAI_LOG=debug would print what callers said).
 * `timeoutMs` unset: the plugin's per-request timeout applies.
 */
function openAiClient(apiKey: string | undefined, baseURL: string, idleMs: number, timeoutMs?: number): OpenAI {
  return new OpenAI({
    apiKey: apiKey ?? null,
    baseURL,
    fetch: idleTimeoutFetch(idleMs),
    organization: null,
    project: null,
    adminAPIKey: null,
    webhookSecret: null,
    maxRetries: 0,
    ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
    logLevel: 'warn',
  });
}

/** The VADs loaded in this process, by their settings (one, with one configuration per process). */
const loadedVads = new Map<string, VAD>();

/**
 * The process's VAD: the core package's Silero (`inference.VAD`), which measured half the CPU of
 * the silero plugin and needs no onnxruntime, run only on audio that may be speech
 * (silence-gated-vad.ts). It is created once and shared by every call.
 */
export function processVad(cfg: VadConfig): VAD {
  const key = `${cfg.minSpeechS}/${cfg.minSilenceS}/${cfg.paddingS}`;
  let vad = loadedVads.get(key);
  if (vad === undefined) {
    const silero = new inference.VAD({
      minSpeechDuration: cfg.minSpeechS * 1000,
      minSilenceDuration: cfg.minSilenceS * 1000,
      prefixPaddingDuration: cfg.paddingS * 1000,
    });
    vad = new SilenceGatedVad(silero, { minSilenceMs: cfg.minSilenceS * 1000, prefixPaddingMs: cfg.paddingS * 1000 });
    loadedVads.set(key, vad);
  }
  return vad;
}

/** AgentSession options for a phone call, the pipeline's models aside. */
export type TelephonySessionOptions = Pick<
  voice.AgentSessionOptions,
  'vad' | 'turnHandling' | 'aecWarmupDuration' | 'userAwayTimeout' | 'connOptions'
>;

/**
 * How a pipeline session behaves on a phone line:
 * - turns end by the VAD: the default turn detector needs a job context and otherwise always says
 *   "the turn is over"; 300 ms after the end of speech for the final transcript;
 * - barge-in by the VAD after 300 ms of speech, and never "resumed": Twilio cannot pause playback,
 *   only clear it;
 * - no 3 s of echo-cancellation warm-up suppressing barge-in at the start of the call, and no
 *   "user away" state (a phone caller who is silent is still there).
 */
export function telephonySessionOptions(cfg: VadConfig, overrides: PipelineOverrides = {}): TelephonySessionOptions {
  return {
    vad: overrides.vad ?? processVad(cfg),
    turnHandling: {
      turnDetection: 'vad',
      endpointing: { minDelay: 300 },
      interruption: { mode: 'vad', resumeFalseInterruption: false, minDuration: 300 },
    },
    aecWarmupDuration: null,
    userAwayTimeout: null,
    connOptions: {
      maxUnrecoverableErrors: MAX_UNRECOVERABLE_ERRORS,
      // No retry of a whole kind: its FallbackAdapter has tried every provider by then, and the
      // framework's default (3 retries, 2 s apart) kept a caller in silence for 6 s before the
      // apology when every LLM was down. A whole-request STT fails only after the caller has
      // spoken, so each retry would cost a turn. A lone provider fails at its first error too,
      // as the Deepgram agent does.
      sttConnOptions: { maxRetry: 0 },
      llmConnOptions: { maxRetry: 0, timeoutMs: LLM_ATTEMPT_TIMEOUT_S * 1000 },
      ttsConnOptions: { maxRetry: 0 },
    },
  };
}
