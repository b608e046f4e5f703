// An energy voice-activity detector for 8 kHz mu-law frames: cheap enough for every frame of
// every call, with an adaptive noise floor so a noisy line does not read as endless speech.
import { MULAW_TO_PCM16 } from './mulaw.js';
import { FRAME_MS } from '../twilio/protocol.js';
import type { VadConfig } from '../config.js';

export type VadEvent = 'speech_start' | 'speech_end';

/** Speech must rise this far above the noise floor to start a turn, and this far to keep it. */
const START_MARGIN_DB = 12;
const CONTINUE_MARGIN_DB = 8;
/** Never call anything quieter than this speech, however quiet the line. */
const MIN_SPEECH_DB = -40;
const FLOOR_MIN_DB = -70;
const FLOOR_MAX_DB = -35;
/** The floor falls quickly to a quieter line and creeps up slowly (about 1 dB a second). */
const FLOOR_FALL = 0.2;
const FLOOR_RISE_DB_PER_FRAME = 0.02;
const FULL_SCALE_SQ = 32768 * 32768;

/** The squared PCM value of each mu-law byte: one table read per sample on every caller frame. */
const MULAW_ENERGY: Float64Array = Float64Array.from(MULAW_TO_PCM16, (s) => s * s);

/** Mean energy of a mu-law frame in dBFS (digital silence is about -120). */
export function frameEnergyDb(frame: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += MULAW_ENERGY[frame[i]!]!;
  return 10 * Math.log10(sum / (frame.length || 1) / FULL_SCALE_SQ + 1e-12);
}

export class EnergyVad {
  private readonly minSpeechFrames: number;
  private readonly minSilenceFrames: number;
  private floorDb = -50;
  private speaking = false;
  private run = 0;

  constructor(config: Pick<VadConfig, 'minSpeechS' | 'minSilenceS'>) {
    this.minSpeechFrames = Math.max(1, Math.round((config.minSpeechS * 1000) / FRAME_MS));
    this.minSilenceFrames = Math.max(1, Math.round((config.minSilenceS * 1000) / FRAME_MS));
  }

  get isSpeaking(): boolean {
    return this.speaking;
  }

  /** While speaking: true when the last frame was quiet (the turn may be ending). */
  get inTrailingQuiet(): boolean {
    return this.speaking && this.run > 0;
  }

  /** Frames of speech it takes to declare a start: the start lies this many frames back. */
  get startLagFrames(): number {
    return this.minSpeechFrames;
  }

  /** Feeds one 20 ms frame; returns the transition it caused, if any. */
  push(frame: Uint8Array): VadEvent | undefined {
    const db = frameEnergyDb(frame);
    if (!this.speaking) {
      const loud = db > Math.max(MIN_SPEECH_DB, this.floorDb + START_MARGIN_DB);
      this.run = loud ? this.run + 1 : 0;
      if (!loud) this.trackFloor(db);
      if (this.run >= this.minSpeechFrames) return this.flip(true);
      return undefined;
    }
    const quiet = db <= Math.max(MIN_SPEECH_DB, this.floorDb + CONTINUE_MARGIN_DB);
    this.run = quiet ? this.run + 1 : 0;
    if (this.run >= this.minSilenceFrames) return this.flip(false);
    return undefined;
  }

  private flip(speaking: boolean): VadEvent {
    this.speaking = speaking;
    this.run = 0;
    return speaking ? 'speech_start' : 'speech_end';
  }

  private trackFloor(db: number): void {
    const next = db < this.floorDb ? this.floorDb + (db - this.floorDb) * FLOOR_FALL : this.floorDb + FLOOR_RISE_DB_PER_FRAME;
    this.floorDb = Math.min(FLOOR_MAX_DB, Math.max(FLOOR_MIN_DB, next));
  }
}
