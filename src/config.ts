// The one configuration object. Parsed and validated once at start from the environment and an
// optional `.env` file (the environment wins). Nothing else in the code reads `process.env`.
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { BUILT_AGENTS } from './agents/built.js';
import { LLM_PROVIDERS, type LlmConfig } from './llm/types.js';
import { EnvReader, readEnv, type Env } from './config/env-reader.js';
import { RESERVED_VARIABLES, unknownVariables, type UnknownVariable } from './config/lookalikes.js';
import { pipelineProblems, readPipeline, type PipelineConfig } from './config/pipeline.js';
import { readPersistence, type PersistenceConfig } from './config/persistence.js';
import { describeDatabaseUrl, POSTGRES_PROTOCOLS } from './db/url.js';

export { ConfigError, readEnv, type ConfigProblem, type Env } from './config/env-reader.js';
export type { UnknownVariable } from './config/lookalikes.js';
export { pipelineProblems, providerOrder, type PipelineConfig, type ProviderOrder } from './config/pipeline.js';
export type { PersistenceConfig } from './config/persistence.js';

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
  /** LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET: all three or none (rooms are off without them). */
  url: string | undefined;
  apiKey: string | undefined;
  apiSecret: string | undefined;
  /** Seconds a browser's room token from GET /token stays valid. */
  tokenTtlS: number;
  /** The name the room agent's worker registers under; sessions dispatch it by this name. */
  agentName: string;
  /** Room tokens carry the agent's dispatch too, so a browser that joins without POST /session gets an agent. */
  tokenDispatchesAgent: boolean;
  /** Seconds a POST /session session may stay `created` (no agent joined) before it is failed as `agent_never_joined`. */
  sessionStartTimeoutS: number;
  /** The room agent's worker (src/rooms/agent-worker.ts). */
  worker: RoomAgentWorkerConfig;
}

export interface RoomAgentWorkerConfig {
  /** `inline`: the gateway runs it (with LIVEKIT_URL/KEY/SECRET set); `off`: only `npm run agent` processes do. */
  mode: 'inline' | 'off';
  /** Job processes kept forked and waiting (each ≈ 194 MB); 0 = forked when a job comes. */
  idleProcesses: number;
  /** Port of the worker's health server (GET / and /worker); 0 = any free port. */
  healthPort: number;
}

/** The agent asked for, the one it resolved to, and why: the start-up banner prints the reason. */
export interface AgentResolution {
  requested: AgentChoice;
  kind: AgentKind;
  reason: string;
  /** `auto` settled for less than the keys ask for (e.g. LIVEKIT_* keys set, the pipeline's provider keys not). */
  fallback: boolean;
}

export interface Config {
  port: number;
  /** Interface to listen on; undefined = every interface. */
  host: string | undefined;
  /** The https origin Twilio reaches, without a trailing slash; undefined when not configured. */
  publicUrl: string | undefined;
  dataDir: string;
  /** DATABASE_URL: the tasks and stream claims in PostgreSQL; undefined = SQLite in dataDir. Holds a password: log describeDatabaseUrl(). */
  databaseUrl: string | undefined;
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
  /** Seconds a browser call may wait for its stream (its stream token lives as long); then it is failed as `never_connected`. */
  browserCallConnectTimeoutS: number;
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
  /** Bearer token GET /metrics requires; undefined = open. */
  metricsToken: string | undefined;
  llm: LlmConfig;
  agent: AgentResolution;
  /** Worker threads that host off-thread agents (the LiveKit pipeline); 0 = run them in-process. */
  agentWorkers: number;
  /** AGENT_WORKER_NICE: the nice value of those threads (0 = the process's own); they yield the CPU to the media thread. */
  agentWorkerNice: number;
  /** WORKERS: gateway processes sharing the port (node:cluster); 1 = this process serves alone. */
  workers: number;
  systemPrompt: string;
  vad: VadConfig;
  deepgram: DeepgramConfig;
  livekit: LiveKitConfig;
  /** The LiveKit voice pipeline (AGENT_PROVIDER=livekit): its providers, their order, keys and URLs. */
  pipeline: PipelineConfig;
  /** The persistence service (DJANGO_BASE_URL, INGEST_TOKEN): finished calls and sessions go there; undefined = off. */
  persistence: PersistenceConfig | undefined;
  /** Names in the environment or `.env` that look like ours but are not read (typos): warned about at start. */
  unknownVariables: UnknownVariable[];
}

const DEFAULT_SYSTEM_PROMPT =
  'You are a friendly, concise phone assistant. Keep replies short and speak naturally.';

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
  const livekit = readLiveKit(read);
  const workers = readWorkers(read);
  if (workers > 1 && livekit.worker.mode === 'inline' && livekit.worker.healthPort !== 0) {
    read.problem('LIVEKIT_AGENT_HEALTH_PORT', 'must be 0 when WORKERS > 1 and LIVEKIT_AGENT_WORKER=inline: every worker process runs its own room agent worker, and they cannot share one port');
  }
  const requested = read.oneOf('AGENT_PROVIDER', ['auto', 'echo', 'deepgram', 'livekit'], 'auto');
  const pipeline = readPipeline(read);
  const agent = resolveAgent(requested, deepgram, livekit, pipeline);
  if (agent.kind === 'deepgram' && !deepgram.apiKey) {
    read.problem('DEEPGRAM_API_KEY', 'is required when AGENT_PROVIDER=deepgram');
  }
  // One core is left to the media thread: on 2 cores, 2 busy workers tripled its p99 delay (bench --mode livekit).
  const agentWorkers = read.int('AGENT_WORKERS', defaultAgentWorkers(), 0, 1024);
  const agentWorkerNice = read.int('AGENT_WORKER_NICE', 10, 0, 19);
  if (agent.kind === 'livekit') {
    for (const { variable, problem } of pipelineProblems(pipeline)) read.problem(variable, problem);
    // 30 pipelines on one event loop delay its frames by more than a frame (issue 9): never beside the media.
    if (agentWorkers === 0) read.problem('AGENT_WORKERS', 'must be at least 1 when AGENT_PROVIDER=livekit: the pipeline runs in worker threads, never on the thread that carries the calls\' audio');
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
    databaseUrl: read.optionalUrl('DATABASE_URL', POSTGRES_PROTOCOLS),
    recordingsDir: path.resolve(read.string('RECORDINGS_DIR', 'recordings')),
    logLevel: read.oneOf('LOG_LEVEL', ['error', 'warn', 'info', 'debug'], 'info'),
    logNoisyEventsEveryN: read.int('LOG_NOISY_EVENTS_EVERY_N', 100, 1, 1_000_000),
    logMaxFileBytes: Math.round(read.number('LOG_MAX_SIZE_MB', 10, 0.01, 100_000) * 1024 * 1024),
    logMaxFiles: read.int('LOG_MAX_FILES', 5, 1, 100),
    drainTimeoutS: read.number('DRAIN_TIMEOUT_S', 30, 0, 86_400),
    logDtmfDigits: read.bool('LOG_DTMF_DIGITS', false),
    streamStartTimeoutS: read.number('STREAM_START_TIMEOUT_S', 10, 0.1, 3600),
    maxConcurrentCalls: read.int('MAX_CONCURRENT_CALLS', 150, 1, 100_000),
    // A browser opens its stream once the page has the microphone: the person may have to allow it first.
    browserCallConnectTimeoutS: read.number('BROWSER_CALL_CONNECT_TIMEOUT_S', 120, 1, 3600),
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
    metricsToken: read.optional('METRICS_TOKEN'),
    llm: {
      provider: read.oneOf('LLM_PROVIDER', LLM_PROVIDERS, 'openai'),
      model: read.optional('LLM_MODEL'),
      openaiApiKey: pipeline.openai.apiKey,
      anthropicApiKey: read.optional('ANTHROPIC_API_KEY'),
      groqApiKey: read.optional('GROQ_API_KEY'),
      vllmBaseUrl: read.optionalUrl('VLLM_BASE_URL', ['http:', 'https:']),
      vllmModel: read.optional('VLLM_MODEL'),
      timeoutMs: read.number('LLM_TIMEOUT_S', 30, 1, 600) * 1000,
      // OPENAI_BASE_URL reaches OpenAI (or a proxy, or a stand-in) for the analysis and the pipeline alike.
      baseUrls: { openai: pipeline.openai.baseUrl },
    },
    agent,
    agentWorkers,
    agentWorkerNice,
    workers,
    systemPrompt: read.string('SYSTEM_PROMPT', DEFAULT_SYSTEM_PROMPT),
    vad: {
      minSpeechS: read.number('VAD_MIN_SPEECH_DURATION', 0.1, 0.02, 5),
      minSilenceS: read.number('VAD_MIN_SILENCE_DURATION', 0.6, 0.02, 10),
      paddingS: read.number('VAD_PADDING_DURATION', 0.2, 0, 5),
    },
    deepgram,
    livekit,
    pipeline,
    persistence: readPersistence(read),
  };
}

/**
 * `auto`: Deepgram when enabled with a key, else the LiveKit pipeline when every provider it is
 * set to use has its key (it needs no LiveKit room, so LIVEKIT_* decide nothing), else echo. The
 * reason says which keys decided it, for the start-up banner.
 */
export function resolveAgent(
  requested: AgentChoice,
  deepgram: DeepgramConfig,
  livekit: LiveKitConfig,
  pipeline: PipelineConfig,
  built: ReadonlySet<AgentKind> = BUILT_AGENTS,
): AgentResolution {
  const pick = (kind: AgentKind, reason: string, fallback = false): AgentResolution => ({ requested, kind, reason, fallback });
  if (requested !== 'auto') return pick(requested, `AGENT_PROVIDER=${requested}`);
  if (deepgram.enabled && deepgram.apiKey) return pick('deepgram', 'DEEPGRAM_VOICE_AGENT_ENABLED is true and DEEPGRAM_API_KEY is set');
  const missing = pipelineProblems(pipeline).map((p) => p.variable);
  const providers = `STT_PROVIDER=${pipeline.stt}, LLM ${pipeline.llm}, TTS_PROVIDER=${pipeline.tts}`;
  if (missing.length === 0 && built.has('livekit')) return pick('livekit', `the LiveKit pipeline's keys are set (${providers})`);
  if (livekit.url || livekit.apiKey || livekit.apiSecret) {
    const needs = built.has('livekit') ? `its provider keys: ${missing.join(', ')} (${providers})` : 'an agent this build does not have';
    return pick('echo', `LIVEKIT_* keys are set (browser rooms), but phone calls get the LiveKit pipeline only with ${needs}. Set AGENT_PROVIDER=echo to silence this`, true);
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
    database: config.databaseUrl === undefined ? 'sqlite' : `postgres ${describeDatabaseUrl(config.databaseUrl)}`,
    recordingsDir: config.recordingsDir,
    twilioSignatureChecks: Boolean(config.twilio.authToken),
    deepgramKeySet: Boolean(config.deepgram.apiKey),
    livekitKeysSet: Boolean(config.livekit.apiKey && config.livekit.apiSecret),
  };
}

/** Every variable name the gateway knows: what loadConfig reads plus the reserved ones. */
export function knownVariables(): string[] {
  const read = new EnvReader({});
  readSettings(read);
  return [...read.namesRead, ...RESERVED_VARIABLES];
}

/** LIVEKIT_*: the server's three settings come together or not at all; a partial set names what is missing. */
function readLiveKit(read: EnvReader): LiveKitConfig {
  const server = {
    LIVEKIT_URL: read.optionalUrl('LIVEKIT_URL', ['ws:', 'wss:', 'http:', 'https:']),
    LIVEKIT_API_KEY: read.optional('LIVEKIT_API_KEY'),
    LIVEKIT_API_SECRET: read.optional('LIVEKIT_API_SECRET'),
  };
  const given = Object.entries(server).filter(([, value]) => value !== undefined);
  if (given.length > 0 && given.length < 3) {
    const names = given.map(([name]) => name).join(' and ');
    for (const [name, value] of Object.entries(server)) {
      if (value === undefined) read.problem(name, `is required when ${names} ${given.length === 1 ? 'is' : 'are'} set: LiveKit rooms need the URL, the key and the secret`);
    }
  }
  return {
    url: server.LIVEKIT_URL,
    apiKey: server.LIVEKIT_API_KEY,
    apiSecret: server.LIVEKIT_API_SECRET,
    tokenTtlS: read.duration('LIVEKIT_TOKEN_TTL', 3600, 60, 7 * 86_400),
    agentName: read.matching('LIVEKIT_AGENT_NAME', /^[A-Za-z0-9_.-]{1,64}$/, '1 to 64 letters, digits, "_", "." or "-"') ?? 'voice-agent',
    tokenDispatchesAgent: read.bool('LIVEKIT_TOKEN_AGENT_DISPATCH', false),
    sessionStartTimeoutS: read.number('LIVEKIT_SESSION_START_TIMEOUT_S', 120, 1, 86_400),
    worker: {
      mode: read.oneOf('LIVEKIT_AGENT_WORKER', ['inline', 'off'], 'inline'),
      idleProcesses: read.int('LIVEKIT_AGENT_IDLE_PROCESSES', 1, 0, 64),
      healthPort: read.int('LIVEKIT_AGENT_HEALTH_PORT', 0, 0, 65535),
    },
  };
}

/** WORKERS: a whole number, or `auto` for one process per core. */
function readWorkers(read: EnvReader, cores: number = availableParallelism()): number {
  if (read.optional('WORKERS')?.toLowerCase() === 'auto') return cores;
  return read.int('WORKERS', 1, 1, 1024);
}

/** Worker threads for off-thread agents: every core but the one the media thread needs, at least one. */
export function defaultAgentWorkers(cores: number = availableParallelism()): number {
  return Math.max(1, cores - 1);
}
