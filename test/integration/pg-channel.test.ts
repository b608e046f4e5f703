import { expect } from 'chai';
import { openPgChannel, type PgChannel } from '../../src/fleet/pg-channel.js';
import { eventually } from '../helpers/task-api.js';
import { freshDatabase, query } from '../helpers/postgres.js';

interface Seen {
  topic: string;
  payload: unknown;
  from: string;
}

describe('PostgreSQL fleet channel (LISTEN/NOTIFY)', function () {
  this.timeout(20_000);
  let url: string;
  let channels: PgChannel[];
  let errors: string[];

  const join = async (memberId: string, membersPollMs?: number): Promise<PgChannel> => {
    const channel = await openPgChannel(url, { memberId, membersPollMs, onError: (what, error) => errors.push(`${memberId}: ${what}: ${error.message}`) });
    channels.push(channel);
    return channel;
  };
  /** Everything `channel` hears on `topics`, in order. */
  const record = (channel: PgChannel, ...topics: string[]): Seen[] => {
    const seen: Seen[] = [];
    for (const topic of topics) channel.subscribe(topic, (payload, from) => seen.push({ topic, payload, from }));
    return seen;
  };

  beforeEach(async () => {
    url = await freshDatabase();
    channels = [];
    errors = [];
  });

  afterEach(async () => {
    await Promise.all(channels.map((c) => c.close()));
    expect(errors).to.deep.equal([]);
  });

  it('delivers every message to every member, the sender included, once each and in one order', async () => {
    const members = [await join('a'), await join('b'), await join('c')];
    const seen = members.map((m) => record(m, 'events'));
    // All three publish at once, interleaved: the order is the database's, the same for everyone.
    for (let i = 0; i < 30; i++) members[i % 3]!.publish('events', { n: i, by: members[i % 3]!.memberId });
    await eventually(() => (seen.every((s) => s.length >= 30) ? true : undefined), 10_000, 'all 30 messages everywhere');
    await new Promise((resolve) => setTimeout(resolve, 200)); // no late duplicates either
    for (const s of seen) expect(s).to.deep.equal(seen[0]);
    expect(seen[0]).to.have.length(30);
    expect(new Set(seen[0]!.map((m) => (m.payload as { n: number }).n)).size).to.equal(30);
    // Each member's own messages keep the order it sent them in.
    for (const member of members) {
      const own = seen[0]!.filter((m) => m.from === member.memberId).map((m) => (m.payload as { n: number }).n);
      expect(own).to.deep.equal([...own].sort((x, y) => x - y));
    }
  });

  it('carries a payload too big for NOTIFY through the table, in its place among the small ones', async () => {
    const [a, b] = [await join('a'), await join('b')];
    const seen = record(b, 'big');
    const big = { text: 'é'.repeat(20_000) };
    a.publish('big', 1);
    a.publish('big', big);
    a.publish('big', 3);
    await eventually(() => (seen.length >= 3 ? true : undefined), 10_000, 'three messages');
    expect(seen.map((m) => m.payload)).to.deep.equal([1, big, 3]);
    expect(await query(url, 'SELECT count(*)::int AS n FROM fleet_messages')).to.deep.equal([{ n: 1 }]);
  });

  it('lists the members alive, and drops one that leaves or whose connection dies', async () => {
    const a = await join('a', 200);
    const changes: string[][] = [];
    a.watchMembers((members) => changes.push([...members]));
    const b = await join('b');
    const c = await join('c');
    await eventually(() => (a.members().length === 3 ? true : undefined), 5000, 'three members');
    expect(a.members()).to.deep.equal(['a', 'b', 'c']);

    await b.close();
    await eventually(() => (a.members().length === 2 ? true : undefined), 5000, 'b gone');
    expect(a.members()).to.deep.equal(['a', 'c']);

    // c crashes: its connections are cut without a word; the lock goes with them.
    await query(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'telephony-gateway fleet c'");
    await eventually(() => (a.members().length === 1 ? true : undefined), 5000, 'c gone');
    expect(a.members()).to.deep.equal(['a']);
    expect(changes.at(-1)).to.deep.equal(['a']);
    channels = channels.filter((ch) => ch !== c);
    await c.close();
    errors = errors.filter((e) => !e.startsWith('c:'));
  });

  it('refuses a member id a live member holds', async () => {
    await join('a');
    let refused: unknown;
    await join('a').catch((error: unknown) => (refused = error));
    expect((refused as Error).message).to.match(/already taken/);
  });

  it('drops what is published after close, without throwing, and unsubscribes', async () => {
    const [a, b] = [await join('a'), await join('b')];
    const seen: unknown[] = [];
    const off = b.subscribe('t', (payload) => seen.push(payload));
    a.publish('t', 1);
    await eventually(() => (seen.length === 1 ? true : undefined), 5000, 'the first message');
    off();
    off();
    a.publish('t', 2);
    await a.close();
    expect(() => a.publish('t', 3)).not.to.throw();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen).to.deep.equal([1]);
  });
});
