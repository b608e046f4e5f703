// OpenAI chat completions through the official SDK; also any OpenAI-compatible server (`local`: vLLM).
import OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { callSdk, chatMessages, fromChatCompletion } from './common.js';
import type { AdapterContext, AdapterOptions } from './common.js';
import { DEFAULT_MAX_TOKENS } from './types.js';
import type { LlmClient, LlmRequest, LlmResponse } from './types.js';

export interface OpenAiAdapterOptions extends AdapterOptions {
  provider: 'openai' | 'local';
}

export function createOpenAiClient(options: OpenAiAdapterOptions): LlmClient {
  // Every option is explicit (null where unused) so the SDK reads nothing from the environment, and
  // the log level is pinned so OPENAI_LOG=debug cannot print call transcripts.
  const sdk = new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    organization: null,
    project: null,
    adminAPIKey: null,
    webhookSecret: null,
    timeout: options.timeoutMs,
    maxRetries: options.maxRetries,
    logLevel: 'warn',
  });
  const context: AdapterContext = { ...options, secret: options.apiKey };
  const classes = { timeout: OpenAI.APIConnectionTimeoutError, api: OpenAI.APIError };

  return {
    async complete(request: LlmRequest): Promise<LlmResponse> {
      const completion = await callSdk(context, classes, (signal) =>
        sdk.chat.completions.create(toParams(request, options), { signal }),
      );
      return fromChatCompletion(completion, request, context);
    },
  };
}

function toParams(request: LlmRequest, options: OpenAiAdapterOptions): ChatCompletionCreateParamsNonStreaming {
  const maxTokens = request.maxTokens ?? DEFAULT_MAX_TOKENS;
  return {
    model: options.model,
    messages: chatMessages(request),
    // OpenAI deprecated max_tokens; OpenAI-compatible servers have accepted it far longer.
    ...(options.provider === 'openai' ? { max_completion_tokens: maxTokens } : { max_tokens: maxTokens }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.json ? { response_format: { type: 'json_object' } } : {}),
  };
}
