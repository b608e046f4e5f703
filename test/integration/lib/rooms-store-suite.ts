// One behaviour for every SessionStore engine: each engine's test file runs this suite with its
// own way to make an empty place (a directory, a database) and open stores on it.
import { expect } from 'chai';
import { InvalidSessionCursorError, SessionNotFoundError, type SessionStore } from '../../../src/rooms/store.js';
import { storesPerTest, type StoreEngineOf } from './store-engine.js';

export type SessionStoreEngine = StoreEngineOf<SessionStore>;

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function defineSessionStoreSuite(engine: SessionStoreEngine): void {
  const stores = storesPerTest(engine);
  const open = stores.open;
  let store: SessionStore;
  beforeEach(() => (store = stores.first));

  it('creates a session in state created and reads it back, metadata as written', async () => {
    const metadata = { z: 1, a: { b: [1, 'two', null] } };
    const { session, changed } = await store.create({ room: 'room-1', identity: 'ada', systemPrompt: 'Be brief.', greeting: 'Hi!', metadata });
    expect(changed).to.equal(true);
    expect(session.id).to.match(/^ses_[0-9a-f]{32}$/);
    expect(session).to.deep.include({ room: 'room-1', identity: 'ada', state: 'created', systemPrompt: 'Be brief.', greeting: 'Hi!', transcript: [] });
    expect(JSON.stringify(session.metadata)).to.equal(JSON.stringify(metadata));
    expect(session.createdAt).to.match(ISO);
    for (const key of ['dispatchId', 'startedAt', 'endedAt', 'endReason', 'participant', 'jobId', 'idempotencyKey']) expect(session, key).not.to.have.property(key);
    expect(await store.get(session.id)).to.deep.equal(session);
    expect(await store.get('ses_nope')).to.equal(undefined);
  });

  it('makes one session per idempotency key, across two stores on one database', async () => {
    const other = await open();
    const results = await Promise.all([store.create({ room: 'r', idempotencyKey: 'k-1' }), other.create({ room: 'r', idempotencyKey: 'k-1' })]);
    expect(results.map((r) => r.changed).sort()).to.deep.equal([false, true]);
    expect(results[0]!.session.id).to.equal(results[1]!.session.id);
    expect((await store.findByIdempotencyKey('k-1'))?.id).to.equal(results[0]!.session.id);
    expect((await store.list({ limit: 10 })).sessions).to.have.length(1);
    // Another key, or none, is another session.
    expect((await store.create({ room: 'r', idempotencyKey: 'k-2' })).changed).to.equal(true);
    expect((await store.create({ room: 'r' })).changed).to.equal(true);
  });

  it('moves created → active → ended once each, and a failure frees the idempotency key', async () => {
    const { session } = await store.create({ room: 'r', idempotencyKey: 'k' });
    await store.setDispatch(session.id, 'AD_1');
    const started = await store.markStarted(session.id, { participant: 'agent-1', jobId: 'AJ_1' });
    expect(started.changed).to.equal(true);
    expect(started.session).to.deep.include({ state: 'active', dispatchId: 'AD_1', participant: 'agent-1', jobId: 'AJ_1' });
    expect(started.session.startedAt).to.match(ISO);
    expect((await store.markStarted(session.id, {})).changed).to.equal(false);
    const ended = await store.finish(session.id, 'ended', 'stopped');
    expect(ended.changed).to.equal(true);
    expect(ended.session).to.deep.include({ state: 'ended', endReason: 'stopped', idempotencyKey: 'k' });
    expect(ended.session.endedAt).to.match(ISO);
    const again = await store.finish(session.id, 'failed', 'late');
    expect(again.changed).to.equal(false);
    expect(again.session).to.deep.equal(ended.session);
    // A late start does not reopen it.
    expect((await store.markStarted(session.id, {})).session.state).to.equal('ended');

    const failing = (await store.create({ room: 'r', idempotencyKey: 'k-fail' })).session;
    const failed = await store.finish(failing.id, 'failed', 'dispatch_failed');
    expect(failed.session).to.deep.include({ state: 'failed', endReason: 'dispatch_failed' });
    expect(failed.session).not.to.have.property('idempotencyKey');
    expect((await store.create({ room: 'r', idempotencyKey: 'k-fail' })).changed).to.equal(true);
  });

  it('keeps transcript lines in order with their positions, and refuses an unknown session', async () => {
    const { session } = await store.create({ room: 'r' });
    const lines = [
      { role: 'assistant' as const, text: 'Hello!', atMs: 120 },
      { role: 'user' as const, text: 'Hi, I need a table.', atMs: 2400.5 },
      { role: 'assistant' as const, text: 'For how', atMs: 4100, interrupted: true },
    ];
    // Not awaited one by one: the store keeps the order they were given in.
    const positions = await Promise.all(lines.map((line) => store.appendLine(session.id, line)));
    expect(positions).to.deep.equal([0, 1, 2]);
    expect((await store.get(session.id))?.transcript).to.deep.equal(lines);
    let error: unknown;
    await store.appendLine('ses_nope', lines[0]!).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(SessionNotFoundError);
    for (const call of [() => store.setDispatch('ses_nope', 'AD'), () => store.finish('ses_nope', 'ended', 'x'), () => store.markStarted('ses_nope', {})]) {
      error = undefined;
      await call().catch((err: unknown) => (error = err));
      expect(error).to.be.instanceOf(SessionNotFoundError);
    }
  });

  it('reads no session, rather than failing, for an id of another form (a path\'s %00 decodes to a NUL)', async () => {
    const { session } = await store.create({ room: 'r' });
    for (const id of [`${session.id}\u0000`, 'ses_\u0000', 'x'.repeat(10_000), session.id.toUpperCase()]) {
      expect(await store.get(id)).to.equal(undefined);
    }
    expect((await store.get(session.id))?.id).to.equal(session.id);
  });

  it('refuses a cursor it could not have issued (a 13th month, a NUL for the id) as invalid, not a database error', async () => {
    const { session } = await store.create({ room: 'r' });
    const forged = (createdAt: string, id: string) => Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
    for (const cursor of [forged('2026-13-45T10:00:00.000Z', session.id), forged('2026-12-03T10:00:00.000Z', 'ses_\u0000'), forged('2026-02-30T10:00:00.000Z', session.id)]) {
      let error: unknown;
      await store.list({ limit: 10, cursor }).catch((err: unknown) => (error = err));
      expect(error, cursor).to.be.instanceOf(InvalidSessionCursorError);
    }
  });

  it('lists newest first without transcripts, pages with a cursor under equal times, filters by state', async () => {
    const at = new Date('2026-12-03T11:00:00.000Z');
    const pinned = await open({ now: () => at });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await pinned.create({ room: `r${i}` })).session.id);
    await pinned.appendLine(ids[0]!, { role: 'user', text: 'x', atMs: 1 });
    await pinned.markStarted(ids[1]!, {});
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ limit: 2, ...(cursor && { cursor }) });
      for (const s of page.sessions) expect(s).not.to.have.property('transcript');
      seen.push(...page.sessions.map((s) => s.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).to.deep.equal([...ids].sort().reverse());
    expect((await store.list({ limit: 10, state: 'active' })).sessions.map((s) => s.id)).to.deep.equal([ids[1]]);
    let error: unknown;
    await store.list({ limit: 2, cursor: 'garbage' }).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(InvalidSessionCursorError);
    error = undefined;
    await store.list({ limit: 0 }).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(RangeError);
  });

  it('finds the sessions still created since before a time, oldest first, and one finish of them wins across two stores', async () => {
    const clock = { now: new Date('2026-12-03T11:00:00.000Z') };
    const pinned = await open({ now: () => clock.now });
    const older = (await pinned.create({ room: 'older' })).session.id;
    clock.now = new Date('2026-12-03T11:01:00.000Z');
    const old = (await pinned.create({ room: 'old' })).session.id;
    const joined = (await pinned.create({ room: 'joined' })).session.id;
    await pinned.markStarted(joined, {});
    const over = (await pinned.create({ room: 'over' })).session.id;
    await pinned.finish(over, 'ended', 'stopped');
    clock.now = new Date('2026-12-03T11:02:00.000Z');
    await pinned.create({ room: 'recent' });

    const cutoff = new Date('2026-12-03T11:01:30.000Z');
    const overdue = await store.createdBefore(cutoff);
    expect(overdue.map((s) => s.id)).to.deep.equal([older, old]);
    expect(overdue[0]).to.deep.include({ room: 'older', state: 'created', createdAt: '2026-12-03T11:00:00.000Z' });
    expect(overdue[0]).not.to.have.property('transcript');
    const other = await open();
    const finishes = await Promise.all([store.finish(old, 'failed', 'agent_never_joined'), other.finish(old, 'failed', 'agent_never_joined')]);
    expect(finishes.map((f) => f.changed).sort()).to.deep.equal([false, true]);
    expect((await other.createdBefore(cutoff)).map((s) => s.id)).to.deep.equal([older]);
  });
}
