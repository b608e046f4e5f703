// One behaviour for every TaskStore engine: this suite defines the tests, each engine's test file
// runs it with its own way to make an empty place (a directory, a database) and open stores on it.
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CallAnalysis, Task } from '../../../src/tasks/model.js';
import { InvalidCursorError, InvalidTransitionError, TaskNotFoundError } from '../../../src/tasks/store.js';
import type { CallbackLease, CallbackOffer, CallbackTurn, TaskStore } from '../../../src/tasks/store.js';
import { storesPerTest, type StoreEngineOf } from './store-engine.js';

export type StoreEngine = StoreEngineOf<TaskStore>;

export const TO = '+14155550123';
export const FROM = '+14155550100';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function defineStoreSuite(engine: StoreEngine): void {
  const stores = storesPerTest(engine);
  const open = stores.open;
  let store: TaskStore;
  beforeEach(() => (store = stores.first));

  describe('create and get', () => {
    it('stores a task in status created with one history entry', async () => {
      const metadata = { customer: { id: 7, name: 'Ada' }, tags: ['a'], z: 1, a: 2 };
      const task = await store.create({ to: TO, from: FROM, prompt: 'Book a table', greeting: 'Hello!', metadata });
      expect(task.id).to.match(/^task_[0-9a-f]{32}$/);
      expect(task).to.deep.include({ to: TO, from: FROM, prompt: 'Book a table', greeting: 'Hello!', status: 'created' });
      // Byte for byte as given, key order included: the API serves it back as the operator wrote it.
      expect(JSON.stringify(task.metadata)).to.equal(JSON.stringify(metadata));
      expect(task.createdAt).to.match(ISO);
      expect(task.updatedAt).to.equal(task.createdAt);
      expect(task.history).to.deep.equal([{ status: 'created', at: task.createdAt }]);
      expect(task.transcript).to.deep.equal([]);
      expect(await store.get(task.id)).to.deep.equal(task);
    });

    it('keeps the clock\'s instant to the millisecond, as the API\'s ISO string', async () => {
      const at = new Date('2026-12-03T11:00:00.007Z');
      const pinned = await open({ now: () => at });
      const task = await pinned.create({ to: TO, from: FROM });
      expect(task.createdAt).to.equal('2026-12-03T11:00:00.007Z');
      expect(task.history[0]?.at).to.equal('2026-12-03T11:00:00.007Z');
    });

    it('leaves absent fields off the task', async () => {
      const task = await store.create({ to: TO, from: FROM });
      for (const key of ['prompt', 'greeting', 'metadata', 'callSid', 'dialedAt', 'analysis', 'recordingPath']) {
        expect(task, key).not.to.have.property(key);
      }
    });

    it('returns undefined for an unknown id', async () => {
      expect(await store.get('task_nope')).to.equal(undefined);
      expect(await store.get('task_\u0000')).to.equal(undefined);
    });
  });

  describe('transition', () => {
    it('records each change with its time and source, and stamps dialed, answered and ended', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.transition(id, 'queued', { callSid: 'CA123' }, 'dialer');
      await store.transition(id, 'ringing', {}, 'twilio-status');
      const answered = await store.transition(id, 'in-progress', { answeredBy: 'human' }, 'twilio-status');
      expect(answered.dialedAt).to.match(ISO);
      expect(answered.answeredAt).to.match(ISO);
      expect(answered).not.to.have.property('endedAt');

      const done = await store.transition(id, 'completed', { durationS: 42.5, endReason: 'caller-hangup' }, 'twilio-status');
      expect(done).to.deep.include({
        status: 'completed',
        callSid: 'CA123',
        answeredBy: 'human',
        durationS: 42.5,
        endReason: 'caller-hangup',
        dialedAt: answered.dialedAt,
        answeredAt: answered.answeredAt,
      });
      expect(done.endedAt).to.match(ISO);
      expect(done.history.map((h) => [h.status, h.source])).to.deep.equal([
        ['created', undefined],
        ['queued', 'dialer'],
        ['ringing', 'twilio-status'],
        ['in-progress', 'twilio-status'],
        ['completed', 'twilio-status'],
      ]);
      for (const change of done.history) expect(change.at).to.match(ISO);
      expect(done.history[0]).not.to.have.property('source');
    });

    it('refuses an invalid move and leaves the task unchanged', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.transition(id, 'queued');
      const before = await store.get(id);
      await expectRejection(store.transition(id, 'completed', { durationS: 3 }), InvalidTransitionError, /queued to completed/);
      expect(await store.get(id)).to.deep.equal(before);
      await store.transition(id, 'canceled');
      await expectRejection(store.transition(id, 'queued'), InvalidTransitionError);
    });

    it('rejects with TaskNotFoundError for an unknown id', async () => {
      await expectRejection(store.transition('task_nope', 'queued'), TaskNotFoundError);
    });

    it('does not stamp dialedAt on a task canceled before dialing', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      const canceled = await store.transition(id, 'canceled', { endReason: 'operator' }, 'api');
      expect(canceled).not.to.have.property('dialedAt');
      expect(canceled.endedAt).to.match(ISO);
    });
  });

  describe('update, transcript, analysis, findByCallSid', () => {
    it('updates only the fields given', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.update(id, { callSid: 'CA1' });
      const updated = await store.update(id, { recordingPath: 'recordings/task.wav' });
      expect(updated).to.deep.include({ callSid: 'CA1', recordingPath: 'recordings/task.wav', status: 'created' });
      expect(await store.get(id)).to.deep.equal(updated);
      await expectRejection(store.update('task_nope', { callSid: 'CA2' }), TaskNotFoundError);
    });

    it('appends transcript lines in order and keeps the interrupted flag', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.appendTranscript(id, { role: 'assistant', text: 'Hello, this is', atMs: 120, interrupted: true });
      await store.appendTranscript(id, { role: 'user', text: 'Who is this?', atMs: 1500.5 });
      await store.appendTranscript(id, { role: 'system', text: 'transfer requested', atMs: 2000 });
      expect((await store.get(id))?.transcript).to.deep.equal([
        { role: 'assistant', text: 'Hello, this is', atMs: 120, interrupted: true },
        { role: 'user', text: 'Who is this?', atMs: 1500.5 },
        { role: 'system', text: 'transfer requested', atMs: 2000 },
      ]);
      await expectRejection(store.appendTranscript('task_nope', { role: 'user', text: 'x', atMs: 0 }), TaskNotFoundError);
    });

    it('keeps the order lines were given in when they are not awaited one by one', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      const texts = Array.from({ length: 40 }, (_, i) => `line ${i}`);
      await Promise.all(texts.map((text, i) => store.appendTranscript(id, { role: i % 2 ? 'user' : 'assistant', text, atMs: i })));
      expect((await store.get(id))?.transcript.map((line) => line.text)).to.deep.equal(texts);
    });

    it('stores each analysis state', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      expect((await store.setAnalysis(id, { state: 'pending' })).analysis).to.deep.equal({ state: 'pending' });
      const analysis: CallAnalysis = {
        summary: 'Booked.',
        outcome: { goal_reached: true, explanation: 'Table for two at 7.' },
        sentiment: 'positive',
        action_items: ['Send confirmation SMS'],
        key_facts: { party_size: '2' },
      };
      const ready = await store.setAnalysis(id, { state: 'ready', analysis });
      expect(ready.analysis).to.deep.equal({ state: 'ready', analysis });
      expect((await store.get(id))?.analysis).to.deep.equal({ state: 'ready', analysis });
      const failed = { state: 'failed' as const, error: 'groq timed out' };
      expect((await store.setAnalysis(id, failed)).analysis).to.deep.equal(failed);
      await expectRejection(store.setAnalysis('task_nope', { state: 'pending' }), TaskNotFoundError);
    });

    it('finds a task by its call sid', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.transition(id, 'queued', { callSid: 'CAabc' });
      expect((await store.findByCallSid('CAabc'))?.id).to.equal(id);
      expect(await store.findByCallSid('CAother')).to.equal(undefined);
    });
  });

  describe('claimAnalysis', () => {
    const at = (iso: string) => new Date(iso);
    const T0 = '2025-01-01T00:00:00.000Z';
    const fresh = { staleBefore: at('2024-12-31T23:00:00.000Z'), retryFailed: false };
    /** Two store objects on one clock: this instance and another. */
    let mine: TaskStore;
    let other: TaskStore;
    let now: Date;

    beforeEach(async () => {
      now = at(T0);
      mine = await open({ now: () => now });
      other = await open({ now: () => now });
    });

    it('claims an analysis never started, once', async () => {
      const { id } = await mine.create({ to: TO, from: FROM });
      const claimed = await mine.claimAnalysis(id, fresh);
      expect(claimed?.id).to.equal(id);
      expect(claimed?.analysis).to.deep.equal({ state: 'pending' });
      expect(claimed?.updatedAt).to.equal(T0);
      expect(await other.claimAnalysis(id, fresh)).to.equal(undefined);
      expect((await other.get(id))?.analysis).to.deep.equal({ state: 'pending' });
    });

    it('takes over a pending analysis claimed before staleBefore, and only then', async () => {
      const { id } = await mine.create({ to: TO, from: FROM });
      expect(await mine.claimAnalysis(id, fresh)).not.to.equal(undefined);
      now = at('2025-01-01T00:10:00.000Z');
      // Claimed at T0: a window that starts at T0 still counts it as live...
      expect(await other.claimAnalysis(id, { staleBefore: at(T0), retryFailed: false })).to.equal(undefined);
      // ...one that starts after T0 finds it left behind by a dead process.
      const taken = await other.claimAnalysis(id, { staleBefore: at('2025-01-01T00:00:00.001Z'), retryFailed: false });
      expect(taken?.analysis).to.deep.equal({ state: 'pending' });
      // The takeover renewed the claim: it is fresh again.
      expect(await mine.claimAnalysis(id, { staleBefore: at('2025-01-01T00:09:59.999Z'), retryFailed: true })).to.equal(undefined);
    });

    it('treats a pending analysis nobody claimed (one left by a build before claims) as free to claim', async () => {
      const { id } = await mine.create({ to: TO, from: FROM });
      await mine.setAnalysis(id, { state: 'pending' });
      expect((await other.claimAnalysis(id, fresh))?.analysis).to.deep.equal({ state: 'pending' });
      expect(await mine.claimAnalysis(id, fresh)).to.equal(undefined);
    });

    it('starts a failed analysis over only when asked to retry, and never a ready one', async () => {
      const { id } = await mine.create({ to: TO, from: FROM });
      await mine.setAnalysis(id, { state: 'failed', error: 'groq timed out' });
      expect(await other.claimAnalysis(id, fresh)).to.equal(undefined);
      expect((await other.get(id))?.analysis).to.deep.equal({ state: 'failed', error: 'groq timed out' });
      expect((await other.claimAnalysis(id, { ...fresh, retryFailed: true }))?.analysis).to.deep.equal({ state: 'pending' });

      const ready = (await mine.create({ to: TO, from: FROM })).id;
      const analysis: CallAnalysis = { summary: 'x', outcome: { goal_reached: null, explanation: 'y' }, sentiment: 'neutral', action_items: [], key_facts: {} };
      await mine.setAnalysis(ready, { state: 'ready', analysis });
      expect(await mine.claimAnalysis(ready, { staleBefore: at('2030-01-01T00:00:00.000Z'), retryFailed: true })).to.equal(undefined);
    });

    it('rejects with TaskNotFoundError for an unknown task', async () => {
      await expectRejection(mine.claimAnalysis('task_nope', fresh), TaskNotFoundError);
    });
  });

  describe('list', () => {
    it('pages newest first with an opaque cursor, stable under equal creation times', async () => {
      // Pin the clock: five tasks share one timestamp, two have later ones.
      let now = new Date('2025-01-01T00:00:00.000Z');
      const pinned = await open({ now: () => now });
      const same: string[] = [];
      for (let i = 0; i < 5; i++) same.push((await pinned.create({ to: TO, from: FROM })).id);
      now = new Date('2025-01-01T00:00:01.000Z');
      const later = (await pinned.create({ to: TO, from: FROM })).id;
      now = new Date('2025-01-01T00:00:02.000Z');
      const latest = (await pinned.create({ to: TO, from: FROM })).id;

      const expected = [latest, later, ...[...same].sort().reverse()];
      const seen = await collectPages(pinned, 2);
      expect(seen.map((page) => page.length)).to.deep.equal([2, 2, 2, 1]);
      expect(seen.flat()).to.deep.equal(expected);
    });

    it('filters by status, paging within the filter', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await store.create({ to: TO, from: FROM })).id);
      for (const id of ids.slice(0, 3)) await store.transition(id, 'queued');
      expect((await collectPages(store, 2, 'queued')).flat()).to.have.members(ids.slice(0, 3));
      expect((await collectPages(store, 10, 'created')).flat()).to.have.members(ids.slice(3));
      expect(await store.list({ limit: 10, status: 'completed' })).to.deep.equal({ tasks: [] });
    });

    it('returns tasks with their history but not their transcript', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.transition(id, 'queued');
      await store.appendTranscript(id, { role: 'user', text: 'hi', atMs: 1 });
      const [task] = (await store.list({ limit: 1 })).tasks;
      const { transcript, ...summary } = (await store.get(id))!;
      expect(transcript).to.have.length(1);
      expect(task).to.deep.equal(summary);
      expect(task).not.to.have.property('transcript');
    });

    it('refuses a forged cursor and an out-of-range limit', async () => {
      await expectRejection(store.list({ limit: 10, cursor: 'not-a-cursor' }), InvalidCursorError);
      const forged = Buffer.from(JSON.stringify({ a: 1 })).toString('base64url');
      await expectRejection(store.list({ limit: 10, cursor: forged }), InvalidCursorError);
      await expectRejection(store.list({ limit: 0 }), RangeError);
      await expectRejection(store.list({ limit: 201 }), RangeError);
    });
  });

  describe('two stores on one database (two instances)', () => {
    it('lets one claimAnalysis win when both claim at once', async () => {
      const other = await open();
      for (let round = 0; round < 20; round++) {
        const { id } = await store.create({ to: TO, from: FROM });
        const claims = await Promise.all([store, other].map((s) => s.claimAnalysis(id, { staleBefore: new Date(0), retryFailed: false })));
        expect(claims.filter((c) => c !== undefined), `round ${round}`).to.have.length(1);
        expect(claims.find((c) => c !== undefined)?.analysis).to.deep.equal({ state: 'pending' });
      }
    });

    it('records a move once when both make it at once', async () => {
      const other = await open();
      for (let round = 0; round < 10; round++) {
        const { id } = await store.create({ to: TO, from: FROM });
        const moves = await Promise.allSettled([store, other].map((s) => s.transition(id, 'queued', {}, 'twilio-status')));
        expect(moves.filter((m) => m.status === 'fulfilled'), `round ${round}`).to.have.length(1);
        const refused = moves.find((m) => m.status === 'rejected');
        expect(refused?.reason).to.be.instanceOf(InvalidTransitionError);
        expect((await other.get(id))?.history.map((h) => h.status)).to.deep.equal(['created', 'queued']);
      }
    });

    it('shows each store what the other wrote', async () => {
      const other = await open();
      const { id } = await store.create({ to: TO, from: FROM });
      await other.appendTranscript(id, { role: 'user', text: 'hello from B', atMs: 5 });
      await other.transition(id, 'queued', { callSid: 'CAshared' }, 'dialer');
      expect((await store.findByCallSid('CAshared'))?.transcript).to.deep.equal([{ role: 'user', text: 'hello from B', atMs: 5 }]);
    });
  });

  describe('status callback order (two stores on one database)', () => {
    const CALL = 'CA' + 'c'.repeat(32);
    const timing = { holdMs: 60_000, leaseMs: 60_000 };
    const body = (seq: number) => ({ callSid: CALL, sequenceNumber: seq, callStatus: `status-${seq}` });
    const leaseOf = (offer: CallbackOffer) => {
      if (offer.outcome !== 'apply') expect.fail(`expected the lease, got ${offer.outcome}`);
      return offer.lease;
    };

    it('applies each callback once, in sequence order, whichever store it reaches: early ones held, duplicates and late ones stale', async () => {
      const other = await open();
      expect(await store.offerCallback(CALL, 2, body(2), timing)).to.deep.equal({ outcome: 'held' });
      const zero = leaseOf(await other.offerCallback(CALL, 0, body(0), timing));
      // A duplicate of the one being applied, and of the one held, on the other store.
      expect(await store.offerCallback(CALL, 0, body(0), timing)).to.deep.equal({ outcome: 'stale' });
      expect(await other.offerCallback(CALL, 2, body(2), timing)).to.deep.equal({ outcome: 'stale' });
      // 1 has not come: the lease is let go and 2 waits for its hold.
      const afterZero = await other.finishCallback(CALL, zero, timing, false);
      expect(afterZero.outcome).to.equal('wait');
      const one = leaseOf(await store.offerCallback(CALL, 1, body(1), timing));
      // Finishing 1 hands 2 on under the same lease, as it was held.
      const turn = await store.finishCallback(CALL, one, timing, false);
      expect(turn).to.deep.include({ outcome: 'apply', body: body(2) });
      expect(turn.outcome === 'apply' && turn.lease).to.deep.equal({ holder: one.holder, seq: 2 });
      expect(await store.offerCallback(CALL, 1, body(1), timing)).to.deep.equal({ outcome: 'stale' });
      expect(await store.finishCallback(CALL, (turn as { lease: CallbackLease }).lease, timing, false)).to.deep.equal({ outcome: 'done' });
      expect(await other.takeHeldCallback(CALL, timing)).to.deep.equal({ outcome: 'done' });
      expect(leaseOf(await other.offerCallback(CALL, 3, body(3), timing)).seq).to.equal(3);
    });

    it('of two stores offering the expected callback at once, one takes the lease', async () => {
      const other = await open();
      for (let round = 0; round < 10; round++) {
        const call = `${CALL}-${round}`;
        const offers = await Promise.all([store, other].map((s) => s.offerCallback(call, 0, body(0), timing)));
        expect(offers.map((o) => o.outcome).sort(), `round ${round}`).to.deep.equal(['apply', 'stale']);
      }
    });

    it('once a hold expires, releases everything held in order, gaps and all, and drops what comes late', async () => {
      const other = await open();
      await store.offerCallback(CALL, 5, body(5), timing);
      await other.offerCallback(CALL, 3, body(3), timing);
      expect((await store.takeHeldCallback(CALL, timing)).outcome).to.equal('wait');
      // Held long enough (a hold of 0 ms has expired for anything held).
      const expired = { ...timing, holdMs: 0 };
      const first: CallbackTurn = await store.takeHeldCallback(CALL, expired);
      expect(first).to.deep.include({ outcome: 'apply', body: body(3) });
      // Another process's timer meanwhile finds the lease taken.
      expect((await other.takeHeldCallback(CALL, expired)).outcome).to.equal('wait');
      // Older than the one being applied: too late. Between it and the last held: in the flush.
      expect(await other.offerCallback(CALL, 2, body(2), timing)).to.deep.equal({ outcome: 'stale' });
      expect(await other.offerCallback(CALL, 4, body(4), timing)).to.deep.equal({ outcome: 'held' });
      let turn = first;
      const applied = [3];
      while (turn.outcome === 'apply') {
        turn = await store.finishCallback(CALL, turn.lease, timing, false);
        if (turn.outcome === 'apply') applied.push(turn.body.sequenceNumber as number);
      }
      expect(applied).to.deep.equal([3, 4, 5]);
      expect(turn).to.deep.equal({ outcome: 'done' });
      expect(await other.offerCallback(CALL, 4, body(4), timing)).to.deep.equal({ outcome: 'stale' });
    });

    it('lets another store take over a lease whose holder died, once it expires; the dead holder\'s late finish changes nothing', async () => {
      const other = await open();
      const dead = leaseOf(await store.offerCallback(CALL, 0, body(0), { ...timing, leaseMs: 1 }));
      await sleep(50);
      const taken = leaseOf(await other.offerCallback(CALL, 0, body(0), timing));
      expect(taken.holder).not.to.equal(dead.holder);
      // A live lease is not taken over.
      expect(await store.offerCallback(CALL, 0, body(0), timing)).to.deep.equal({ outcome: 'stale' });
      expect(await store.finishCallback(CALL, dead, timing, false)).to.deep.equal({ outcome: 'done' });
      expect(await other.finishCallback(CALL, taken, timing, false)).to.deep.equal({ outcome: 'done' });
      expect(leaseOf(await store.offerCallback(CALL, 1, body(1), timing)).seq).to.equal(1);
    });

    it('drops a finished call\'s sequence and what is still held for it', async () => {
      const last = leaseOf(await store.offerCallback(CALL, 0, body(0), timing));
      await store.offerCallback(CALL, 2, body(2), timing);
      expect(await store.finishCallback(CALL, last, timing, true)).to.deep.equal({ outcome: 'done' });
      expect(await store.takeHeldCallback(CALL, { ...timing, holdMs: 0 })).to.deep.equal({ outcome: 'done' });
    });

    it('keeps calls apart', async () => {
      await store.offerCallback(CALL, 1, body(1), timing);
      expect((await store.offerCallback('CAother', 0, body(0), timing)).outcome).to.equal('apply');
      expect((await store.offerCallback(CALL, 1, body(1), timing)).outcome).to.equal('stale');
    });
  });

  describe('stream member', () => {
    it('records which member holds the stream, lists it, and clears it', async () => {
      const a = await store.create({ to: TO, from: FROM });
      const b = await store.create({ to: TO, from: FROM });
      expect(await store.setStreamMember(a.id, 'host-1')).to.equal(true);
      expect(await store.setStreamMember(b.id, 'host-2')).to.equal(true);
      expect(await store.streamMembers()).to.have.deep.members([
        { taskId: a.id, member: 'host-1' },
        { taskId: b.id, member: 'host-2' },
      ]);
      await store.setStreamMember(a.id, undefined);
      expect(await store.streamMembers()).to.deep.equal([{ taskId: b.id, member: 'host-2' }]);
      expect(await store.setStreamMember('no-such-task', 'host-1')).to.equal(false);
    });

    it('hands a lost member\'s task to one survivor when two take it over at once', async () => {
      const other = await open();
      for (let round = 0; round < 10; round++) {
        const { id } = await store.create({ to: TO, from: FROM });
        await store.setStreamMember(id, 'gone');
        const takes = await Promise.all([
          store.setStreamMember(id, 'survivor-a', { member: 'gone' }),
          other.setStreamMember(id, 'survivor-b', { member: 'gone' }),
        ]);
        expect(takes.filter(Boolean), `round ${round}`).to.have.length(1);
        const holder = (await store.streamMembers()).find((h) => h.taskId === id)?.member;
        expect(holder).to.equal(takes[0] ? 'survivor-a' : 'survivor-b');
      }
    });

    it('compares "held by nobody" as a condition too', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      expect(await store.setStreamMember(id, 'x', { member: 'y' })).to.equal(false);
      expect(await store.setStreamMember(id, 'x', { member: undefined })).to.equal(true);
      expect(await store.setStreamMember(id, 'z', { member: undefined })).to.equal(false);
    });
  });

  describe('restart', () => {
    it('keeps everything across a close and a reopen on the same database', async () => {
      const { id } = await store.create({ to: TO, from: FROM, metadata: { k: 'v' } });
      await store.transition(id, 'queued', { callSid: 'CA9' }, 'dialer');
      await store.transition(id, 'in-progress', {}, 'twilio-status');
      await store.appendTranscript(id, { role: 'user', text: 'still here', atMs: 10 });
      await store.claimAnalysis(id, { staleBefore: new Date(0), retryFailed: false });
      const before = (await store.get(id)) as Task;
      const listed = await store.list({ limit: 10 });
      await stores.close(store);

      store = await open();
      expect(await store.get(id)).to.deep.equal(before);
      expect(await store.list({ limit: 10 })).to.deep.equal(listed);
      expect((await store.findByCallSid('CA9'))?.id).to.equal(id);
      // The claim survived too: a restarted instance does not analyse the call again.
      expect(await store.claimAnalysis(id, { staleBefore: new Date(0), retryFailed: false })).to.equal(undefined);
    });
  });
}

async function expectRejection(promise: Promise<unknown>, type: new (...args: never[]) => Error, message?: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a rejection').to.be.instanceOf(type);
  if (message) expect((caught as Error).message).to.match(message);
}

async function collectPages(store: TaskStore, limit: number, status?: Task['status']): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ limit, ...(cursor ? { cursor } : {}), ...(status ? { status } : {}) });
    pages.push(page.tasks.map((t) => t.id));
    cursor = page.nextCursor;
  } while (cursor && pages.length < 50);
  return pages;
}
