// One behaviour for every CallStore engine; each engine's test file runs it with its own fresh place.
import { expect } from 'chai';
import type { CallStore } from '../../../src/calls/store.js';
import { CallExistsError, CallNotFoundError } from '../../../src/calls/store.js';
import { InvalidCursorError } from '../../../src/tasks/store.js';
import { storesPerTest, type StoreEngineOf } from './store-engine.js';

export type CallStoreEngine = StoreEngineOf<CallStore>;

const STARTED = '2026-12-03T10:00:00.000Z';

export function defineCallStoreSuite(engine: CallStoreEngine): void {
  /** The store's clock: each test moves it. */
  let clock: Date;
  beforeEach(() => (clock = new Date('2026-12-03T10:00:00.000Z')));
  const stores = storesPerTest(engine, () => ({ now: () => clock }));
  const open = (): Promise<CallStore> => stores.open();
  let store: CallStore;
  beforeEach(() => (store = stores.first));

  const at = (iso: string): Date => (clock = new Date(iso));

  it('stores a started call with its transcript and events in order, and its end', async () => {
    const created = await store.create({ id: 'c1', direction: 'inbound', agent: 'deepgram', callSid: 'CA1', streamSid: 'MZ1', from: '+14155550100', to: '+14155550123', startedAt: STARTED });
    expect(created).to.deep.equal({
      id: 'c1', direction: 'inbound', status: 'in-progress', agent: 'deepgram', callSid: 'CA1', streamSid: 'MZ1',
      from: '+14155550100', to: '+14155550123', createdAt: '2026-12-03T10:00:00.000Z', startedAt: STARTED, transcript: [], events: [],
    });
    await store.create({ id: 'c2', direction: 'browser', agent: 'deepgram', callSid: 'CA2', streamSid: 'MZ2', startedAt: STARTED, member: 'worker-1' });
    expect(await store.inProgress()).to.deep.equal([
      { id: 'c1', callSid: 'CA1', streamSid: 'MZ1', startedAt: STARTED },
      { id: 'c2', member: 'worker-1', callSid: 'CA2', streamSid: 'MZ2', startedAt: STARTED },
    ]);
    await store.appendTranscript('c1', { role: 'user', text: 'Hello', atMs: 1200 });
    await store.appendEvent('c1', { type: 'turn', atMs: 2400, userStoppedAtMs: 1800, agentStartedAtMs: 2400, latencyMs: 600 });
    await store.appendTranscript('c1', { role: 'assistant', text: 'Hi the', atMs: 2400, interrupted: true });
    await store.appendEvent('c1', { type: 'barge_in', atMs: 3000, callerStartedAtMs: 3000, signalAtMs: 3200, cutAtMs: 3210 });
    await store.appendEvent('c1', { type: 'dtmf', atMs: 4000 });
    const ended = await store.finish('c1', { status: 'completed', endedAt: '2026-12-03T10:00:05.000Z', durationMs: 5000, endReason: 'twilio_stop', recordingPath: '/r/x.wav', recordingMs: 4980 });
    expect(ended).to.deep.include({ status: 'completed', endedAt: '2026-12-03T10:00:05.000Z', durationMs: 5000, endReason: 'twilio_stop', recordingPath: '/r/x.wav', recordingMs: 4980 });
    expect(ended.transcript).to.deep.equal([
      { role: 'user', text: 'Hello', atMs: 1200 },
      { role: 'assistant', text: 'Hi the', atMs: 2400, interrupted: true },
    ]);
    expect(ended.events.map((e) => e.type)).to.deep.equal(['turn', 'barge_in', 'dtmf']);
    expect(ended.events[1]).to.deep.equal({ type: 'barge_in', atMs: 3000, callerStartedAtMs: 3000, signalAtMs: 3200, cutAtMs: 3210 });
    expect(await store.get('c1')).to.deep.equal(ended);
    await store.finish('c2', { status: 'failed', endedAt: STARTED, durationMs: 1, endReason: 'agent_error' });
    expect(await store.inProgress()).to.deep.equal([]);
  });

  it('refuses a second call with the same id, and writes to a call that does not exist', async () => {
    await store.create({ id: 'c1', direction: 'inbound', agent: 'echo', startedAt: STARTED });
    await expectRejection(store.create({ id: 'c1', direction: 'inbound', agent: 'echo', startedAt: STARTED }), CallExistsError);
    await expectRejection(store.appendTranscript('nope', { role: 'user', text: 'x', atMs: 0 }), CallNotFoundError);
    await expectRejection(store.appendEvent('nope', { type: 'dtmf', atMs: 0 }), CallNotFoundError);
    await expectRejection(store.finish('nope', { status: 'failed', endedAt: STARTED, durationMs: 0, endReason: 'agent_error' }), CallNotFoundError);
    expect(await store.get('nope')).to.equal(undefined);
  });

  it('lets exactly one stream claim a pending browser call', async () => {
    const pending = await store.create({ id: 'b1', direction: 'browser', agent: 'echo', transcriptNote: 'none' });
    expect(pending).to.deep.include({ status: 'pending', transcriptNote: 'none' });
    expect(pending.startedAt).to.equal(undefined);
    const other = await open();
    const start = { callSid: 'CAb', streamSid: 'MZb', startedAt: STARTED, member: 'm1' };
    const claims = await Promise.all([store.claimPending('b1', start), other.claimPending('b1', start)]);
    expect(claims.filter((c) => c !== undefined)).to.have.length(1);
    expect(await store.get('b1')).to.deep.include({ status: 'in-progress', callSid: 'CAb', streamSid: 'MZb', startedAt: STARTED });
    expect(await store.claimPending('never-made', start)).to.equal(undefined);
    await store.create({ id: 'i1', direction: 'inbound', agent: 'echo', startedAt: STARTED });
    expect(await store.claimPending('i1', start), 'a started call is not pending').to.equal(undefined);
  });

  it('expires the browser calls pending since before a time, once across two stores, and no stream claims one created before it', async () => {
    at('2026-12-03T10:00:00.000Z');
    await store.create({ id: 'old', direction: 'browser', agent: 'echo' });
    await store.create({ id: 'streaming', direction: 'browser', agent: 'echo' });
    const start = { callSid: 'CAs', streamSid: 'MZs', startedAt: STARTED, member: 'm1' };
    expect(await store.claimPending('streaming', start)).to.deep.include({ status: 'in-progress' });
    at('2026-12-03T10:02:00.000Z');
    await store.create({ id: 'fresh', direction: 'browser', agent: 'echo' });
    const cutoff = new Date('2026-12-03T10:01:00.000Z');
    expect(await store.claimPending('old', start, cutoff), 'created before the cutoff: expired').to.equal(undefined);

    const other = await open();
    const end = { endedAt: '2026-12-03T10:02:00.500Z', endReason: 'never_connected', endDetail: 'no stream' };
    const [mine, theirs] = await Promise.all([store.expirePending(cutoff, end), other.expirePending(cutoff, end)]);
    expect([...mine, ...theirs]).to.deep.equal(['old']);
    expect(await store.get('old')).to.deep.include({ status: 'failed', endedAt: end.endedAt, durationMs: 0, endReason: 'never_connected', endDetail: 'no stream' });
    expect((await store.get('streaming'))!.status).to.equal('in-progress');
    expect((await store.get('fresh'))!.status).to.equal('pending');
    expect(await store.claimPending('fresh', { ...start, streamSid: 'MZf' }, cutoff)).to.deep.include({ status: 'in-progress' });
  });

  it('lists newest first with a cursor, and filters by direction, status, agent, task and time', async () => {
    at('2026-12-03T10:00:00.000Z');
    await store.create({ id: 'a', direction: 'inbound', agent: 'echo', startedAt: STARTED });
    at('2026-12-03T10:01:00.000Z');
    await store.create({ id: 'b', direction: 'outbound', agent: 'deepgram', taskId: 'task_1', startedAt: STARTED });
    at('2026-12-03T10:02:00.000Z');
    await store.create({ id: 'c', direction: 'browser', agent: 'echo' });
    // Two calls at one instant: the id breaks the tie, and paging neither skips nor repeats.
    at('2026-12-03T10:03:00.000Z');
    await store.create({ id: 'd', direction: 'outbound', agent: 'deepgram', taskId: 'task_1', startedAt: STARTED });
    await store.create({ id: 'e', direction: 'inbound', agent: 'deepgram', startedAt: STARTED });
    await store.finish('a', { status: 'failed', endedAt: STARTED, durationMs: 1, endReason: 'agent_error' });

    const ids = async (options: Parameters<CallStore['list']>[0]): Promise<string[]> => (await store.list(options)).calls.map((c) => c.id);
    const first = await store.list({ limit: 2 });
    expect(first.calls.map((c) => c.id)).to.deep.equal(['e', 'd']);
    const second = await store.list({ limit: 2, cursor: first.nextCursor });
    expect(second.calls.map((c) => c.id)).to.deep.equal(['c', 'b']);
    const third = await store.list({ limit: 2, cursor: second.nextCursor });
    expect(third.calls.map((c) => c.id)).to.deep.equal(['a']);
    expect(third.nextCursor).to.equal(undefined);
    expect(first.calls[0]).to.not.have.property('transcript');

    expect(await ids({ limit: 50, direction: 'outbound' })).to.deep.equal(['d', 'b']);
    expect(await ids({ limit: 50, status: 'pending' })).to.deep.equal(['c']);
    expect(await ids({ limit: 50, status: 'failed' })).to.deep.equal(['a']);
    expect(await ids({ limit: 50, agent: 'echo' })).to.deep.equal(['c', 'a']);
    expect(await ids({ limit: 50, taskId: 'task_1' })).to.deep.equal(['d', 'b']);
    expect(await ids({ limit: 50, since: new Date('2026-12-03T10:01:00.000Z'), until: new Date('2026-12-03T10:03:00.000Z') })).to.deep.equal(['c', 'b']);
    expect(await ids({ limit: 50, direction: 'inbound', agent: 'deepgram' })).to.deep.equal(['e']);
    expect(await store.idsOfTask('task_1')).to.deep.equal(['b', 'd']);
    expect(await store.idsOfTask('task_2')).to.deep.equal([]);
    await expectRejection(store.list({ limit: 2, cursor: 'not-ours' }), InvalidCursorError);
    await expectRejection(store.list({ limit: 0 }), RangeError);
  });

  it('claims an analysis once, takes over a stale one, and retries a failed one only when asked', async () => {
    await store.create({ id: 'c1', direction: 'inbound', agent: 'deepgram', startedAt: STARTED });
    const other = await open();
    const claim = { staleBefore: new Date('2026-12-03T09:00:00.000Z'), retryFailed: false };
    const both = await Promise.all([store.claimAnalysis('c1', claim), other.claimAnalysis('c1', claim)]);
    expect(both.filter((c) => c !== undefined)).to.have.length(1);
    expect(both.find((c) => c !== undefined)?.analysis).to.deep.equal({ state: 'pending' });
    // Claimed at 10:00: a claim judging anything before 10:30 stale takes it over.
    expect(await store.claimAnalysis('c1', { staleBefore: new Date('2026-12-03T10:30:00.000Z'), retryFailed: false })).to.not.equal(undefined);
    await store.setAnalysis('c1', { state: 'failed', error: 'LLM down' });
    expect(await store.claimAnalysis('c1', claim)).to.equal(undefined);
    expect(await store.claimAnalysis('c1', { ...claim, retryFailed: true })).to.not.equal(undefined);
    const analysis = { summary: 's', outcome: { goal_reached: null, explanation: 'e' }, sentiment: 'neutral' as const, action_items: [], key_facts: {} };
    expect((await store.setAnalysis('c1', { state: 'ready', analysis })).analysis).to.deep.equal({ state: 'ready', analysis });
    expect(await store.claimAnalysis('c1', { ...claim, retryFailed: true }), 'a ready analysis is final').to.equal(undefined);
    await expectRejection(store.claimAnalysis('nope', claim), CallNotFoundError);
  });
  it('imports a recorded call once and knows when it began keeping calls', async () => {
    const since = await store.recordsSince();
    expect(since).to.be.instanceOf(Date);
    expect(Math.abs(since!.getTime() - Date.now())).to.be.lessThan(60_000);
    const recorded = { id: 'r1', direction: 'inbound' as const, callSid: 'CAr', streamSid: 'MZr', startedAt: '2020-01-02T03:04:05.000Z', recordingPath: '/rec/r1.wav', recordingMs: 1500 };
    expect(await store.hasRecording('/rec/r1.wav')).to.equal(false);
    expect(await store.importRecorded(recorded)).to.equal(true);
    expect(await store.importRecorded(recorded)).to.equal(false);
    expect(await store.hasRecording('/rec/r1.wav')).to.equal(true);
    expect(await store.get('r1')).to.deep.equal({
      id: 'r1', direction: 'inbound', status: 'completed', agent: 'unknown', callSid: 'CAr', streamSid: 'MZr',
      createdAt: '2020-01-02T03:04:05.000Z', startedAt: '2020-01-02T03:04:05.000Z', endedAt: '2020-01-02T03:04:06.500Z', durationMs: 1500,
      recordingPath: '/rec/r1.wav', recordingMs: 1500, transcript: [], events: [],
    });
  });
}

async function expectRejection(promise: Promise<unknown>, type: new (...args: never[]) => Error): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(type);
    return;
  }
  expect.fail(`expected a ${type.name}`);
}
