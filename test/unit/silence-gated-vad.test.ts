// The silence gate in front of the pipeline's VAD (src/agents/livekit/silence-gated-vad.ts): which
// of the caller's frames the model hears, and in what order, with no model involved.
import { AudioFrame } from '@livekit/rtc-node';
import { expect } from 'chai';
import { GATE_OPEN_DB, pcmEnergyDb, SilenceGate } from '../../src/agents/livekit/silence-gated-vad.js';

/** 100 ms at 8 kHz, as the pipeline's input hands the framework the caller's audio. */
const SAMPLES = 800;
const TIMING = { minSilenceMs: 600, prefixPaddingMs: 200 };

/** A frame whose every sample has `value`; `id` tells frames apart. */
function frame(value: number, id = 0): AudioFrame & { id: number } {
  return Object.assign(new AudioFrame(new Int16Array(SAMPLES).fill(value), 8000, 1, SAMPLES), { id });
}
const quiet = (id = 0) => frame(0, id);
/** -30 dBFS: a caller speaking. */
const loud = (id = 0) => frame(1036, id);

function heard(gate: SilenceGate, frames: AudioFrame[]): number[] {
  const passed: number[] = [];
  for (const f of frames) gate.admit(f, (p) => passed.push((p as AudioFrame & { id: number }).id));
  return passed;
}
const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

describe('SilenceGate', () => {
  it('hands the model the quiet audio up to the end-of-speech silence and a margin, then nothing', () => {
    const gate = new SilenceGate(TIMING);
    // 600 ms of the VAD's silence + 200 ms: the first 8 frames of quiet reach the model.
    expect(heard(gate, ids(1, 30).map(quiet))).to.deep.equal(ids(1, 8));
    expect(gate.isOpen).to.equal(false);
  });

  it('reopens on a frame that may be speech, the quiet audio before it first, in order', () => {
    const gate = new SilenceGate(TIMING);
    heard(gate, ids(1, 30).map(quiet));
    // Held back: the prefix padding (200 ms) and 300 ms of context, 5 frames before the loud one.
    expect(heard(gate, [loud(31), loud(32)])).to.deep.equal([26, 27, 28, 29, 30, 31, 32]);
    expect(gate.isOpen).to.equal(true);
  });

  it('never closes while the caller is speaking by the VAD, however quiet the line', () => {
    const gate = new SilenceGate(TIMING);
    gate.speaking = true;
    expect(heard(gate, ids(1, 50).map(quiet))).to.deep.equal(ids(1, 50));
    gate.speaking = false;
    expect(heard(gate, [quiet(51)])).to.deep.equal([51]);
    expect(gate.isOpen).to.equal(false);
  });

  it('counts the quiet from the last frame that may be speech', () => {
    const gate = new SilenceGate(TIMING);
    const frames = [...ids(1, 7).map(quiet), loud(8), ...ids(9, 10).map(quiet)];
    expect(heard(gate, frames)).to.deep.equal(ids(1, 16));
  });

  it('takes a faint frame, 5 dB over the gate, for possible speech', () => {
    const faint = Math.round(32768 * 10 ** ((GATE_OPEN_DB + 5) / 20));
    expect(pcmEnergyDb(frame(faint))).to.be.within(GATE_OPEN_DB + 4, GATE_OPEN_DB + 6);
    const gate = new SilenceGate(TIMING);
    heard(gate, ids(1, 30).map(quiet));
    expect(heard(gate, [frame(faint, 31)])).to.include(31);
  });

  it('gives nothing held from before a flush after it', () => {
    const gate = new SilenceGate(TIMING);
    heard(gate, ids(1, 30).map(quiet));
    gate.reset();
    expect(heard(gate, [quiet(31), loud(32)])).to.deep.equal([31, 32]);
  });
});
