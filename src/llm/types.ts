// One chat-completion interface over every LLM provider, so callers (call analysis now, the voice
// pipeline later) never know which one serves them.

export const LLM_PROVIDERS = ['openai', 'anthropic', 'groq', 'local'] as const;
export type LlmProvider = (typeof LLM_PROVIDERS)[number];

export interface LlmMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface LlmRequest {
  system?: string;
  messages: LlmMessage[];
  /** Ask for one JSON object. The caller still parses and validates it: no provider guarantees a shape. */
  json?: boolean;
  /** Defaults to DEFAULT_MAX_TOKENS. */
  maxTokens?: number;
  temperature?: number;
}

export interface LlmResponse {
  text: string;
  /** The model that answered, as the provider reports it. */
  model: string;
}

export interface LlmClient {
  /** Rejects with an LlmError only. */
  complete(request: LlmRequest): Promise<LlmResponse>;
}

export interface LlmConfig {
  provider: LlmProvider;
  /** Overrides the provider's default model (for `local`, VLLM_MODEL wins). */
  model?: string;
  openaiApiKey?: string;
  anthropicApiKey?: string;
  groqApiKey?: string;
  /** OpenAI-compatible base URL including the version path, e.g. http://vllm:8000/v1. */
  vllmBaseUrl?: string;
  vllmModel?: string;
  /** For a vLLM server started with --api-key; otherwise a placeholder is sent. */
  vllmApiKey?: string;
  /** Per attempt; a request may take (maxRetries + 1) times this plus back-off. Default 30000. */
  timeoutMs?: number;
  /** Retries of connection errors, timeouts, 408, 409, 429 and 5xx. Default 2. */
  maxRetries?: number;
  /** For tests and proxies. */
  baseUrls?: { openai?: string; anthropic?: string; groq?: string };
}

export const DEFAULT_LLM_TIMEOUT_MS = 30_000;
export const DEFAULT_LLM_MAX_RETRIES = 2;
export const DEFAULT_MAX_TOKENS = 1024;

/** `local` has no default: a vLLM server serves whatever model it was started with. */
export const DEFAULT_MODELS: Readonly<Record<Exclude<LlmProvider, 'local'>, string>> = {
  openai: 'gpt-4o-mini',
  // The installed SDK (1.12) no longer lists claude-3-5-haiku; Haiku 4.5 is the current small model.
  anthropic: 'claude-haiku-4-5',
  groq: 'llama-3.1-8b-instant',
};

export const DEFAULT_BASE_URLS = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  groq: 'https://api.groq.com',
} as const;

/**
 * - missing_key: a required key or setting is absent (thrown by createLlmClient, before any request)
 * - timeout: no answer within the timeout, after retries
 * - upstream: the provider refused or failed (HTTP error, connection error), after retries
 * - bad_response: the provider answered, but with nothing usable (no text, or JSON cut off)
 */
export type LlmErrorKind = 'missing_key' | 'timeout' | 'upstream' | 'bad_response';

export class LlmError extends Error {
  readonly provider: LlmProvider | undefined;
  /** HTTP status of the last attempt, for `upstream` errors that had one. */
  readonly status: number | undefined;

  constructor(
    readonly kind: LlmErrorKind,
    message: string,
    details: { provider?: LlmProvider; status?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'LlmError';
    this.provider = details.provider;
    this.status = details.status;
  }
}
