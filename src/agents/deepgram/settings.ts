// Builds the Settings message that opens a converse session, from configuration and the call.
// The service rejects unknown or malformed fields, so an unset option is left out entirely,
// never sent as null or undefined.
import type { DeepgramConfig, ThinkProvider as ConfigThinkProvider } from '../../config.js';
import type { CallContext } from '../bridge.js';
import type { HistoryEntry, SettingsMessage, ThinkEndpoint, ThinkProvider, ThinkProviderType, ThinkSettings } from './messages.js';
import { agentFunctions } from './tools.js';

export interface HistoryLine {
  role: 'user' | 'assistant';
  content: string;
}

export interface SettingsOptions {
  /** The configured system prompt, used when the call brings none. */
  systemPrompt: string;
  transferAvailable: boolean;
  /** The conversation so far, when re-opening a session mid-call. */
  history?: readonly HistoryLine[];
  /**
   * Whether the agent greets the caller. Default: only in a fresh session (no history). A
   * reconnect after the greeting began must not greet again, even when none of it was heard yet.
   */
  greet?: boolean;
}

const THINK_PROVIDER_TYPES: Record<ConfigThinkProvider, ThinkProviderType> = {
  openai: 'open_ai',
  anthropic: 'anthropic',
  google: 'google',
  groq: 'groq',
};

/** A blank per-call value (e.g. an empty custom parameter) does not override the configured one. */
function nonBlank(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value : undefined;
}

function thinkProvider(cfg: DeepgramConfig): ThinkProvider {
  const provider: ThinkProvider = { type: THINK_PROVIDER_TYPES[cfg.thinkProvider], model: cfg.thinkModel };
  if (cfg.thinkTemperature !== undefined) provider.temperature = cfg.thinkTemperature;
  return provider;
}

/** The service wants `headers` whenever an endpoint is given, so an empty map stands in for none. */
function thinkEndpoint(cfg: DeepgramConfig): ThinkEndpoint | undefined {
  if (cfg.thinkEndpointUrl === undefined) return undefined;
  return { url: cfg.thinkEndpointUrl, headers: { ...cfg.thinkEndpointHeaders } };
}

function think(cfg: DeepgramConfig, prompt: string, transferAvailable: boolean): ThinkSettings {
  const settings: ThinkSettings = { provider: thinkProvider(cfg), prompt };
  const endpoint = thinkEndpoint(cfg);
  if (endpoint) settings.endpoint = endpoint;
  const functions = agentFunctions({ transferAvailable });
  if (functions.length > 0) settings.functions = functions;
  return settings;
}

function historyEntries(history: readonly HistoryLine[]): HistoryEntry[] {
  return history.map(({ role, content }) => ({ type: 'History', role, content }));
}

/**
 * The Settings for one session. With `history` (a reconnect mid-call) the conversation is seeded
 * and, unless `greet` says otherwise, the greeting left out: the caller has already been greeted.
 */
export function buildSettings(cfg: DeepgramConfig, call: CallContext, opts: SettingsOptions): SettingsMessage {
  const prompt = nonBlank(call.prompt) ?? opts.systemPrompt;
  const history = opts.history ?? [];
  const resuming = history.length > 0;
  const settings: SettingsMessage = {
    type: 'Settings',
    tags: ['twilio'],
    flags: { history: true },
    audio: {
      input: { encoding: 'mulaw', sample_rate: 8000 },
      output: { encoding: 'mulaw', sample_rate: 8000, container: 'none' },
    },
    agent: {
      listen: { provider: { type: 'deepgram', version: 'v1', model: cfg.listenModel } },
      think: think(cfg, prompt, opts.transferAvailable),
      speak: { provider: { type: 'deepgram', model: cfg.speakModel } },
    },
  };
  const greeting = nonBlank(call.greeting) ?? nonBlank(cfg.greeting);
  if (greeting !== undefined && (opts.greet ?? !resuming)) settings.agent.greeting = greeting;
  if (resuming) settings.agent.context = { messages: historyEntries(history) };
  return settings;
}
