// Groq chat completions through the official groq-sdk (POST /openai/v1/chat/completions).
import Groq from 'groq-sdk';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming } from 'groq-sdk/resources/chat/completions';
import { callSdk, chatMessages, fromChatCompletion } from './common.js';
import type { AdapterContext, AdapterOptions } from './common.js';
import { DEFAULT_MAX_TOKENS } from './types.js';
import type { LlmClient, LlmRequest, LlmResponse } from './types.js';

export function createGroqClient(options: AdapterOptions): LlmClient {
  // Explicit key and base URL keep the SDK off GROQ_* variables; the pinned log level keeps
  // transcripts out of debug logs.
  const sdk = new Groq({
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    timeout: options.timeoutMs,
    maxRetries: options.maxRetries,
    logLevel: 'warn',
  });
  const context: AdapterContext = { provider: 'groq', ...options, secret: options.apiKey };
  const classes = { timeout: Groq.APIConnectionTimeoutError, api: Groq.APIError };

  return {
    async complete(request: LlmRequest): Promise<LlmResponse> {
      const completion = await callSdk(context, classes, (signal) =>
        sdk.chat.completions.create(toParams(request, options.model), { signal }),
      );
      return fromChatCompletion(completion, request, context);
    },
  };
}

function toParams(request: LlmRequest, model: string): ChatCompletionCreateParamsNonStreaming {
  return {
    model,
    messages: chatMessages(request),
    max_completion_tokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.json ? { response_format: { type: 'json_object' } } : {}),
  };
}
