// The one configuration object. Parsed and validated once at start from the environment and an
// optional `.env` file (the environment wins). Nothing else in the code reads `process.env`.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { LLM_PROVIDERS, type LlmConfig } from './llm/types.js';
import { isE164 } from './twilio/phone-number.js';

export type AgentKind = 'echo' | 'deepgram' | 'livekit';
export type AgentChoice = AgentKind | 'auto';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type ThinkProvider = 'openai' | 'anthropic' | 'google' | 'groq';
export type MachineDetection = 'off' | 'Enable' | 'DetectMessageEnd';


export interface TwilioConfig {
  accountSid: string | undefined;
  authToken: string | undefined;
  /** Default caller id for outbound calls. */
  phoneNumber: string | undefined;
  machineDetection: MachineDetection;
  ringTimeoutS: number;
  /** Where the agent's transfer_call tool sends a live call; undefined = no transfers. */
  transferNumber: string | undefined;
}

export interface VadConfig {
  /** Seconds of speech before a turn counts as started. */
  minSpeechS: number;
  /** Seconds of silence that end a turn. */
  minSilenceS: number;
  /** Seconds of audio kept before the detected start of speech. */
  paddingS: number;
}

export interface DeepgramConfig {
  apiKey: string | undefined;
  enabled: boolean;
  wsUrl: string;
  listenModel: string;
  speakModel: string;
  thinkProvider: ThinkProvider;
  thinkModel: string;
  thinkTemperature: number | undefined;
  thinkEndpointUrl: string | undefined;
  thinkEndpointHeaders: Record<string, string> | undefined;
  greeting: string | undefined;
}

export interface LiveKitConfig {
  url: string | undefined;
  apiKey: string | undefined;
  apiSecret: string | undefined;
}

export interface Config {
  port: number;
  /** The https origin Twilio reaches, without a trailing slash; undefined when not configured. */
  publicUrl: string | undefined;
  dataDir: string;
  recordingsDir: string;
  logLevel: LogLevel;
  logNoisyEventsEveryN: number;
  drainTimeoutS: number;
  /** Seconds a media stream may stay open without sending `start`. */
  streamStartTimeoutS: number;
  /** Seconds a started stream may go without a caller media frame before the call ends (`media_timeout`). */
  mediaIdleTimeoutS: number;
  /** Seconds between WebSocket pings on a media stream; a socket that has not answered the previous one is dropped. */
  mediaPingIntervalS: number;
  /** Seconds a caller frame's timestamp may run ahead of the wall clock since the stream opened. */
  mediaMaxLeadS: number;
  twilio: TwilioConfig;
  /** Operator API key for /api/* and the live sockets; undefined = open. */
  apiKey: string | undefined;
  /** Browser origins allowed by CORS. */
  corsOrigins: string[];
  llm: LlmConfig;
  /** The agent asked for, and the one `auto` resolved to. */
  agent: { requested: AgentChoice; kind: AgentKind };
  systemPrompt: string;
  vad: VadConfig;
  deepgram: DeepgramConfig;
  livekit: LiveKitConfig;
}

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

const DEFAULT_SYSTEM_PROMPT =
  'You are a friendly, concise phone assistant. Keep replies short and speak naturally.';

/** Reads `.env` (if present) under the environment: a variable set in both keeps the environment's value. */
export function readEnv(env: Env = process.env, envFile = path.resolve('.env')): Env {
  if (!existsSync(envFile)) return { ...env };
  const fromFile = parseEnv(readFileSync(envFile, 'utf8')) as Env;
  return { ...fromFile, ...env };
}

/** Parses and validates the whole configuration; throws a ConfigError naming the first bad variable. */
export function loadConfig(env: Env = readEnv()): Config {
  const read = new EnvReader(env);
  const deepgram: DeepgramConfig = {
    apiKey: read.optional('DEEPGRAM_API_KEY'),
    enabled: read.bool('DEEPGRAM_VOICE_AGENT_ENABLED', false),
    wsUrl: read.url('DEEPGRAM_VOICE_AGENT_WS_URL', 'wss://agent.deepgram.com/v1/agent/converse', ['ws:', 'wss:']),
    listenModel: read.string('DEEPGRAM_VOICE_AGENT_LISTEN_MODEL', 'nova-3'),
    speakModel: read.string('DEEPGRAM_VOICE_AGENT_SPEAK_MODEL', 'aura-2-thalia-en'),
    thinkProvider: read.oneOf('DEEPGRAM_VOICE_AGENT_THINK_PROVIDER', ['openai', 'anthropic', 'google', 'groq'], 'openai'),
    thinkModel: read.string('DEEPGRAM_VOICE_AGENT_THINK_MODEL', 'gpt-4o-mini'),
    thinkTemperature: read.optionalNumber('DEEPGRAM_VOICE_AGENT_THINK_TEMPERATURE', 0, 2),
    thinkEndpointUrl: read.optionalUrl('DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_URL', ['http:', 'https:']),
    thinkEndpointHeaders: read.jsonStringMap('DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS'),
    greeting: read.optional('DEEPGRAM_VOICE_AGENT_GREETING'),
  };
  const livekit: LiveKitConfig = {
    url: read.optionalUrl('LIVEKIT_URL', ['ws:', 'wss:', 'http:', 'https:']),
    apiKey: read.optional('LIVEKIT_API_KEY'),
    apiSecret: read.optional('LIVEKIT_API_SECRET'),
  };
  const requested = read.oneOf('AGENT_PROVIDER', ['auto', 'echo', 'deepgram', 'livekit'], 'auto');
  const agentKind = resolveAgent(requested, deepgram, livekit);
  if (agentKind === 'deepgram' && !deepgram.apiKey) {
    throw new ConfigError('DEEPGRAM_API_KEY', 'is required when AGENT_PROVIDER=deepgram');
  }

  const publicUrl = read.optionalOrigin('PUBLIC_URL');
  const authToken = read.optional('TWILIO_AUTH_TOKEN');
  if (authToken && !publicUrl) {
    throw new ConfigError('PUBLIC_URL', 'is required when TWILIO_AUTH_TOKEN is set: Twilio signatures are checked against it');
  }

  return {
    port: read.int('PORT', 3001, 0, 65535),
    publicUrl,
    dataDir: path.resolve(read.string('DATA_DIR', 'data')),
    recordingsDir: path.resolve(read.string('RECORDINGS_DIR', 'recordings')),
    logLevel: read.oneOf('LOG_LEVEL', ['error', 'warn', 'info', 'debug'], 'info'),
    logNoisyEventsEveryN: read.int('LOG_NOISY_EVENTS_EVERY_N', 100, 1, 1_000_000),
    drainTimeoutS: read.number('DRAIN_TIMEOUT_S', 30, 0, 86_400),
    streamStartTimeoutS: read.number('STREAM_START_TIMEOUT_S', 10, 0.1, 3600),
    mediaIdleTimeoutS: read.number('MEDIA_IDLE_TIMEOUT_S', 10, 0.1, 3600),
    mediaPingIntervalS: read.number('MEDIA_PING_INTERVAL_S', 10, 0.1, 3600),
    mediaMaxLeadS: read.number('MEDIA_MAX_LEAD_S', 5, 0.1, 86_400),
    twilio: {
      accountSid: read.matching('TWILIO_ACCOUNT_SID', /^AC[0-9a-fA-F]{32}$/, 'an account SID: AC followed by 32 hex digits'),
      authToken,
      phoneNumber: read.phone('TWILIO_PHONE_NUMBER'),
      machineDetection: read.oneOfExact('TWILIO_MACHINE_DETECTION', ['off', 'Enable', 'DetectMessageEnd'], 'off'),
      ringTimeoutS: read.int('TWILIO_RING_TIMEOUT_S', 30, 5, 600),
      transferNumber: read.phone('TWILIO_TRANSFER_NUMBER'),
    },
    apiKey: read.optional('API_KEY'),
    corsOrigins: read.list('CORS_ORIGINS'),
    llm: {
      provider: read.oneOf('LLM_PROVIDER', LLM_PROVIDERS, 'openai'),
      model: read.optional('LLM_MODEL'),
      openaiApiKey: read.optional('OPENAI_API_KEY'),
      anthropicApiKey: read.optional('ANTHROPIC_API_KEY'),
      groqApiKey: read.optional('GROQ_API_KEY'),
      vllmBaseUrl: read.optionalUrl('VLLM_BASE_URL', ['http:', 'https:']),
      vllmModel: read.optional('VLLM_MODEL'),
      timeoutMs: read.number('LLM_TIMEOUT_S', 30, 1, 600) * 1000,
    },
    agent: { requested, kind: agentKind },
    systemPrompt: read.string('SYSTEM_PROMPT', DEFAULT_SYSTEM_PROMPT),
    vad: {
      minSpeechS: read.number('VAD_MIN_SPEECH_DURATION', 0.1, 0.02, 5),
      minSilenceS: read.number('VAD_MIN_SILENCE_DURATION', 0.6, 0.02, 10),
      paddingS: read.number('VAD_PADDING_DURATION', 0.2, 0, 5),
    },
    deepgram,
    livekit,
  };
}

/** `auto`: Deepgram when enabled with a key, else LiveKit when its keys are set, else echo. */
export function resolveAgent(requested: AgentChoice, deepgram: DeepgramConfig, livekit: LiveKitConfig): AgentKind {
  if (requested !== 'auto') return requested;
  if (deepgram.enabled && deepgram.apiKey) return 'deepgram';
  if (livekit.url && livekit.apiKey && livekit.apiSecret) return 'livekit';
  return 'echo';
}

/** A view of the configuration safe to print or serve: no secret, only whether one is set. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    port: config.port,
    publicUrl: config.publicUrl ?? null,
    agent: config.agent.kind,
    agentRequested: config.agent.requested,
    dataDir: config.dataDir,
    recordingsDir: config.recordingsDir,
    twilioSignatureChecks: Boolean(config.twilio.authToken),
    deepgramKeySet: Boolean(config.deepgram.apiKey),
    livekitKeysSet: Boolean(config.livekit.apiKey && config.livekit.apiSecret),
  };
}

class EnvReader {
  constructor(private readonly env: Env) {}

  optional(name: string): string | undefined {
    const raw = this.env[name]?.trim();
    return raw ? raw : undefined;
  }

  string(name: string, fallback: string): string {
    return this.optional(name) ?? fallback;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.optional(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    throw new ConfigError(name, `expected true or false, got "${raw}"`);
  }

  number(name: string, fallback: number, min: number, max: number): number {
    return this.optionalNumber(name, min, max) ?? fallback;
  }

  optionalNumber(name: string, min: number, max: number): number | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new ConfigError(name, `expected a number, got "${raw}"`);
    if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
    return value;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.number(name, fallback, min, max);
    if (!Number.isInteger(value)) throw new ConfigError(name, `expected a whole number, got ${value}`);
    return value;
  }

  matching(name: string, pattern: RegExp, what: string): string | undefined {
    const raw = this.optional(name);
    if (raw !== undefined && !pattern.test(raw)) throw new ConfigError(name, `must be ${what}`);
    return raw;
  }

  phone(name: string): string | undefined {
    const raw = this.optional(name);
    if (raw !== undefined && !isE164(raw)) throw new ConfigError(name, `must be an E.164 number such as +15550001111, got "${raw}"`);
    return raw;
  }

  list(name: string): string[] {
    return (this.optional(name) ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  }

  /** Like oneOf, for values whose case matters on the wire (Twilio's MachineDetection). */
  oneOfExact<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const match = allowed.find((a) => a.toLowerCase() === raw.toLowerCase());
    if (match) return match;
    throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got "${raw}"`);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optional(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got "${raw}"`);
  }

  optionalUrl(name: string, protocols: string[]): string | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError(name, `is not a valid URL: "${raw}"`);
    }
    if (!protocols.includes(url.protocol)) {
      throw new ConfigError(name, `must use ${protocols.join(' or ')}, got ${url.protocol}`);
    }
    return raw;
  }

  url(name: string, fallback: string, protocols: string[]): string {
    return this.optionalUrl(name, protocols) ?? fallback;
  }

  /** An http(s) origin such as https://gw.example.com; a path or query is refused. */
  optionalOrigin(name: string): string | undefined {
    const raw = this.optionalUrl(name, ['http:', 'https:']);
    if (raw === undefined) return undefined;
    const url = new URL(raw);
    if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
      throw new ConfigError(name, `must be an origin such as https://gw.example.com, without a path or query`);
    }
    return url.origin;
  }

  jsonStringMap(name: string): Record<string, string> | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      throw new ConfigError(name, `is not valid JSON (${(err as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(name, 'must be a JSON object of header names to string values');
    }
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== 'string') throw new ConfigError(name, `header "${key}" must be a string`);
    }
    return parsed as Record<string, string>;
  }
}
