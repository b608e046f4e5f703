// The rules that put one call's status callbacks in order, over a call's sequence row as the store
// locked it. The stores apply them (test/integration/lib/store-suite.ts); StatusCallbacks over
// real stores shows the whole (test/integration/status-callbacks.test.ts).
import { expect } from 'chai';
import { decideNext, decideOffer, type CallbackSequence } from '../../src/tasks/callback-order.js';

const NOW = 1_000_000;
const HOLD_MS = 2000;
const fresh: CallbackSequence = { nextSeq: 0, lease: undefined, flushThrough: undefined };
const at = (nextSeq: number, extra: Partial<CallbackSequence> = {}): CallbackSequence => ({ ...fresh, nextSeq, ...extra });
const leased = (seq: number, untilMs: number) => ({ holder: 'h', seq, untilMs });

describe('tasks/callback-order rules', () => {
  it('applies the expected callback, holds an early one, and drops an older one or a duplicate', () => {
    expect(decideOffer(fresh, 0, false, NOW)).to.equal('apply');
    expect(decideOffer(fresh, 2, false, NOW)).to.equal('hold');
    expect(decideOffer(at(3), 1, false, NOW)).to.equal('stale');
    expect(decideOffer(at(3), 5, true, NOW)).to.equal('stale');
  });

  it('while a callback is applied under a live lease: holds later ones, drops it again and older ones', () => {
    const busy = at(2, { lease: leased(4, NOW + 1) });
    expect(decideOffer(busy, 4, false, NOW)).to.equal('stale');
    expect(decideOffer(busy, 3, false, NOW)).to.equal('stale');
    expect(decideOffer(busy, 5, false, NOW)).to.equal('hold');
    expect(decideOffer(at(2, { lease: leased(2, NOW + 1) }), 2, false, NOW)).to.equal('stale');
  });

  it('ignores an expired lease: its holder died, the expected callback is applied again', () => {
    expect(decideOffer(at(2, { lease: leased(2, NOW) }), 2, false, NOW)).to.equal('apply');
  });

  it('hands on the next held callback when it is expected, and waits for the hold otherwise', () => {
    expect(decideNext(at(3), undefined, NOW, HOLD_MS)).to.equal('none');
    expect(decideNext(at(3), { firstSeq: 3, lastSeq: 5, oldestHeldAtMs: NOW }, NOW, HOLD_MS)).to.deep.equal({ take: 3, flushThrough: undefined });
    expect(decideNext(at(3), { firstSeq: 5, lastSeq: 5, oldestHeldAtMs: NOW - 500 }, NOW, HOLD_MS)).to.deep.equal({ waitMs: 1500 });
  });

  it('once the oldest hold expires, lets everything held then go out in order, gaps and all', () => {
    const expired = decideNext(at(1), { firstSeq: 3, lastSeq: 7, oldestHeldAtMs: NOW - HOLD_MS }, NOW, HOLD_MS);
    expect(expired).to.deep.equal({ take: 3, flushThrough: 7 });
    // After 3, 5 is next held: within the flush, it goes too; 9 (held later) waits for its own hold.
    expect(decideNext(at(4, { flushThrough: 7 }), { firstSeq: 5, lastSeq: 9, oldestHeldAtMs: NOW - 10 }, NOW, HOLD_MS)).to.deep.equal({ take: 5, flushThrough: 7 });
    expect(decideNext(at(8, { flushThrough: 7 }), { firstSeq: 9, lastSeq: 9, oldestHeldAtMs: NOW - 10 }, NOW, HOLD_MS)).to.deep.equal({ waitMs: 1990 });
  });
});
