import { expect } from 'chai';
import { CallbackOrder } from '../../src/tasks/callback-order.js';

type Item = { sequenceNumber: number | undefined; name: string };
const item = (sequenceNumber: number | undefined, name = String(sequenceNumber)): Item => ({ sequenceNumber, name });

describe('tasks/CallbackOrder', () => {
  let order: CallbackOrder<Item>;
  let released: string[];
  let stale: string[];
  const accept = (i: Item, call = 'CA1') => order.accept(call, i, (x) => released.push(`${call}:${x.name}`));

  beforeEach(() => {
    released = [];
    stale = [];
    order = new CallbackOrder<Item>(60, (_call, i) => stale.push(i.name));
  });
  afterEach(() => order.close());

  it('releases callbacks in sequence order, holding early ones until the gap fills', () => {
    accept(item(0));
    accept(item(3));
    accept(item(1));
    expect(released).to.deep.equal(['CA1:0', 'CA1:1']);
    accept(item(2));
    expect(released).to.deep.equal(['CA1:0', 'CA1:1', 'CA1:2', 'CA1:3']);
  });

  it('drops duplicates and callbacks older than one released', () => {
    accept(item(0));
    accept(item(1));
    accept(item(1, 'again'));
    accept(item(0, 'late'));
    expect(released).to.deep.equal(['CA1:0', 'CA1:1']);
    expect(stale).to.deep.equal(['again', 'late']);
  });

  it('releases what it holds, in order, once the wait is over', async () => {
    accept(item(3));
    accept(item(1));
    expect(released).to.deep.equal([]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(released).to.deep.equal(['CA1:1', 'CA1:3']);
    accept(item(2));
    expect(stale).to.deep.equal(['2']);
  });

  it('keeps calls apart and releases unnumbered callbacks at once', () => {
    accept(item(1), 'CA1');
    accept(item(0), 'CA2');
    accept(item(undefined, 'amd'), 'CA1');
    expect(released).to.deep.equal(['CA2:0', 'CA1:amd']);
  });
});
