// Anthropic Messages API through the official SDK (POST /v1/messages).
import Anthropic from '@anthropic-ai/sdk';
import type { Message, MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages';
import { badResponse, callSdk, systemPrompt } from './common.js';
import type { AdapterContext, AdapterOptions } from './common.js';
import { DEFAULT_MAX_TOKENS } from './types.js';
import type { LlmClient, LlmRequest, LlmResponse } from './types.js';

export function createAnthropicClient(options: AdapterOptions): LlmClient {
  // An explicit key and base URL keep the SDK off ANTHROPIC_* variables and profile files; the
  // pinned log level keeps transcripts out of debug logs.
  const sdk = new Anthropic({
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    webhookKey: null,
    timeout: options.timeoutMs,
    maxRetries: options.maxRetries,
    logLevel: 'warn',
  });
  const context: AdapterContext = { provider: 'anthropic', ...options, secret: options.apiKey };
  const classes = { timeout: Anthropic.APIConnectionTimeoutError, api: Anthropic.APIError };

  return {
    async complete(request: LlmRequest): Promise<LlmResponse> {
      const message = await callSdk(context, classes, (signal) =>
        sdk.messages.create(toParams(request, options.model), { signal }),
      );
      return fromMessage(message, request, context);
    },
  };
}

/**
 * JSON mode is the system instruction alone: Anthropic's structured output needs a schema, and
 * prefilling `{` is refused by newer models. The caller validates the JSON either way.
 */
function toParams(request: LlmRequest, model: string): MessageCreateParamsNonStreaming {
  const system = systemPrompt(request);
  return {
    model,
    max_tokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
    messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
    ...(system === undefined ? {} : { system }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
  };
}

function fromMessage(message: Message, request: LlmRequest, context: AdapterContext): LlmResponse {
  const blocks = Array.isArray(message.content) ? message.content : [];
  const text = blocks
    .flatMap((block) => (block.type === 'text' ? [block.text] : []))
    .join('');
  if (!text) throw badResponse(context, `with no text (stop reason ${message.stop_reason ?? 'none'})`);
  if (request.json && message.stop_reason === 'max_tokens') {
    throw badResponse(context, 'its JSON was cut off at the token limit');
  }
  return { text, model: message.model || context.model };
}
