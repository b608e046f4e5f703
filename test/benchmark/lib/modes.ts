// What runs behind the gateway in a turn-based load run (load.ts). A mode decides the gateway
// child's environment, starts and stops any fake it needs, and says when a caller frame should make
// the agent answer (the oracle the relay latency is timed from). Add a mode here and
// `npm run bench -- --mode <name>` picks it up. The `deepgram` mode is not one of these: its fake
// agent echoes every frame at once, so each frame is timed on its own, and the gateway is compared
// with a bare relay in the same run; it lives in ../deepgram.ts.
import { loadConfig, type VadConfig } from '../../../src/config.js';
import { EnergyVad } from '../../../src/audio/energy-vad.js';

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
  /** Stops whatever the mode started. */
  close(): Promise<void>;
}

export interface LoadMode {
  readonly name: string;
  /** One line for the report, e.g. what answers the calls. */
  readonly description: string;
  start(): Promise<ModeRun>;
}

/** The VAD settings as environment variables, so the gateway and the oracle cannot disagree. */
function vadEnv(vad: VadConfig): Record<string, string> {
  return {
    VAD_MIN_SPEECH_DURATION: String(vad.minSpeechS),
    VAD_MIN_SILENCE_DURATION: String(vad.minSilenceS),
    VAD_PADDING_DURATION: String(vad.paddingS),
  };
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
      newTurnOracle() {
        const detector = new EnergyVad(vad);
        return { completesTurn: (frame) => detector.push(frame) === 'speech_end' };
      },
      close: async () => undefined,
    };
  },
};

export const MODES: Readonly<Record<string, LoadMode>> = { echo: echoMode };
