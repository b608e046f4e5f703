// The relay between a room agent's job process and its agent worker (agent-sink-relay.ts), over
// a real Unix socket: every sink call arrives once, in the order the job made it, even when the
// sink is slow; a message the relay does not know is dropped and logged, the rest go on.
import { expect } from 'chai';
import net from 'node:net';
import nock from 'nock';
import { JOB_LOST, JobSinkRelay, relaySocketPath, relayedSink } from '../../src/rooms/agent-sink-relay.js';
import type { SessionLine as RoomTranscriptLine } from '../../src/rooms/store.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { RecordingRoomSink } from '../helpers/recording-room-sink.js';

/** A pid no live process here has, so the socket is this test's own. */
const fakeWorkerPid = (): number => 4_000_000 + Math.floor(Math.random() * 100_000);

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('room agent relay from job process to agent worker', () => {
  // The job's end of the relay runs in a job process, where nothing intercepts sockets. Here it
  // runs in the test process, where nock (loaded by other suites) fakes every net connection,
  // Unix sockets included: set aside while these tests run.
  let nockWasActive = false;
  before(() => {
    nockWasActive = nock.isActive();
    if (nockWasActive) nock.restore();
  });
  after(() => {
    if (nockWasActive) nock.activate();
  });

  it('hands a job\'s started, lines and ended to the sink once each and in order, a slow sink included', async () => {
    const pid = fakeWorkerPid();
    const sink = new RecordingRoomSink();
    let stored = 0;
    // Each store write takes a little less long than the one before: a relay that did not wait
    // for the previous write would let later lines land first.
    const slow = {
      started: sink.started.bind(sink),
      ended: sink.ended.bind(sink),
      line: async (id: string, line: RoomTranscriptLine) => {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 40 - stored++)));
        await sink.line(id, line);
      },
    };
    const relay = await JobSinkRelay.listen(slow, capturingLogger().logger, pid);
    const job = relayedSink(pid);
    const sends = [job.started('sess-r', { jobId: 'AJ_1' })];
    for (let i = 0; i < 30; i++) sends.push(job.line('sess-r', { role: i % 2 ? 'assistant' : 'user', text: `line ${i}`, atMs: i * 100 }));
    sends.push(job.ended('sess-r', 'job_ended'));
    await Promise.all(sends);
    await job.close();

    await until(() => sink.calls.length === 32);
    expect(sink.calls[0]).to.deep.equal({ op: 'started', sessionId: 'sess-r', info: { jobId: 'AJ_1' } });
    expect(sink.calls.slice(1, 31).map((c) => (c.op === 'line' ? c.line.text : c.op))).to.deep.equal(Array.from({ length: 30 }, (_, i) => `line ${i}`));
    expect(sink.calls[31]).to.deep.equal({ op: 'ended', sessionId: 'sess-r', reason: 'job_ended' });
    await relay.close();
  });

  it('drops a message it does not know, logs it without its content, and goes on', async () => {
    const pid = fakeWorkerPid();
    const sink = new RecordingRoomSink();
    const log = capturingLogger();
    const relay = await JobSinkRelay.listen(sink, log.logger, pid);
    const socket = net.createConnection(relaySocketPath(pid));
    socket.write('{"op":"line","sessionId":"s","line":{"role":"caller","text":"my PIN is 1234"}}\nnot json\n');
    socket.write(`${JSON.stringify({ op: 'ended', sessionId: 's', reason: 'job_ended' })}\n`);
    await sink.next('ended', 10_000);
    expect(sink.calls).to.have.length(1);
    expect(log.lines.filter((l) => l.level === 'warn')).to.have.length(2);
    expect(log.text()).not.to.include('1234');
    socket.destroy();
    await relay.close();
  });

  it('ends a session whose job process went away without ending it, once, after its last line', async () => {
    const pid = fakeWorkerPid();
    const sink = new RecordingRoomSink();
    const relay = await JobSinkRelay.listen(sink, capturingLogger().logger, pid);
    const socket = net.createConnection(relaySocketPath(pid));
    socket.write(`${JSON.stringify({ op: 'started', sessionId: 'lost', info: {} })}\n`);
    socket.write(`${JSON.stringify({ op: 'line', sessionId: 'lost', line: { role: 'user', text: 'hello', atMs: 5 } })}\n`);
    socket.write(`${JSON.stringify({ op: 'started', sessionId: 'done', info: {} })}\n`);
    socket.write(`${JSON.stringify({ op: 'ended', sessionId: 'done', reason: 'agent_ended: bye' })}\n`);
    // The job process dies: its socket closes without a word more.
    socket.end();
    await until(() => sink.calls.length === 5);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sink.calls.map((c) => `${c.op} ${c.sessionId}${c.op === 'ended' ? ` ${c.reason}` : ''}`)).to.deep.equal([
      'started lost',
      'line lost',
      'started done',
      'ended done agent_ended: bye',
      `ended lost ${JOB_LOST}`,
    ]);
    await relay.close();
  });

  it('fails a job\'s sink call clearly when no worker listens', async () => {
    const job = relayedSink(fakeWorkerPid());
    const error = await job.started('sess-x', {}).catch((e: Error) => e);
    expect(error).to.be.instanceOf(Error);
    expect((error as Error).message).to.match(/cannot reach the agent worker's relay/);
    await job.close();
  });
});
