// The benchmark's search for the largest load within the goals (test/benchmark/lib/find-max.ts):
// which steps it runs and what it answers. Each "run" here is a table lookup, not a load run.
import { expect } from 'chai';
import { findLargest, type StepVerdict } from '../benchmark/lib/find-max.js';

/** A search whose run at N calls is judged by `verdicts[N]` (ok when absent). */
function searchOver(verdicts: Record<number, StepVerdict>, start: number, step: number, max: number) {
  const ran: number[] = [];
  const told: number[] = [];
  const outcome = findLargest({
    start,
    step,
    max,
    run: async (calls) => (ran.push(calls), calls),
    judge: (calls) => verdicts[calls] ?? { ok: true },
    onStep: (s) => told.push(s.calls),
  });
  return { outcome, ran, told };
}

describe('bench: the search for the largest load within the goals', () => {
  it('steps up until a step misses a goal, and answers the step before it', async () => {
    const { outcome, ran, told } = searchOver({ 40: { ok: false, why: '3 frames lost' } }, 10, 10, 100);
    const result = await outcome;
    expect(ran).to.deep.equal([10, 20, 30, 40]);
    expect(told).to.deep.equal(ran);
    expect(result.largest).to.equal(30);
    expect(result.stoppedBecause).to.equal('40 calls: 3 frames lost');
  });

  it('stops at a step that passes with the CPU saturated, and answers that step', async () => {
    const result = await searchOver({ 30: { ok: true, saturated: 'machine 95 % busy' } }, 10, 10, 100).outcome;
    expect(result.steps.map((s) => s.calls)).to.deep.equal([10, 20, 30]);
    expect(result.largest).to.equal(30);
    expect(result.stoppedBecause).to.equal('30 calls: machine 95 % busy');
  });

  it('answers nothing when the first step already fails', async () => {
    const result = await searchOver({ 10: { ok: false, why: 'run broke' } }, 10, 10, 100).outcome;
    expect(result.largest).to.equal(undefined);
    expect(result.steps).to.have.length(1);
  });

  it('never runs past the largest step asked for, and runs that step itself', async () => {
    const { outcome, ran } = searchOver({}, 10, 30, 60);
    const result = await outcome;
    expect(ran).to.deep.equal([10, 40, 60]);
    expect(result.largest).to.equal(60);
    expect(result.stoppedBecause).to.match(/largest step asked for \(60 calls\)/);
  });

  it('refuses a search that cannot step', async () => {
    let error: unknown;
    await findLargest({ start: 10, step: 0, max: 20, run: async () => 0, judge: () => ({ ok: true }) }).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(RangeError);
  });
});
