// The one configuration object. Parsed and validated once at start from the environment and an
// optional `.env` file (the environment wins). Nothing else in the code reads `process.env`.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { BUILT_AGENTS } from './agents/built.js';
import { LLM_PROVIDERS, type LlmConfig } from './llm/types.js';
import { isE164 } from './twilio/phone-number.js';
import { closestName } from './util/edit-distance.js';
import { isPlainObject } from './util/plain-object.js';

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

/** The agent asked for, the one it resolved to, and why: the start-up banner prints the reason. */
export interface AgentResolution {
  requested: AgentChoice;
  kind: AgentKind;
  reason: string;
  /** `auto` settled for less than the keys ask for (e.g. LiveKit keys set, no LiveKit agent built). */
  fallback: boolean;
}

export interface Config {
  port: number;
  /** Interface to listen on; undefined = every interface. */
  host: string | undefined;
  /** The https origin Twilio reaches, without a trailing slash; undefined when not configured. */
  publicUrl: string | undefined;
  dataDir: string;
  recordingsDir: string;
  logLevel: LogLevel;
  logNoisyEventsEveryN: number;
  /** service.log and telemetry_events.jsonl are each rotated past this size... */
  logMaxFileBytes: number;
  /** ...keeping this many files each, the live one included. */
  logMaxFiles: number;
  drainTimeoutS: number;
  /** Write DTMF digits to logs and telemetry; off by default, since callers key in PINs and card numbers. */
  logDtmfDigits: boolean;
  /** Seconds a media stream may stay open without sending `start`. */
  streamStartTimeoutS: number;
  /** Media streams open at once (started or not); over it calls get a busy signal. */
  maxConcurrentCalls: number;
  /** Seconds a started stream may go without a caller media frame before the call ends (`media_timeout`). */
  mediaIdleTimeoutS: number;
  /** Seconds between WebSocket pings on a media stream; a socket that has not answered the previous one is dropped. */
  mediaPingIntervalS: number;
  /** Seconds the caller's missing audio (gaps between frame timestamps, added up) may run ahead of the wall clock. */
  mediaMaxLeadS: number;
  twilio: TwilioConfig;
  /** Operator API key for /api/* and the live sockets; undefined = open. */
  apiKey: string | undefined;
  /** Browser origins allowed by CORS. */
  corsOrigins: string[];
  llm: LlmConfig;
  agent: AgentResolution;
  systemPrompt: string;
  vad: VadConfig;
  deepgram: DeepgramConfig;
  livekit: LiveKitConfig;
  /** Names in the environment or `.env` that look like ours but are not read (typos): warned about at start. */
  unknownVariables: UnknownVariable[];
}

export type Env = Record<string, string | undefined>;

export interface ConfigProblem {
  variable: string;
  problem: string;
}

/** Every bad variable at once, so an operator fixes `.env` in one go; `variable` is the first. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(
    readonly variable: string,
    problem: string,
    more: readonly ConfigProblem[] = [],
  ) {
    const problems = [{ variable, problem }, ...more];
    super(problems.length === 1 ? `${variable}: ${problem}` : problems.map((p) => `${p.variable}: ${p.problem}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
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

/** Parses and validates the whole configuration; throws one ConfigError naming every bad variable. */
export function loadConfig(env: Env = readEnv()): Config {
  const read = new EnvReader(env);
  const settings = readSettings(read);
  read.throwIfProblems();
  return { ...settings, unknownVariables: unknownVariables(Object.keys(env), read.namesRead) };
}

/** Every variable, read through `read`; a bad one is recorded there and replaced by its default. */
function readSettings(read: EnvReader): Omit<Config, 'unknownVariables'> {
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
  const agent = resolveAgent(requested, deepgram, livekit);
  if (agent.kind === 'deepgram' && !deepgram.apiKey) {
    read.problem('DEEPGRAM_API_KEY', 'is required when AGENT_PROVIDER=deepgram');
  }

  const publicUrl = read.optionalOrigin('PUBLIC_URL');
  const authToken = read.optional('TWILIO_AUTH_TOKEN');
  if (authToken && !publicUrl) {
    read.problem('PUBLIC_URL', 'is required when TWILIO_AUTH_TOKEN is set: Twilio signatures are checked against it');
  }
  if (authToken && publicUrl?.startsWith('http:')) {
    read.problem('PUBLIC_URL', 'must be https:// when TWILIO_AUTH_TOKEN is set: Twilio only streams to a wss:// URL, which is derived from it');
  }

  return {
    port: read.int('PORT', 3001, 0, 65535),
    host: read.optional('HOST'),
    publicUrl,
    dataDir: path.resolve(read.string('DATA_DIR', 'data')),
    recordingsDir: path.resolve(read.string('RECORDINGS_DIR', 'recordings')),
    logLevel: read.oneOf('LOG_LEVEL', ['error', 'warn', 'info', 'debug'], 'info'),
    logNoisyEventsEveryN: read.int('LOG_NOISY_EVENTS_EVERY_N', 100, 1, 1_000_000),
    logMaxFileBytes: Math.round(read.number('LOG_MAX_SIZE_MB', 10, 0.01, 100_000) * 1024 * 1024),
    logMaxFiles: read.int('LOG_MAX_FILES', 5, 1, 100),
    drainTimeoutS: read.number('DRAIN_TIMEOUT_S', 30, 0, 86_400),
    logDtmfDigits: read.bool('LOG_DTMF_DIGITS', false),
    streamStartTimeoutS: read.number('STREAM_START_TIMEOUT_S', 10, 0.1, 3600),
    maxConcurrentCalls: read.int('MAX_CONCURRENT_CALLS', 150, 1, 100_000),
    mediaIdleTimeoutS: read.number('MEDIA_IDLE_TIMEOUT_S', 10, 0.1, 600),
    mediaPingIntervalS: read.number('MEDIA_PING_INTERVAL_S', 10, 0.1, 3600),
    mediaMaxLeadS: read.number('MEDIA_MAX_LEAD_S', 5, 0.1, 600),
    twilio: {
      accountSid: read.matching('TWILIO_ACCOUNT_SID', /^AC[0-9a-fA-F]{32}$/, 'an account SID: AC followed by 32 hex digits'),
      authToken,
      phoneNumber: read.phone('TWILIO_PHONE_NUMBER'),
      machineDetection: read.oneOfExact('TWILIO_MACHINE_DETECTION', ['off', 'Enable', 'DetectMessageEnd'], 'off'),
      ringTimeoutS: read.int('TWILIO_RING_TIMEOUT_S', 30, 5, 600),
      transferNumber: read.phone('TWILIO_TRANSFER_NUMBER'),
    },
    apiKey: read.optional('API_KEY'),
    corsOrigins: read.originList('CORS_ORIGINS'),
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
    agent,
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

/**
 * `auto`: Deepgram when enabled with a key, else LiveKit when its keys are set and its agent is
 * built, else echo. The reason says which keys decided it, for the start-up banner.
 */
export function resolveAgent(
  requested: AgentChoice,
  deepgram: DeepgramConfig,
  livekit: LiveKitConfig,
  built: ReadonlySet<AgentKind> = BUILT_AGENTS,
): AgentResolution {
  const pick = (kind: AgentKind, reason: string, fallback = false): AgentResolution => ({ requested, kind, reason, fallback });
  if (requested !== 'auto') return pick(requested, `AGENT_PROVIDER=${requested}`);
  if (deepgram.enabled && deepgram.apiKey) return pick('deepgram', 'DEEPGRAM_VOICE_AGENT_ENABLED is true and DEEPGRAM_API_KEY is set');
  const livekitKeys = Boolean(livekit.url && livekit.apiKey && livekit.apiSecret);
  if (livekitKeys && built.has('livekit')) return pick('livekit', 'LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET are set');
  if (livekitKeys) {
    return pick('echo', 'LIVEKIT_* keys are set but this build has no LiveKit agent yet; set AGENT_PROVIDER=echo to silence this', true);
  }
  if (deepgram.apiKey) return pick('echo', 'DEEPGRAM_API_KEY is set but DEEPGRAM_VOICE_AGENT_ENABLED is not true');
  if (deepgram.enabled) return pick('echo', 'DEEPGRAM_VOICE_AGENT_ENABLED is true but DEEPGRAM_API_KEY is not set', true);
  return pick('echo', 'no agent keys are set (the built-in line test)');
}

/** A view of the configuration safe to print or serve: no secret, only whether one is set. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    port: config.port,
    host: config.host ?? null,
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

/**
 * Names in `.env.example` that this build does not read yet (the LiveKit pipeline, the back-office
 * ingest): known, so setting them is not warned about as a typo.
 */
export const RESERVED_VARIABLES: readonly string[] = [
  'XAI_API_KEY',
  'LIVEKIT_AGENT_NAME',
  'STT_PROVIDER',
  'TTS_PROVIDER',
  'TTS_VOICE',
  'CARTESIA_API_KEY',
  'DJANGO_BASE_URL',
  'INGEST_TOKEN',
];

/** Every variable name the gateway knows: what loadConfig reads plus the reserved ones. */
export function knownVariables(): string[] {
  const read = new EnvReader({});
  readSettings(read);
  return [...read.namesRead, ...RESERVED_VARIABLES];
}

export interface UnknownVariable {
  name: string;
  /** The known name it is closest to, when one is close. */
  didYouMean?: string;
}

// Prefixes only this gateway's variables use; an unknown name with one of them is a typo or a leftover.
const OUR_PREFIXES = ['TWILIO_', 'DEEPGRAM_', 'LIVEKIT_', 'LLM_', 'VAD_', 'AGENT_'];
// Shorter names (HOME, PATH, TERM) are too close to each other to guess at.
const MIN_TYPO_LENGTH = 6;

/** Names set in the environment or `.env` that look like ours (our prefix, or a near miss of a known name) but are not read. */
export function unknownVariables(present: readonly string[], read: ReadonlySet<string>): UnknownVariable[] {
  const known = [...read, ...RESERVED_VARIABLES];
  const knownSet = new Set(known);
  const unknown: UnknownVariable[] = [];
  for (const name of present) {
    if (knownSet.has(name)) continue;
    const maxDistance = name.length >= 10 ? 2 : 1;
    const didYouMean = name.length >= MIN_TYPO_LENGTH ? closestName(name, known, maxDistance) : undefined;
    if (didYouMean !== undefined) unknown.push({ name, didYouMean });
    else if (OUR_PREFIXES.some((prefix) => name.startsWith(prefix))) unknown.push({ name });
  }
  return unknown;
}

/**
 * Variables whose values may hold a secret (a key, a token, auth headers, a URL with credentials):
 * a problem with one names the variable and what is wrong, never the value.
 */
const MAY_HOLD_SECRET = /KEY|TOKEN|SECRET|PASSWORD|AUTH|HEADERS|URL/;

/**
 * Reads typed values. A bad value is recorded as a problem and the fallback (or undefined) is
 * returned, so one run finds every bad variable; `throwIfProblems` reports them together.
 */
class EnvReader {
  readonly namesRead = new Set<string>();
  private readonly problems: ConfigProblem[] = [];

  constructor(private readonly env: Env) {}

  /** Records a problem with `name`; the caller goes on with a fallback. */
  problem(name: string, problem: string): undefined {
    this.problems.push({ variable: name, problem });
    return undefined;
  }

  throwIfProblems(): void {
    const [first, ...more] = this.problems;
    if (first) throw new ConfigError(first.variable, first.problem, more);
  }

  optional(name: string): string | undefined {
    this.namesRead.add(name);
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
    this.problem(name, `expected true or false${got(name, raw)}`);
    return fallback;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    return this.optionalNumber(name, min, max) ?? fallback;
  }

  optionalNumber(name: string, min: number, max: number): number | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value)) return this.problem(name, `expected a number${got(name, raw)}`);
    if (value < min || value > max) return this.problem(name, `must be between ${min} and ${max}${got(name, String(value), false)}`);
    return value;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.optionalNumber(name, min, max);
    if (value === undefined) return fallback;
    if (!Number.isInteger(value)) {
      this.problem(name, `expected a whole number${got(name, String(value), false)}`);
      return fallback;
    }
    return value;
  }

  matching(name: string, pattern: RegExp, what: string): string | undefined {
    const raw = this.optional(name);
    if (raw !== undefined && !pattern.test(raw)) return this.problem(name, `must be ${what}`);
    return raw;
  }

  phone(name: string): string | undefined {
    const raw = this.optional(name);
    if (raw !== undefined && !isE164(raw)) return this.problem(name, `must be an E.164 number such as +15550001111${got(name, raw)}`);
    return raw;
  }

  list(name: string): string[] {
    return (this.optional(name) ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  }

  /**
   * Comma-separated http(s) origins, each normalized (`https://a.example.com/` → `https://a.example.com`).
   * `*` is refused: allowed origins are matched exactly, and a wildcard would let every web page a
   * user's browser opens call the API (an open one, without API_KEY) with that user's network access.
   */
  originList(name: string): string[] {
    const origins: string[] = [];
    for (const item of this.list(name)) {
      if (item === '*') {
        this.problem(name, '"*" is not supported: list each browser origin exactly (e.g. https://ops.example.com); a wildcard would let any web page call this API');
        continue;
      }
      const origin = parseOrigin(item);
      // An entry with user:password@ is not quoted: it may be a credential pasted by mistake.
      const shown = item.includes('@') ? 'an entry' : `"${item}"`;
      if (origin === undefined) this.problem(name, `${shown} is not an origin such as https://ops.example.com (scheme, host and port only)`);
      else origins.push(origin);
    }
    return origins;
  }

  /** Like oneOf, for values whose case matters on the wire (Twilio's MachineDetection). */
  oneOfExact<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const match = allowed.find((a) => a.toLowerCase() === raw.toLowerCase());
    if (match) return match;
    this.problem(name, `expected one of ${allowed.join(', ')}${got(name, raw)}`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optional(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problem(name, `expected one of ${allowed.join(', ')}${got(name, raw)}`);
    return fallback;
  }

  optionalUrl(name: string, protocols: string[]): string | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      // A URL may carry credentials (user:password@host), so it is never quoted.
      return this.problem(name, 'is not a valid URL');
    }
    if (!protocols.includes(url.protocol)) return this.problem(name, `must use ${protocols.join(' or ')}, got ${url.protocol}`);
    return raw;
  }

  url(name: string, fallback: string, protocols: string[]): string {
    return this.optionalUrl(name, protocols) ?? fallback;
  }

  /** An http(s) origin such as https://gw.example.com; a path or query is refused. */
  optionalOrigin(name: string): string | undefined {
    const raw = this.optionalUrl(name, ['http:', 'https:']);
    if (raw === undefined) return undefined;
    return parseOrigin(raw) ?? this.problem(name, 'must be an origin such as https://gw.example.com, without a path or query');
  }

  /** A JSON object of strings (HTTP headers). A syntax error names its position, never the text (it may hold a token). */
  jsonStringMap(name: string): Record<string, string> | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      const at = jsonErrorPosition(raw);
      const where = at < raw.length ? `syntax error at character ${at + 1} of ${raw.length}` : `it ends before the JSON is complete`;
      return this.problem(name, `is not valid JSON (${where})`);
    }
    if (!isPlainObject(parsed)) return this.problem(name, 'must be a JSON object of header names to string values');
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== 'string') return this.problem(name, `header "${key}" must be a string`);
    }
    return parsed as Record<string, string>;
  }
}

/** `, got "value"` for a variable that cannot hold a secret; nothing for one that may. */
function got(name: string, value: string, quoted = true): string {
  if (MAY_HOLD_SECRET.test(name)) return '';
  return quoted ? `, got "${value}"` : `, got ${value}`;
}

/** The origin of an http(s) URL that has nothing after the host; undefined otherwise. */
function parseOrigin(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) return undefined;
  return url.origin;
}

// Longer values are not scanned character by character; their error is reported at the end.
const MAX_JSON_SCAN = 4096;

/**
 * Where JSON.parse fails, 0-based, without reading its message's quoted text. V8 names the position
 * for most errors; for "Unexpected token" it quotes the input instead, so the position is found as
 * the shortest prefix that fails for a reason other than ending too early.
 */
function jsonErrorPosition(raw: string): number {
  const limit = Math.min(raw.length, MAX_JSON_SCAN);
  for (let end = 1; end <= limit; end++) {
    const at = prefixFailure(raw.slice(0, end));
    if (at !== undefined) return at;
  }
  return limit;
}

/** The failing position inside `prefix`, or undefined when it parses or only ends too early. */
function prefixFailure(prefix: string): number | undefined {
  try {
    JSON.parse(prefix);
    return undefined;
  } catch (err) {
    const message = (err as Error).message;
    if (message.startsWith('Unexpected end of JSON input')) return undefined;
    const position = /at position (\d+)/.exec(message)?.[1];
    if (position === undefined) return prefix.length - 1;
    const at = Number(position);
    return at < prefix.length ? at : undefined;
  }
}
