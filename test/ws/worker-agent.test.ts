// Whole calls whose agent runs in the gateway's agent worker pool: the fake Twilio caller streams
// the speech fixtures, the hosted test agent (echo plus transcript, latency, hang-up) answers from
// a worker thread, and we check what the caller hears and how faults stay inside their call.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { isMainThread, type Worker } from 'node:worker_threads';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { HOSTED_TEST_AGENT } from '../helpers/hosted-test-agent.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { agentUnavailablePrompt } from '../../src/agents/prompts.js';
import { AgentWorkerPool } from '../../src/agents/worker/pool.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/telemetry/logger.js';

const SPEED = 8;
const speech1 = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const speech2 = await readMulawWav('fixtures/speech/caller-2-8k-mulaw.wav');

const middle = (audio: Buffer, bytes = 1600) => audio.subarray(Math.floor(audio.length / 2), Math.floor(audio.length / 2) + bytes);
const contains = (haystack: Buffer, needle: Buffer) => haystack.indexOf(needle) >= 0;
const apology = () => agentUnavailablePrompt().subarray(8000, 8800);
const exited = (thread: Worker) => new Promise<number>((resolve) => thread.once('exit', resolve));
/** The nice value of each thread of this process, by task id (Linux /proc; field 19 of stat). */
const threadNices = (): Map<number, number> =>
  new Map(
    readdirSync('/proc/self/task').map((tid) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return [Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
    }),
  );

describe('media stream with an agent in a worker thread', function () {
  this.timeout(40_000);
  let t: TestGateway;
  const callers: FakeTwilioCaller[] = [];

  beforeEach(async () => {
    t = await startTestGateway({ AGENT_WORKERS: '1' }, { offThreadAgent: HOSTED_TEST_AGENT });
  });
  afterEach(async () => {
    for (const c of callers.splice(0)) c.close();
    await t.close();
  });

  const newCaller = (parameters: Record<string, string> = {}) => {
    const c = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED, customParameters: { from: '+15550001111', ...parameters } });
    callers.push(c);
    return c;
  };

  it('runs the agent off the media thread: the caller hears their words back, with transcript and latency', async () => {
    expect(isMainThread).to.equal(true);
    const c = newCaller();
    await c.connect();
    await c.streamSilence(300);
    await c.streamAudio(speech1);
    await c.streamSilence(800);
    await c.waitFor((e) => e.kind === 'mark-echoed', 10_000);
    await c.streamSilence(200);

    expect(t.gateway.agentPool.threads()).to.have.length(1);
    expect(contains(c.heardAudio(), middle(speech1))).to.equal(true);
    expect(c.invalidFrames).to.deep.equal([]);
    await c.stop();
    const summary = await t.nextEnded();
    expect(summary.reason).to.equal('twilio_stop');
    expect(summary.stats.playback.marksSent).to.equal(1);
    expect(summary.transcript.filter((l) => l.role === 'assistant').map((l) => l.text)).to.deep.equal(['echo 1']);
    const latency = t.telemetry.recent({ component: 'agent', action: 'hosted_echo' });
    expect(latency.map((e) => [e.duration_ms, e.reply])).to.deep.equal([[1, 1]]);
  });

  it('barge-in through the worker clears the reply and the next utterance is answered', async () => {
    const c = newCaller();
    await c.connect();
    await c.streamAudio(speech1);
    await c.streamSilence(700);
    await c.waitFor((e) => e.kind === 'media', 10_000);
    await c.streamSilence(400);
    const before = c.receivedAudio().length;
    await c.streamAudio(speech2);
    await c.waitFor((e) => e.kind === 'clear', 10_000);
    await c.streamSilence(800);
    await c.waitFor(() => c.marksEchoed.length >= 2, 10_000);

    expect(c.clears).to.equal(1);
    const afterClear = c.receivedAudio().subarray(before);
    expect(contains(afterClear, middle(speech2))).to.equal(true);
    expect(contains(c.heardAudio(), speech1.subarray(speech1.length - 1600))).to.equal(false);
    await c.stop();
    expect((await t.nextEnded()).stats.playback.clears).to.equal(1);
  });

  it('a hang-up the hosted agent asks for ends the call', async () => {
    const c = newCaller();
    await c.connect();
    await c.streamSilence(200);
    c.sendDtmf('9');
    await c.streamSilence(400);
    const summary = await t.nextEnded(10_000);
    expect(summary.reason).to.equal('agent_hangup');
    expect(summary.detail).to.equal('the caller pressed 9');
  });

  it('a transcript line the hosted bridge writes as it closes is kept in the call\'s transcript', async () => {
    const c = newCaller({ behavior: 'close-line' });
    await c.connect();
    await c.streamSilence(200);
    await c.stop();
    const summary = await t.nextEnded(10_000);
    expect(summary.transcript.map((l) => [l.role, l.text])).to.deep.equal([['assistant', 'the reply heard before the hang-up']]);
  });

  it('a bridge that throws in the worker ends its own call with the apology; the other call on that worker goes on', async () => {
    const calm = newCaller();
    await calm.connect();
    await calm.streamSilence(200);
    const faulty = newCaller({ behavior: 'throw' });
    await faulty.connect();
    await faulty.streamSilence(1500);
    const failed = await t.nextEnded(15_000);
    expect(failed.reason).to.equal('agent_error');
    expect(failed.detail).to.match(/the test bridge threw/);
    expect(contains(faulty.receivedAudio(), apology())).to.equal(true);

    await calm.streamAudio(speech1);
    await calm.streamSilence(800);
    await calm.waitFor((e) => e.kind === 'mark-echoed', 10_000);
    expect(contains(calm.heardAudio(), middle(speech1))).to.equal(true);
    expect(t.gateway.agentPool.threads()).to.have.length(1);
    await calm.stop();
    expect((await t.nextEnded()).reason).to.equal('twilio_stop');
  });

  it('an exception in a timer a hosted bridge set going ends its own call only; the worker lives on', async () => {
    const calm = newCaller();
    await calm.connect();
    await calm.streamSilence(200);
    const [thread] = t.gateway.agentPool.threads();
    const faulty = newCaller({ behavior: 'throw-later' });
    await faulty.connect();
    await faulty.streamSilence(1000);
    const failed = await t.nextEnded(15_000);
    expect(failed.reason).to.equal('agent_error');
    expect(failed.detail).to.match(/the test bridge threw from a timer/);
    expect(contains(faulty.receivedAudio(), apology())).to.equal(true);

    await calm.streamAudio(speech1);
    await calm.streamSilence(800);
    await calm.waitFor((e) => e.kind === 'mark-echoed', 10_000);
    expect(contains(calm.heardAudio(), middle(speech1))).to.equal(true);
    expect(t.gateway.agentPool.threads()).to.deep.equal([thread]);
    await calm.stop();
    expect((await t.nextEnded()).reason).to.equal('twilio_stop');
  });

  it('a worker terminated from outside mid-call ends its call with the apology and is replaced at once', async () => {
    const [first] = t.gateway.agentPool.threads();
    const c = newCaller();
    await c.connect();
    await c.streamSilence(200);
    // A worker that lived a while is replaced straight away (a young one waits for the next call).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await first!.terminate();
    await c.streamSilence(600);
    const summary = await t.nextEnded(15_000);
    expect(summary.reason).to.equal('agent_error');
    expect(contains(c.receivedAudio(), apology())).to.equal(true);
    const [replacement] = t.gateway.agentPool.threads();
    expect(replacement).to.not.equal(undefined);
    expect(replacement!.threadId).to.not.equal(-1);
    expect(replacement).to.not.equal(first);
  });

  it('a worker that dies mid-call ends every call it hosted with the apology; the next call gets a new worker', async () => {
    const bystander = newCaller();
    await bystander.connect();
    await bystander.streamSilence(200);
    const [first] = t.gateway.agentPool.threads();
    const firstExit = exited(first!);
    const killer = newCaller({ behavior: 'exit' });
    await killer.connect();
    await Promise.all([killer.streamSilence(1500), bystander.streamSilence(1500)]);
    expect(await firstExit).to.equal(3);
    const ended = [await t.nextEnded(15_000), await t.nextEnded(15_000)];
    expect(ended.map((s) => s.reason)).to.deep.equal(['agent_error', 'agent_error']);
    expect(ended.every((s) => /the agent worker stopped/.test(s.detail ?? ''))).to.equal(true);
    expect(contains(killer.receivedAudio(), apology())).to.equal(true);
    expect(contains(bystander.receivedAudio(), apology())).to.equal(true);
    // The recording survives: both calls kept what was said.
    expect(ended.every((s) => s.recording !== undefined)).to.equal(true);

    const next = newCaller();
    await next.connect();
    await next.streamAudio(speech1);
    await next.streamSilence(800);
    await next.waitFor((e) => e.kind === 'mark-echoed', 10_000);
    expect(contains(next.heardAudio(), middle(speech1))).to.equal(true);
    const [second] = t.gateway.agentPool.threads();
    expect(second!.threadId).to.not.equal(first!.threadId);
  });
});

describe('the agent worker pool and the gateway lifecycle', function () {
  this.timeout(30_000);

  it('every worker exits when the gateway closes, calls in progress included', async () => {
    const t = await startTestGateway({ AGENT_WORKERS: '2' }, { offThreadAgent: HOSTED_TEST_AGENT });
    const callers = [0, 1, 2].map(() => new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED }));
    try {
      for (const c of callers) {
        await c.connect();
        await c.streamSilence(100);
      }
      const threads = t.gateway.agentPool.threads();
      expect(threads).to.have.length(2);
      expect(t.gateway.agentPool.loads()).to.deep.equal([2, 1]);
      const exits = threads.map(exited);
      await t.close();
      expect(await Promise.all(exits)).to.deep.equal([0, 0]);
      // A thread that has exited has no id any more.
      expect(threads.map((w) => w.threadId)).to.deep.equal([-1, -1]);
      expect(t.gateway.agentPool.threads()).to.deep.equal([]);
    } finally {
      for (const c of callers) c.close();
    }
  });

  it('its worker thread yields the CPU to the media thread (AGENT_WORKER_NICE); the media thread keeps its priority', async () => {
    const t = await startTestGateway({ AGENT_WORKERS: '1', AGENT_WORKER_NICE: '13' }, { offThreadAgent: HOSTED_TEST_AGENT });
    const c = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED });
    try {
      await c.connect();
      await c.streamAudio(speech1);
      await c.streamSilence(800);
      await c.waitFor((e) => e.kind === 'mark-echoed', 10_000);
      const nices = threadNices();
      expect(nices.get(process.pid)).to.equal(0);
      // The one agent worker, not the process's other threads (libuv's pool, V8's helpers).
      expect([...nices.values()].filter((nice) => nice === 13)).to.have.length(1);
    } finally {
      c.close();
      await t.close();
    }
  });

  it('with AGENT_WORKERS=0 the same agent runs in-process and starts no worker', async () => {
    const t = await startTestGateway({ AGENT_WORKERS: '0' }, { offThreadAgent: HOSTED_TEST_AGENT });
    const c = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED });
    try {
      await c.connect();
      await c.streamAudio(speech1);
      await c.streamSilence(800);
      await c.waitFor((e) => e.kind === 'mark-echoed', 10_000);
      expect(contains(c.heardAudio(), middle(speech1))).to.equal(true);
      expect(t.gateway.agentPool.threads()).to.deep.equal([]);
    } finally {
      c.close();
      await t.close();
    }
  });
});

describe('an off-thread agent that cannot load', function () {
  this.timeout(30_000);
  const bad = { ...HOSTED_TEST_AGENT, name: 'broken', export: 'noSuchFactory' };

  it('fails the gateway start-up, naming the kind and the missing export', async () => {
    const failed = await startTestGateway({ AGENT_WORKERS: '2' }, { offThreadAgent: bad }).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(failed?.message).to.match(/^agent kind broken: .*hosted-test-agent\.ts has no function export noSuchFactory$/);
  });

  it('leaves no worker thread behind when it fails', async () => {
    const pool = new AgentWorkerPool({ size: 2, config: loadConfig({}), logger: silentLogger() });
    const failed = await pool.factoryFor(bad).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(failed?.message).to.match(/no function export noSuchFactory/);
    expect(pool.threads()).to.deep.equal([]);
  });
});
