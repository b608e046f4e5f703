// Turn latency as the caller hears it: from the end of their speech to the first agent audio
// sent back. An observer with its own VAD, so it measures every agent the same way and never
// touches the pipeline it measures. An agent may answer before this VAD's silence window has
// closed the turn, so the end of speech is the end of the last voiced frame, not the VAD's event.
import { EnergyVad } from '../audio/energy-vad.js';
import type { VadConfig } from '../config.js';
import { FRAME_MS } from '../twilio/protocol.js';

export class TurnLatencyObserver {
  private readonly vad: EnergyVad;
  /** The caller has spoken since the agent last started answering. */
  private turnOpen = false;
  /** Call time the caller's last voiced frame ended. */
  private voiceEndMs = 0;
  /** Call time the caller's latest speech began, as the VAD places it (its start lies a few frames back). */
  private speechStartMs = 0;

  constructor(vad: VadConfig) {
    this.vad = new EnergyVad(vad);
  }

  callerFrame(frame: Buffer, atMs: number): void {
    const event = this.vad.push(frame);
    if (event === 'speech_start') {
      this.turnOpen = true;
      this.speechStartMs = atMs - (this.vad.startLagFrames - 1) * FRAME_MS;
    }
    if (this.vad.isSpeaking && !this.vad.inTrailingQuiet) this.voiceEndMs = atMs + FRAME_MS;
  }

  /** The agent's first audio of an utterance went out; returns the turn latency if it answers a finished turn. */
  agentAudioStarted(sentAtMs: number): number | undefined {
    return this.answer(sentAtMs)?.latencyMs;
  }

  /** As agentAudioStarted, with where the caller stopped speaking on the call clock. */
  answer(sentAtMs: number): { latencyMs: number; userStoppedAtMs: number } | undefined {
    if (!this.turnOpen) return undefined;
    // The caller is still talking: this audio is not an answer to a finished turn.
    if (this.vad.isSpeaking && !this.vad.inTrailingQuiet) return undefined;
    this.turnOpen = false;
    return { latencyMs: Math.max(0, sentAtMs - this.voiceEndMs), userStoppedAtMs: this.voiceEndMs };
  }

  /** Where the caller's speech in progress began; undefined when this VAD hears no speech now. */
  callerSpeechStartedAtMs(): number | undefined {
    return this.vad.isSpeaking ? this.speechStartMs : undefined;
  }
}
