// What every provider adapter shares: the JSON-mode instruction, a deadline for the whole call,
// and turning SDK errors into LlmError.
import { toError } from '../util/errors.js';
import { LlmError } from './types.js';
import type { LlmMessage, LlmProvider, LlmRequest, LlmResponse } from './types.js';

/**
 * Appended to the system prompt in JSON mode. OpenAI refuses json_object mode unless the prompt
 * mentions JSON, and Anthropic has no schema-free JSON mode, so every provider gets this line.
 */
const JSON_INSTRUCTION = 'Reply with a single JSON object and nothing else: no prose, no code fence.';

export function systemPrompt(request: LlmRequest): string | undefined {
  if (!request.json) return request.system;
  return request.system ? `${request.system}\n\n${JSON_INSTRUCTION}` : JSON_INSTRUCTION;
}

/** Chat-completions messages (OpenAI's shape, which Groq and local servers share): the system prompt first. */
export function chatMessages(request: LlmRequest): Array<{ role: 'system'; content: string } | LlmMessage> {
  const system = systemPrompt(request);
  return system ? [{ role: 'system', content: system }, ...request.messages] : [...request.messages];
}

/** What every adapter is built with: an explicit key and base URL, so no SDK reads the environment. */
export interface AdapterOptions {
  apiKey: string;
  baseURL: string;
  model: string;
  timeoutMs: number;
  maxRetries: number;
}

/** What an adapter tells callSdk; `secret` is scrubbed from any error message. */
export interface AdapterContext {
  provider: LlmProvider;
  /** The model asked for; reported when the response does not name one. */
  model: string;
  timeoutMs: number;
  maxRetries: number;
  secret: string | undefined;
}

/** The two SDK error classes that matter; each Stainless-generated SDK has its own copies. */
export interface SdkErrorClasses {
  timeout: abstract new (...args: never[]) => Error;
  api: abstract new (...args: never[]) => Error & { status?: number | undefined };
}

/** Per attempt, for the SDK's back-off between attempts (0.5 s, 1 s, ... plus jitter). */
const BACKOFF_ALLOWANCE_MS = 1_000;

/** The longest one completion may take, every attempt and back-off included: past it callSdk gives up. */
export function completionDeadlineMs(limits: { timeoutMs: number; maxRetries: number }): number {
  return (limits.maxRetries + 1) * (limits.timeoutMs + BACKOFF_ALLOWANCE_MS);
}

/**
 * Runs one SDK call under a deadline for the whole call. The SDK's own timeout (per attempt, with
 * its retries) stops counting once response headers arrive, so a server that sends headers and
 * then stalls the body would hang forever; the deadline, passed as the request's signal, ends it.
 */
export async function callSdk<T>(
  context: AdapterContext,
  classes: SdkErrorClasses,
  call: (signal: AbortSignal) => PromiseLike<T>,
): Promise<T> {
  const deadlineMs = completionDeadlineMs(context);
  const deadline = AbortSignal.timeout(deadlineMs);
  try {
    return await call(deadline);
  } catch (error) {
    throw toLlmError(error, context, classes, deadline.aborted ? deadlineMs : undefined);
  }
}

/** Maps whatever the SDK threw (after its own retries) to an LlmError. */
function toLlmError(
  error: unknown,
  context: AdapterContext,
  classes: SdkErrorClasses,
  deadlineMs: number | undefined,
): LlmError {
  if (error instanceof LlmError) return error;
  const { provider } = context;
  if (deadlineMs !== undefined) {
    return new LlmError('timeout', `${provider} did not finish within ${deadlineMs} ms`, { provider, cause: error });
  }
  if (error instanceof classes.timeout) {
    const attempts = context.maxRetries + 1;
    const message = `${provider} did not answer within ${context.timeoutMs} ms (${attempts} attempt(s))`;
    return new LlmError('timeout', message, { provider, cause: error });
  }
  const detail = redact(toError(error).message, context.secret);
  const status = error instanceof classes.api ? error.status : undefined;
  const http = status === undefined ? '' : ` with HTTP ${status}`;
  return new LlmError('upstream', `${provider} request failed${http}: ${detail}`, {
    provider,
    cause: error,
    ...(status === undefined ? {} : { status }),
  });
}

export function badResponse(context: AdapterContext, problem: string): LlmError {
  return new LlmError('bad_response', `${context.provider} answered, but ${problem}`, { provider: context.provider });
}

/** Provider error bodies can echo the key (OpenAI masks most of it; be sure). */
function redact(text: string, secret: string | undefined): string {
  return secret && secret.length >= 8 ? text.split(secret).join('[redacted]') : text;
}

/** The response shape OpenAI-style chat APIs share (OpenAI, Groq, vLLM and other compatible servers). */
export interface ChatCompletionLike {
  model?: string;
  choices?: ReadonlyArray<{ message?: { content?: string | null }; finish_reason?: string | null }>;
}

/** The reply text of a chat completion, or a bad_response error naming what is missing. */
export function fromChatCompletion(completion: ChatCompletionLike, request: LlmRequest, context: AdapterContext): LlmResponse {
  // The SDK types promise `choices`; a misbehaving compatible server may still omit it.
  const choice = Array.isArray(completion.choices) ? completion.choices[0] : undefined;
  const text = choice?.message?.content;
  if (!choice || !text) throw badResponse(context, 'with no text');
  if (request.json && choice.finish_reason === 'length') {
    throw badResponse(context, 'its JSON was cut off at the token limit');
  }
  return { text, model: completion.model || context.model };
}
