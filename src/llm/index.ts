// Picks the LLM adapter named by LLM_PROVIDER and checks, before any request, that it can work.
import { createAnthropicClient } from './anthropic.js';
import { createGroqClient } from './groq.js';
import { createOpenAiClient } from './openai.js';
import {
  DEFAULT_BASE_URLS,
  DEFAULT_LLM_MAX_RETRIES,
  DEFAULT_LLM_TIMEOUT_MS,
  DEFAULT_MODELS,
  LlmError,
} from './types.js';
import type { LlmClient, LlmConfig, LlmProvider } from './types.js';

export * from './types.js';

/** Throws LlmError('missing_key') naming the variable to set; RangeError for a bad timeout or retry count. */
export function createLlmClient(config: LlmConfig): LlmClient {
  const limits = { timeoutMs: timeoutOf(config), maxRetries: retriesOf(config) };
  const base = config.baseUrls ?? {};
  switch (config.provider) {
    case 'openai':
      return createOpenAiClient({
        provider: 'openai',
        apiKey: required(config.openaiApiKey, 'openai', 'OPENAI_API_KEY'),
        baseURL: base.openai ?? DEFAULT_BASE_URLS.openai,
        model: config.model ?? DEFAULT_MODELS.openai,
        ...limits,
      });
    case 'local':
      return createOpenAiClient({
        provider: 'local',
        // vLLM ignores the key unless started with --api-key; the SDK insists on one.
        apiKey: config.vllmApiKey ?? 'not-needed',
        baseURL: required(config.vllmBaseUrl, 'local', 'VLLM_BASE_URL'),
        model: required(config.vllmModel ?? config.model, 'local', 'VLLM_MODEL'),
        ...limits,
      });
    case 'anthropic':
      return createAnthropicClient({
        apiKey: required(config.anthropicApiKey, 'anthropic', 'ANTHROPIC_API_KEY'),
        baseURL: base.anthropic ?? DEFAULT_BASE_URLS.anthropic,
        model: config.model ?? DEFAULT_MODELS.anthropic,
        ...limits,
      });
    case 'groq':
      return createGroqClient({
        apiKey: required(config.groqApiKey, 'groq', 'GROQ_API_KEY'),
        baseURL: base.groq ?? DEFAULT_BASE_URLS.groq,
        model: config.model ?? DEFAULT_MODELS.groq,
        ...limits,
      });
    default:
      return unknownProvider(config.provider);
  }
}

function required(value: string | undefined, provider: LlmProvider, variable: string): string {
  if (value === undefined || value.trim() === '') {
    throw new LlmError('missing_key', `LLM_PROVIDER=${provider} needs ${variable}`, { provider });
  }
  return value;
}

function timeoutOf(config: LlmConfig): number {
  const value = config.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError('LLM timeoutMs must be a positive number');
  return value;
}

function retriesOf(config: LlmConfig): number {
  const value = config.maxRetries ?? DEFAULT_LLM_MAX_RETRIES;
  if (!Number.isInteger(value) || value < 0) throw new RangeError('LLM maxRetries must be a whole number >= 0');
  return value;
}

/** Compile-time exhaustiveness; at run time, a config built without the type checker. */
function unknownProvider(provider: never): never {
  throw new LlmError('missing_key', `LLM_PROVIDER=${String(provider)} is not one of openai, anthropic, groq, local`);
}
