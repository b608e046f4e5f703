import { expect } from 'chai';
import { MulawLane } from '../../src/audio/mulaw-lane.js';
import { MULAW_TO_PCM16 } from '../../src/audio/mulaw.js';

/** Mu-law bytes 0x10, 0x11, ... (never silence), `n` of them. */
const ramp = (n: number, first = 0x10): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (first + i) % 0x7f));

/** Marks slots decodeInto must leave alone: the other channel's, and those past the lane's end. */
const UNTOUCHED = 12345;

/** The lane's samples [from, to) decoded, through decodeInto's interleaving (every other slot). */
function decoded(lane: MulawLane, from: number, to: number): number[] {
  const pcm = new Int16Array((to - from) * 2).fill(UNTOUCHED);
  lane.decodeInto(pcm, 1, from, to);
  for (let i = 0; i < pcm.length; i += 2) expect(pcm[i], `slot ${i} belongs to the other channel`).to.equal(UNTOUCHED);
  return Array.from(pcm.filter((_, i) => i % 2 === 1));
}

const X = UNTOUCHED;

const pcmOf = (bytes: Uint8Array): number[] => Array.from(bytes, (b) => MULAW_TO_PCM16[b]!);

describe('MulawLane', () => {
  it('reads never-written samples as silence and places writes at their sample', () => {
    const lane = new MulawLane(16);
    lane.write(ramp(4), 6);
    expect(lane.end).to.equal(10);
    expect(decoded(lane, 0, 12)).to.deep.equal([0, 0, 0, 0, 0, 0, ...pcmOf(ramp(4)), X, X]);
  });

  it('grows past its first size and keeps what it held', () => {
    const lane = new MulawLane(4);
    lane.write(ramp(4), 0);
    lane.write(ramp(6, 0x30), 10);
    expect(lane.capacity).to.be.at.least(16);
    expect(decoded(lane, 0, 16)).to.deep.equal([...pcmOf(ramp(4)), 0, 0, 0, 0, 0, 0, ...pcmOf(ramp(6, 0x30))]);
  });

  it('lets a later write win where two overlap, and skips the head of a write', () => {
    const lane = new MulawLane(16);
    lane.write(ramp(8), 0);
    lane.write(ramp(4, 0x40), 6, 2); // samples 8..9 only
    expect(decoded(lane, 0, 10)).to.deep.equal([...pcmOf(ramp(8)), ...pcmOf(ramp(4, 0x40).subarray(2))]);
  });

  it('truncates: silences from the cut on and ends there', () => {
    const lane = new MulawLane(16);
    lane.write(ramp(10), 0);
    lane.truncate(6);
    expect(lane.end).to.equal(6);
    expect(decoded(lane, 0, 10)).to.deep.equal([...pcmOf(ramp(6)), X, X, X, X]);
    lane.write(ramp(2, 0x50), 8);
    expect(decoded(lane, 6, 10)).to.deep.equal([0, 0, ...pcmOf(ramp(2, 0x50))]);
  });

  it('advances: drops the head, keeps the rest at its sample, silences what was vacated', () => {
    const lane = new MulawLane(8);
    lane.write(ramp(8), 0);
    lane.advance(5);
    expect(lane.start).to.equal(5);
    expect(decoded(lane, 5, 8)).to.deep.equal(pcmOf(ramp(8).subarray(5)));
    lane.write(ramp(3, 0x60), 10);
    expect(decoded(lane, 5, 13)).to.deep.equal([...pcmOf(ramp(8).subarray(5)), 0, 0, ...pcmOf(ramp(3, 0x60))]);
    lane.advance(20);
    expect(lane.end).to.equal(20);
    lane.write(ramp(1, 0x70), 21);
    expect(decoded(lane, 20, 22)).to.deep.equal([0, ...pcmOf(ramp(1, 0x70))]);
  });
});
