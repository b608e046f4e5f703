// Requests across the fleet: every member answers, the asker combines; a silent member costs the
// timeout, a dead one nothing; `until` stops at the first reply that settles the question.
import { expect } from 'chai';
import { LocalChannel } from '../../src/fleet/channel.js';
import { FleetRequests } from '../../src/fleet/requests.js';
import { startTestFleet, type TestFleet } from '../helpers/ipc-link.js';

describe('fleet requests', () => {
  let fleet: TestFleet;
  let requests: FleetRequests[];
  beforeEach(async () => {
    fleet = await startTestFleet(3);
    requests = fleet.channels.map((channel) => new FleetRequests(channel, 60_000));
  });
  afterEach(() => {
    for (const r of requests) r.close();
    fleet.close();
  });

  it('gathers one answer from every member, the asker included', async () => {
    requests.forEach((r, i) => r.handle<{ base: number }, number>('figure', ({ base }) => base + i));
    const answers = await requests[1]!.ask<number>('figure', { base: 10 });
    expect(answers.replies.map((r) => [r.member, r.answer]).sort()).to.deep.equal([
      ['worker-1', 10],
      ['worker-2', 11],
      ['worker-3', 12],
    ]);
    expect(answers.missing).to.deep.equal([]);
    expect(answers.failed).to.deep.equal([]);
  });

  it('gives up on a member that does not answer when the timeout passes, keeping the others\' answers', async () => {
    requests[0]!.handle('figure', () => 1);
    requests[1]!.handle('figure', () => 2);
    requests[2]!.handle('figure', () => new Promise(() => undefined));
    const answers = await requests[0]!.ask<number>('figure', undefined, { timeoutMs: 200 });
    expect(answers.replies.map((r) => r.answer).sort()).to.deep.equal([1, 2]);
    expect(answers.missing).to.deep.equal(['worker-3']);
  });

  it('stops waiting for a worker that dies, at once rather than at the timeout', async () => {
    requests[0]!.handle('figure', () => 1);
    requests[1]!.handle('figure', () => 2);
    requests[2]!.handle('figure', () => new Promise(() => undefined));
    const asked = requests[0]!.ask<number>('figure', undefined, { timeoutMs: 60_000 });
    setTimeout(() => fleet.kill(2), 20);
    const answers = await asked;
    expect(answers.replies.map((r) => r.answer).sort()).to.deep.equal([1, 2]);
    expect(answers.missing).to.deep.equal(['worker-3']);
  });

  it('with `until`, settles at the first reply that answers the question', async () => {
    requests[0]!.handle('end-call', () => false);
    requests[1]!.handle('end-call', () => true);
    requests[2]!.handle('end-call', () => new Promise(() => undefined));
    const answers = await requests[0]!.ask<boolean>('end-call', { taskId: 't' }, { timeoutMs: 60_000, until: (ended) => ended });
    expect(answers.replies.some((r) => r.member === 'worker-2' && r.answer)).to.equal(true);
    expect(answers.missing).to.include('worker-3');
  });

  it('reports a member whose answer threw, and one that has no answer for the kind, as failed', async () => {
    requests[0]!.handle('figure', () => 1);
    requests[1]!.handle('figure', () => {
      throw new Error('no figures here');
    });
    const answers = await requests[0]!.ask<number>('figure', undefined, { timeoutMs: 60_000 });
    expect(answers.replies.map((r) => r.answer)).to.deep.equal([1]);
    expect(answers.failed.map((f) => f.member).sort()).to.deep.equal(['worker-2', 'worker-3']);
    expect(answers.failed.find((f) => f.member === 'worker-2')!.error).to.equal('no figures here');
  });

  it('works in one process over the local channel', async () => {
    const solo = new FleetRequests(new LocalChannel({ memberId: 'solo' }));
    solo.handle('figure', async () => 7);
    const answers = await solo.ask<number>('figure', undefined);
    expect(answers.replies).to.deep.equal([{ member: 'solo', answer: 7 }]);
    solo.close();
  });
});
