import { expect } from 'chai';
import { MixBlockPool } from '../../src/audio/mix-blocks.js';

describe('MixBlockPool', () => {
  it('hands a block given back to the next taker of its size, whoever took it first', () => {
    const pool = new MixBlockPool(4);
    const first = pool.take(8);
    pool.give(first.subarray(0, 3));
    expect(pool.spareCount(8)).to.equal(1);
    const again = pool.take(8);
    expect(again.buffer).to.equal(first.buffer);
    expect(again.length, 'the whole block, not the view that came back').to.equal(8);
    expect(pool.spareCount(8)).to.equal(0);
  });

  it('makes a new block when none is spare, and keeps sizes apart', () => {
    const pool = new MixBlockPool(4);
    const small = pool.take(8);
    pool.give(small);
    const large = pool.take(16);
    expect(large.buffer).to.not.equal(small.buffer);
    expect(large.length).to.equal(16);
    expect(pool.spareCount(8)).to.equal(1);
  });

  it('ignores blocks it did not make, and a block given back twice', () => {
    const pool = new MixBlockPool(4);
    pool.give(new Int32Array(8));
    pool.give(Buffer.alloc(32));
    expect(pool.spareCount(8)).to.equal(0);
    const block = pool.take(8);
    pool.give(block);
    pool.give(block);
    expect(pool.spareCount(8)).to.equal(1);
    expect(pool.take(8).buffer).to.equal(block.buffer);
    expect(pool.take(8).buffer, 'the second take is a new block').to.not.equal(block.buffer);
  });

  it('keeps at most its limit of spares per size', () => {
    const pool = new MixBlockPool(2);
    const blocks = [pool.take(8), pool.take(8), pool.take(8)];
    for (const block of blocks) pool.give(block);
    expect(pool.spareCount(8)).to.equal(2);
  });
});
