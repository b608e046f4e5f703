import { expect } from 'chai';
import { JITTER, retryDelayMs } from '../../src/persistence/backoff.js';

describe('persistence retry backoff', () => {
  const policy = { minMs: 1000, maxMs: 300_000 };

  it('doubles from the first delay up to the longest, without jitter at random 0', () => {
    const delays = Array.from({ length: 12 }, (_, i) => retryDelayMs(i + 1, policy, () => 0));
    expect(delays).to.deep.equal([1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000]);
  });

  it('adds at most a fifth at random, so records that failed together spread out', () => {
    expect(JITTER).to.equal(0.2);
    expect(retryDelayMs(1, policy, () => 0.5)).to.equal(1100);
    expect(retryDelayMs(3, policy, () => 0.999_999)).to.equal(4800);
    expect(retryDelayMs(50, policy, () => 0.999_999)).to.equal(360_000);
  });

  it('stays finite however many attempts were made', () => {
    expect(retryDelayMs(10_000, policy, () => 0)).to.equal(300_000);
    expect(retryDelayMs(0, policy, () => 0)).to.equal(1000);
  });
});
