// What runs behind the gateway in a turn-based load run (load.ts). A mode decides the gateway
// child's environment, starts and stops any fake it needs, and says when a caller frame should make
// the agent answer (the oracle the relay latency is timed from). Add a mode here and
// `npm run bench -- --mode <name>` picks it up. The `deepgram` mode is not one of these: its fake
// agent echoes every frame at once, so each frame is timed on its own, and the gateway is compared
// with a bare relay in the same run; it lives in ../deepgram.ts.
import { defaultAgentWorkers, loadConfig, type VadConfig } from '../../../src/config.js';
import { EnergyVad } from '../../../src/audio/energy-vad.js';
import { startFakeChild } from './fake-agent-child.js';
import { CHILD_START_TIMEOUT_MS } from './load-shape.js';

/** Watches one call's outgoing caller frames, in send order. */
export interface TurnOracle {
  /** True when the agent is expected to start answering as soon as it has this frame. */
  completesTurn(frame: Buffer): boolean;
}

export interface ModeRun {
  /** Environment for the gateway child, over the benchmark's own (DATA_DIR, PORT, ...). */
  env: Record<string, string>;
  /** A fresh oracle for each call. */
  newTurnOracle(): TurnOracle;
  /** The report's line for this run, when it says more than the mode's description. */
  description?: string;
  /** Milliseconds the mode's provider stand-ins spend on purpose on each reply's path; undefined: none run. */
  standInDelayMs?: number;
  /** How long the agent waits after the caller's speech before it may answer, by its configuration. */
  endOfTurnWaitMs?: number;
  /** Stops whatever the mode started. */
  close(): Promise<void>;
}

/** What a run asks of its mode. */
export interface ModeOptions {
  /** How long the run lasts at most, in seconds: a fake the mode starts exits after it by itself. */
  plannedS: number;
  /** The gateway's AGENT_WORKERS for modes that host agents in workers; undefined: the mode's default. */
  agentWorkers: number | undefined;
}

/** What a load run must show to pass. */
export interface LoadGoals {
  maxLostFrames: number;
  /**
   * Turns that must get a reply, every call at least one: frames all counted while the agent stays
   * silent is no capacity. A call's last turn may go unanswered as it hangs up.
   */
  minAnsweredShare: number;
  /** Relay latency p99; undefined when the agent answers a turn late by design (a pipeline's turn). */
  maxP99Ms: number | undefined;
  maxCpuPctPerCall: number;
}

export interface LoadMode {
  readonly name: string;
  /** One line for the report, e.g. what answers the calls. */
  readonly description: string;
  /** Undefined: the load suite's own goals (load.ts GOALS). */
  readonly goals?: LoadGoals;
  start(opts: ModeOptions): Promise<ModeRun>;
}

/** The VAD settings as environment variables, so the gateway and the oracle cannot disagree. */
function vadEnv(vad: VadConfig): Record<string, string> {
  return {
    VAD_MIN_SPEECH_DURATION: String(vad.minSpeechS),
    VAD_MIN_SILENCE_DURATION: String(vad.minSilenceS),
    VAD_PADDING_DURATION: String(vad.paddingS),
  };
}

/** An EnergyVad with the gateway's settings: the turn ends on the frame that ends the caller's speech. */
function speechEndOracle(vad: VadConfig): TurnOracle {
  const detector = new EnergyVad(vad);
  return { completesTurn: (frame) => detector.push(frame) === 'speech_end' };
}

/**
 * The echo agent answers synchronously inside the frame that ends the caller's turn by its
 * EnergyVad; the same detector, with the same settings and the same bytes, finds that frame.
 */
const echoMode: LoadMode = {
  name: 'echo',
  description: 'built-in echo agent',
  async start() {
    const vad = loadConfig({}).vad;
    return {
      env: { AGENT_PROVIDER: 'echo', ...vadEnv(vad) },
      newTurnOracle: () => speechEndOracle(vad),
      close: async () => undefined,
    };
  },
};

/** The gateway's AGENT_WORKER_NICE for a run: set only when asked (--agent-worker-nice), else the gateway's default. */
export const workerNiceEnv = (nice: number | undefined): Record<string, string> => (nice === undefined ? {} : { AGENT_WORKER_NICE: String(nice) });

/** The key every Deepgram fake requires: one key for the Voice Agent and for STT, as Deepgram issues. */
export const BENCH_DEEPGRAM_KEY = 'bench-key';
const LIVEKIT_KEYS = { GROK_API_KEY: 'xai-bench-key', OPENAI_API_KEY: 'sk-bench-openai', DEEPGRAM_API_KEY: BENCH_DEEPGRAM_KEY, CARTESIA_API_KEY: 'cartesia-bench-key' };
/** The gateway's own default (a core left to the media thread), so the benchmark measures what ships. */
export const DEFAULT_AGENT_WORKERS = defaultAgentWorkers();
/** The stand-ins outlive the planned run by this much before they exit by themselves. */
const FAKE_LIFETIME_SLACK_S = 120;
const STANDIN_ROUTES = ['grok', 'openai', 'deepgram', 'cartesia'] as const;
/**
 * The stand-ins' own delays on a reply's path (fake-providers-main.ts): before the LLM answers and
 * before the TTS's first audio. Taken out of the gateway's turn latency, so the figure is the
 * gateway's and the pipeline's alone. The STT stand-in's end-of-utterance silence (500 ms) is not
 * on that path: it runs inside the pipeline's longer wait for the end of the turn.
 */
const STANDIN_DELAYS = { llmMs: 0, ttsMs: 0 };
/** The pipeline's endpointing delay after its VAD's silence (src/agents/livekit/pipeline.ts, telephonySessionOptions). */
const PIPELINE_ENDPOINTING_MS = 300;

/** The LiveKit pipeline's provider stand-ins, running, and the gateway environment that points at them. */
export interface PipelineStandIns {
  /** AGENT_PROVIDER aside: keys, base URLs, models, VAD settings. */
  env: Record<string, string>;
  /** Milliseconds the stand-ins spend on purpose on each reply's path. */
  delayMs: number;
  close(): Promise<void>;
}

/** Starts the stand-ins (fake-providers-main.ts) in a process of their own, for `plannedS` seconds at most. */
export async function startPipelineStandIns(plannedS: number): Promise<PipelineStandIns> {
  const standIns = await startFakeChild({
    entry: 'test/benchmark/lib/fake-providers-main.ts',
    what: 'the provider stand-ins',
    env: { ...LIVEKIT_KEYS, BENCH_LLM_DELAY_MS: String(STANDIN_DELAYS.llmMs), BENCH_TTS_DELAY_MS: String(STANDIN_DELAYS.ttsMs) },
    maxLifetimeS: Math.ceil(plannedS) + FAKE_LIFETIME_SLACK_S,
    startTimeoutMs: CHILD_START_TIMEOUT_MS,
  });
  const urls: Partial<Record<(typeof STANDIN_ROUTES)[number], string>> = {};
  for (const route of STANDIN_ROUTES) {
    const url = standIns.ready[route];
    if (typeof url !== 'string') {
      await standIns.stop(1000);
      throw new Error(`the provider stand-ins printed no ${route} URL: ${JSON.stringify(standIns.ready).slice(0, 200)}`);
    }
    urls[route] = url;
  }
  return {
    env: {
      ...vadEnv(loadConfig({}).vad),
      ...LIVEKIT_KEYS,
      GROK_BASE_URL: urls.grok!,
      GROK_MODEL: 'grok-bench',
      OPENAI_BASE_URL: urls.openai!,
      OPENAI_MODEL: 'gpt-bench',
      DEEPGRAM_STT_URL: urls.deepgram!,
      CARTESIA_BASE_URL: urls.cartesia!,
    },
    delayMs: STANDIN_DELAYS.llmMs + STANDIN_DELAYS.ttsMs,
    close: async () => {
      await standIns.stop(5000);
    },
  };
}

/** The custom stream parameter by which the bench's mixed gateway (mixed-gateway-main.ts) sends a call to the pipeline. */
export const BENCH_AGENT_PARAM = 'bench_agent';

/** A fresh turn oracle for a pipeline call: the end of the caller's speech by the gateway's own VAD settings. */
export const pipelineTurnOracle = (): TurnOracle => speechEndOracle(loadConfig({}).vad);

/**
 * The LiveKit pipeline (VAD, STT, LLM, TTS) in the gateway's agent workers, against the provider
 * stand-ins in a process of their own (fake-providers-main.ts), reached through the base URLs alone.
 * The pipeline answers some time after the caller's speech ends (its VAD's silence, endpointing,
 * STT, LLM and TTS), so the relay latency here is a turn latency: end of speech to the first agent
 * frame; the report also gives the gateway's own turn latency less the stand-ins' delays.
 */
const livekitMode: LoadMode = {
  name: 'livekit',
  description: 'LiveKit pipeline in the agent workers, provider stand-ins in their own process',
  // Issue 9's goal: at most 1.5 % of a core per pipeline call. The relay latency here is a turn's
  // (the pipeline's own VAD, STT, LLM and TTS), not a relay's: no 20 ms goal.
  goals: { maxLostFrames: 0, minAnsweredShare: 0.75, maxP99Ms: undefined, maxCpuPctPerCall: 1.5 },
  async start(opts) {
    const vad = loadConfig({}).vad;
    const standIns = await startPipelineStandIns(opts.plannedS);
    const workers = opts.agentWorkers ?? DEFAULT_AGENT_WORKERS;
    return {
      env: { AGENT_PROVIDER: 'livekit', AGENT_WORKERS: String(workers), ...standIns.env },
      description: `LiveKit pipeline in ${workers} agent worker(s), provider stand-ins in their own process`,
      newTurnOracle: pipelineTurnOracle,
      standInDelayMs: standIns.delayMs,
      endOfTurnWaitMs: vad.minSilenceS * 1000 + PIPELINE_ENDPOINTING_MS,
      close: () => standIns.close(),
    };
  },
};

export const MODES: Readonly<Record<string, LoadMode>> = { echo: echoMode, livekit: livekitMode };
