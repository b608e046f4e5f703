// The fleet channel's promises: every member, the sender included, gets every message once, all
// in one order; unsubscribing stops delivery; membership follows workers joining and dying.
import { expect } from 'chai';
import { LocalChannel } from '../../src/fleet/channel.js';
import { settle, startTestFleet, type TestFleet } from '../helpers/ipc-link.js';

describe('fleet channel', () => {
  describe('LocalChannel (one process)', () => {
    it('delivers to the sender synchronously, once, and stops after unsubscribe', () => {
      const channel = new LocalChannel({ memberId: 'solo' });
      const got: Array<[unknown, string]> = [];
      const off = channel.subscribe('t', (payload, from) => got.push([payload, from]));
      channel.publish('t', { n: 1 });
      expect(got).to.deep.equal([[{ n: 1 }, 'solo']]);
      off();
      off();
      channel.publish('t', { n: 2 });
      expect(got).to.have.length(1);
      expect(channel.members()).to.deep.equal(['solo']);
    });

    it('a throwing handler is reported and the others still hear the message', () => {
      const errors: string[] = [];
      const channel = new LocalChannel({ onHandlerError: (topic, err) => errors.push(`${topic}: ${err.message}`) });
      const got: unknown[] = [];
      channel.subscribe('t', () => {
        throw new Error('boom');
      });
      channel.subscribe('t', (payload) => got.push(payload));
      channel.publish('t', 'x');
      expect(got).to.deep.equal(['x']);
      expect(errors).to.deep.equal(['t: boom']);
    });
  });

  describe('ClusterChannel through the primary\'s relay', () => {
    let fleet: TestFleet;
    beforeEach(async () => (fleet = await startTestFleet(3)));
    afterEach(() => fleet.close());

    it('every member, the senders included, sees every message once and in one and the same order', async () => {
      const seen = fleet.channels.map(() => [] as string[]);
      fleet.channels.forEach((channel, i) => channel.subscribe<string>('t', (payload, from) => seen[i]!.push(`${from}:${payload}`)));
      // All three publish at once, interleaved: the relay picks one order for everyone.
      for (let n = 0; n < 50; n++) for (const channel of fleet.channels) channel.publish('t', String(n));
      await settle(20);
      expect(seen[0]).to.have.length(150);
      expect(new Set(seen[0]).size).to.equal(150);
      expect(seen[1]).to.deep.equal(seen[0]);
      expect(seen[2]).to.deep.equal(seen[0]);
      // Each sender's own messages keep the order it sent them in.
      const fromFirst = seen[0]!.filter((m) => m.startsWith('worker-1:')).map((m) => Number(m.split(':')[1]));
      expect(fromFirst).to.deep.equal([...Array(50).keys()]);
    });

    it('the sender hears its own message only when the relay sends it back (so in the common order)', async () => {
      const got: string[] = [];
      fleet.channels[0]!.subscribe<string>('t', (payload) => got.push(payload));
      fleet.channels[0]!.publish('t', 'mine');
      expect(got).to.deep.equal([]);
      await settle();
      expect(got).to.deep.equal(['mine']);
    });

    it('stops delivering to a handler that unsubscribed, and only to it', async () => {
      const a: string[] = [];
      const b: string[] = [];
      const offA = fleet.channels[1]!.subscribe<string>('t', (p) => a.push(p));
      fleet.channels[1]!.subscribe<string>('t', (p) => b.push(p));
      fleet.channels[0]!.publish('t', 'one');
      await settle();
      offA();
      fleet.channels[0]!.publish('t', 'two');
      await settle();
      expect(a).to.deep.equal(['one']);
      expect(b).to.deep.equal(['one', 'two']);
    });

    it('tells every member when a worker dies, and the dead one gets nothing more', async () => {
      const lists: Array<readonly string[]> = [];
      fleet.channels[0]!.watchMembers((members) => lists.push(members));
      const deadGot: string[] = [];
      fleet.channels[2]!.subscribe<string>('t', (p) => deadGot.push(p));
      fleet.kill(2);
      fleet.channels[0]!.publish('t', 'after');
      await settle();
      expect(lists.at(-1)).to.deep.equal(['worker-1', 'worker-2']);
      expect(fleet.channels[1]!.members()).to.deep.equal(['worker-1', 'worker-2']);
      expect(deadGot).to.deep.equal([]);
    });
  });
});
