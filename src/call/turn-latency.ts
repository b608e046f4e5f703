// Turn latency as the caller hears it: from the end of their speech to the first agent audio
// sent back. An observer with its own VAD, so it measures every agent the same way and never
// touches the pipeline it measures.
import { EnergyVad } from '../audio/energy-vad.js';
import type { VadConfig } from '../config.js';
import { FRAME_MS } from '../twilio/protocol.js';

export class TurnLatencyObserver {
  private readonly vad: EnergyVad;
  private readonly endLagMs: number;
  /** Call time the caller's last turn ended, until the agent's answer starts. */
  private pendingSpeechEndMs: number | undefined;

  constructor(vad: VadConfig) {
    this.vad = new EnergyVad(vad);
    this.endLagMs = Math.max(1, Math.round((vad.minSilenceS * 1000) / FRAME_MS)) * FRAME_MS;
  }

  callerFrame(frame: Buffer, atMs: number): void {
    const event = this.vad.push(frame);
    if (event === 'speech_start') this.pendingSpeechEndMs = undefined;
    // The VAD needs a run of quiet frames to call the end; the speech itself ended before them.
    else if (event === 'speech_end') this.pendingSpeechEndMs = atMs + FRAME_MS - this.endLagMs;
  }

  /** The agent's first audio of an utterance went out; returns the turn latency if it answers a turn. */
  agentAudioStarted(sentAtMs: number): number | undefined {
    if (this.pendingSpeechEndMs === undefined) return undefined;
    const latency = Math.max(0, sentAtMs - this.pendingSpeechEndMs);
    this.pendingSpeechEndMs = undefined;
    return latency;
  }
}
