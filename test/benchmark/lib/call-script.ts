// What each simulated caller says, on a loop: a speech fixture, then enough silence for the
// agent's VAD to end the turn. Frames and their base64 are computed once and shared by all calls.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMulawWav } from '../../../src/audio/wav-io.js';
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE } from '../../../src/twilio/protocol.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../../../fixtures/speech/', import.meta.url));
/** Silence after each utterance: over the VAD's 0.6 s end-of-turn window, so every turn is answered. */
export const SILENCE_AFTER_SPEECH_MS = 1200;

export interface CallScript {
  name: string;
  /** One 160-byte mu-law frame per 20 ms. */
  frames: Buffer[];
  /** The same frames in base64, ready for `media.payload`. */
  payloads: string[];
}

/** Cuts mu-law into 20 ms frames; a short last frame is padded with silence, as on a phone line. */
function toFrames(mulaw: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at < mulaw.length; at += FRAME_BYTES) {
    const frame = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
    mulaw.copy(frame, 0, at, Math.min(at + FRAME_BYTES, mulaw.length));
    frames.push(frame);
  }
  return frames;
}

function script(name: string, speech: Buffer): CallScript {
  const silence = Buffer.alloc((SILENCE_AFTER_SPEECH_MS / FRAME_MS) * FRAME_BYTES, MULAW_SILENCE);
  const frames = toFrames(Buffer.concat([speech, silence]));
  return { name, frames, payloads: frames.map((f) => f.toString('base64')) };
}

/** One script per `caller-*.wav` fixture, in name order. */
export async function loadCallScripts(dir = FIXTURE_DIR): Promise<CallScript[]> {
  const files = (await readdir(dir)).filter((f) => /^caller-.*\.wav$/.test(f)).sort();
  if (files.length === 0) throw new Error(`no caller-*.wav fixtures in ${dir}`);
  return Promise.all(files.map(async (f) => script(f, await readMulawWav(path.join(dir, f)))));
}
