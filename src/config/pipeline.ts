// The LiveKit voice pipeline's configuration: which provider serves speech-to-text, the LLM and
// text-to-speech, in which order they are tried, and how each is reached. Read with the rest of the
// configuration (config.ts); the keys a chosen provider needs are checked by `pipelineProblems`.
import type { ConfigProblem, EnvReader } from './env-reader.js';

export const STT_PROVIDERS = ['deepgram', 'openai'] as const;
export type SttProvider = (typeof STT_PROVIDERS)[number];

export const TTS_PROVIDERS = ['cartesia', 'openai'] as const;
export type TtsProvider = (typeof TTS_PROVIDERS)[number];

/** The pipeline's LLMs: Grok (xAI, or any OpenAI-compatible gateway at GROK_BASE_URL), then OpenAI. */
export type PipelineLlmProvider = 'grok' | 'openai';

/** The voices OpenAI's speech endpoint accepts. */
export const OPENAI_TTS_VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'nova', 'onyx', 'sage', 'shimmer'] as const;
export type OpenAiTtsVoice = (typeof OPENAI_TTS_VOICES)[number];

export interface PipelineConfig {
  /** Tried first; the other one follows when its key is set. */
  stt: SttProvider;
  /** `grok` unless LLM_PROVIDER=openai; OpenAI follows Grok when its key is set. */
  llm: PipelineLlmProvider;
  /** Tried first; OpenAI follows Cartesia when its key is set. */
  tts: TtsProvider;
  openai: {
    apiKey: string | undefined;
    /** Including the version path, e.g. https://api.openai.com/v1. */
    baseUrl: string;
    llmModel: string;
    ttsModel: string;
    /** TTS_VOICE when TTS_PROVIDER=openai; the default voice when OpenAI is only the fallback. */
    ttsVoice: OpenAiTtsVoice;
  };
  grok: {
    apiKey: string | undefined;
    baseUrl: string;
    model: string;
  };
  deepgram: {
    apiKey: string | undefined;
    /** The streaming STT host, e.g. wss://api.deepgram.com (the plugin appends /v1/listen). */
    sttUrl: string;
    sttModel: string;
  };
  cartesia: {
    apiKey: string | undefined;
    baseUrl: string;
    model: string;
    /** A Cartesia voice id; undefined = the plugin's default voice. */
    voice: string | undefined;
  };
}

/** The providers of each kind in the order they are tried; only providers with a key are listed. */
export interface ProviderOrder {
  stt: SttProvider[];
  llm: PipelineLlmProvider[];
  tts: TtsProvider[];
}

const DEFAULT_OPENAI_VOICE: OpenAiTtsVoice = 'alloy';

/** Reads the pipeline's variables; a bad value is recorded in `read`. */
export function readPipeline(read: EnvReader): PipelineConfig {
  const stt = read.oneOf('STT_PROVIDER', STT_PROVIDERS, 'deepgram');
  const tts = read.oneOf('TTS_PROVIDER', TTS_PROVIDERS, 'cartesia');
  // TTS_VOICE names a voice of the chosen TTS provider: an OpenAI voice name, or a Cartesia voice id.
  const voice = read.optional('TTS_VOICE');
  return {
    stt,
    // LLM_PROVIDER also picks the post-call analysis LLM (default openai, read in config.ts); for
    // the pipeline only an explicit `openai` counts, and it leaves Grok out.
    llm: read.optional('LLM_PROVIDER')?.toLowerCase() === 'openai' ? 'openai' : 'grok',
    tts,
    openai: {
      apiKey: read.optional('OPENAI_API_KEY'),
      baseUrl: read.url('OPENAI_BASE_URL', 'https://api.openai.com/v1', ['http:', 'https:']),
      llmModel: read.string('OPENAI_MODEL', 'gpt-4.1-mini'),
      ttsModel: read.string('OPENAI_TTS_MODEL', 'tts-1'),
      ttsVoice: tts === 'openai' && voice !== undefined ? openAiVoice(read, voice) : DEFAULT_OPENAI_VOICE,
    },
    grok: {
      apiKey: read.optional('GROK_API_KEY'),
      baseUrl: read.url('GROK_BASE_URL', 'https://api.x.ai/v1', ['http:', 'https:']),
      model: read.string('GROK_MODEL', 'grok-3-fast'),
    },
    deepgram: {
      apiKey: read.optional('DEEPGRAM_API_KEY'),
      sttUrl: read.url('DEEPGRAM_STT_URL', 'wss://api.deepgram.com', ['ws:', 'wss:']),
      sttModel: read.string('DEEPGRAM_STT_MODEL', 'nova-3'),
    },
    cartesia: {
      apiKey: read.optional('CARTESIA_API_KEY'),
      baseUrl: read.url('CARTESIA_BASE_URL', 'https://api.cartesia.ai', ['http:', 'https:']),
      model: read.string('CARTESIA_MODEL', 'sonic-3'),
      voice: tts === 'cartesia' ? voice : undefined,
    },
  };
}

function openAiVoice(read: EnvReader, voice: string): OpenAiTtsVoice {
  const match = OPENAI_TTS_VOICES.find((v) => v === voice.toLowerCase());
  if (match) return match;
  read.problem('TTS_VOICE', `expected an OpenAI voice when TTS_PROVIDER=openai: ${OPENAI_TTS_VOICES.join(', ')}, got "${voice}"`);
  return DEFAULT_OPENAI_VOICE;
}

function keyOf(pipeline: PipelineConfig, provider: SttProvider | TtsProvider | PipelineLlmProvider): string | undefined {
  return pipeline[provider].apiKey;
}

/** The chosen provider of each kind first, then each fallback whose key is set. */
export function providerOrder(pipeline: PipelineConfig): ProviderOrder {
  const order = <P extends SttProvider | TtsProvider | PipelineLlmProvider>(chosen: P, fallbacks: readonly P[]): P[] =>
    [chosen, ...fallbacks.filter((p) => p !== chosen)].filter((p) => keyOf(pipeline, p) !== undefined);
  return {
    stt: order(pipeline.stt, STT_PROVIDERS),
    llm: order(pipeline.llm, pipeline.llm === 'openai' ? [] : ['openai']),
    tts: order(pipeline.tts, ['openai']),
  };
}

const KEY_VARIABLES: Readonly<Record<SttProvider | TtsProvider | PipelineLlmProvider, string>> = {
  deepgram: 'DEEPGRAM_API_KEY',
  openai: 'OPENAI_API_KEY',
  cartesia: 'CARTESIA_API_KEY',
  grok: 'GROK_API_KEY',
};

/**
 * What stops the pipeline from taking calls: a chosen provider without its key (a fallback without
 * one is simply left out). One problem per missing variable, naming every choice that needs it.
 */
export function pipelineProblems(pipeline: PipelineConfig): ConfigProblem[] {
  const needs: [SttProvider | TtsProvider | PipelineLlmProvider, string][] = [
    [pipeline.stt, `STT_PROVIDER=${pipeline.stt} (speech-to-text)`],
    [pipeline.llm, pipeline.llm === 'grok' ? 'the LLM, Grok (set LLM_PROVIDER=openai to use OpenAI alone)' : 'LLM_PROVIDER=openai (the LLM)'],
    [pipeline.tts, `TTS_PROVIDER=${pipeline.tts} (text-to-speech)`],
  ];
  const missing = new Map<string, string[]>();
  for (const [provider, why] of needs) {
    if (keyOf(pipeline, provider) !== undefined) continue;
    const variable = KEY_VARIABLES[provider];
    missing.set(variable, [...(missing.get(variable) ?? []), why]);
  }
  return [...missing].map(([variable, whys]) => ({ variable, problem: `is required when AGENT_PROVIDER=livekit, for ${whys.join(' and ')}` }));
}
