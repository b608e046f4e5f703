import { expect } from 'chai';
import { MulawLane } from '../../src/audio/mulaw-lane.js';
import { MULAW_TO_PCM16 } from '../../src/audio/mulaw.js';

/** Mu-law bytes 0x10, 0x11, ... (never silence), `n` of them. */
const ramp = (n: number, first = 0x10): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (first + i) % 0x7f));

/** Stale content in a reused mix block: the mix must overwrite every word it is given. */
const STALE = 0x5a5a5a5a;

/** Little-endian PCM16 pairs of a mix, read back as a WAV reader would: [left, right] per sample. */
function stereo(words: Int32Array): Array<[number, number]> {
  const bytes = Buffer.from(words.buffer, words.byteOffset, words.byteLength);
  return Array.from({ length: words.length }, (_, i) => [bytes.readInt16LE(i * 4), bytes.readInt16LE(i * 4 + 2)]);
}

/** Two lanes mixed over [from, to), in a block that held other audio before. */
function mixed(left: MulawLane, right: MulawLane, from: number, to: number): Array<[number, number]> {
  const words = new Int32Array(to - from).fill(STALE);
  MulawLane.mixStereo(left, right, from, to, words);
  return stereo(words);
}

/** The lane's samples [from, to) decoded, as the right channel of a mix whose left is empty. */
function decoded(lane: MulawLane, from: number, to: number): number[] {
  const silent = new MulawLane(1);
  silent.advance(lane.start);
  return mixed(silent, lane, from, to).map(([left, right]) => {
    expect(left, 'the empty lane\'s channel').to.equal(0);
    return right;
  });
}

/** A sample past the lane's end: silence in the mix. */
const X = 0;

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

  describe('mixStereo', () => {
    it('puts the first lane on the left and the second on the right of each little-endian PCM16 pair', () => {
      const left = new MulawLane(8);
      const right = new MulawLane(8);
      // Loud samples of both signs: both bytes of each half must land where a WAV reader looks.
      const leftBytes = Buffer.from([0x05, 0x85, 0x30, 0xb0]);
      const rightBytes = Buffer.from([0x90, 0x10, 0xc5, 0x45]);
      left.write(leftBytes, 0);
      right.write(rightBytes, 0);
      const l = pcmOf(leftBytes);
      const r = pcmOf(rightBytes);
      expect(l.some((v) => v < -255) && l.some((v) => v > 255) && r.some((v) => v < -255) && r.some((v) => v > 255)).to.equal(true);
      expect(mixed(left, right, 0, 4)).to.deep.equal(l.map((v, i) => [v, r[i]]));
    });

    it('keeps the longer lane going, the shorter one silent past its end, and silences what neither holds', () => {
      const left = new MulawLane(16);
      const right = new MulawLane(16);
      left.write(ramp(6), 0);
      right.write(ramp(3, 0x40), 0);
      const l = pcmOf(ramp(6));
      const r = pcmOf(ramp(3, 0x40));
      expect(mixed(left, right, 0, 8)).to.deep.equal([[l[0], r[0]], [l[1], r[1]], [l[2], r[2]], [l[3], 0], [l[4], 0], [l[5], 0], [0, 0], [0, 0]]);
      expect(mixed(right, left, 0, 8)).to.deep.equal([[r[0], l[0]], [r[1], l[1]], [r[2], l[2]], [0, l[3]], [0, l[4]], [0, l[5]], [0, 0], [0, 0]]);
    });

    it('mixes from a position after both lanes advanced, and from inside a lane that ends early', () => {
      const left = new MulawLane(16);
      const right = new MulawLane(16);
      left.write(ramp(10), 0);
      right.write(ramp(4, 0x40), 0);
      left.advance(3);
      right.advance(3);
      const l = pcmOf(ramp(10));
      expect(mixed(left, right, 3, 7)).to.deep.equal([[l[3], pcmOf(ramp(4, 0x40))[3]], [l[4], 0], [l[5], 0], [l[6], 0]]);
      expect(mixed(left, right, 5, 6)).to.deep.equal([[l[5], 0]]);
    });
  });
});
