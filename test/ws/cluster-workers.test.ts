// WORKERS=2 on the embedded defaults, the real entry point as a child process: requests spread
// over both workers and everything the API promises holds whichever one a request lands on. A
// task's call streams to one worker and is watched from both (every event once, in order); its
// status callbacks, posted out of order to both, are applied in one worker; it is stopped through
// the worker that does not hold it; its analysis is made once (a fake LLM counts requests); then
// SIGTERM drains the fleet (/health/ready 503 while /health/live stays 200) and the primary exits 0.
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { FakeOpenAi } from '../../tools/fake-providers/openai.js';
import { CONVERSE_PATH, FakeDeepgramAgent } from '../../tools/fake-deepgram-agent.js';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { Watcher } from '../helpers/task-api.js';

const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const MODEL = 'fake-analyst';
const ANALYSIS = {
  summary: 'A simulated call.',
  outcome: { goal_reached: null, explanation: 'Not judged.' },
  sentiment: 'neutral',
  action_items: [],
  key_facts: {},
};

interface Reply {
  status: number;
  worker: string;
  body: any;
}

/** One request on its own connection (`agent`: one kept-alive socket, to stay on one worker). */
function request(base: string, method: string, route: string, options: { form?: Record<string, string>; json?: unknown; agent?: http.Agent } = {}): Promise<Reply> {
  const body = options.form ? new URLSearchParams(options.form).toString() : options.json === undefined ? undefined : JSON.stringify(options.json);
  const headers: Record<string, string> = options.agent ? {} : { connection: 'close' };
  if (options.form) headers['content-type'] = 'application/x-www-form-urlencoded';
  else if (body !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request(base + route, { method, headers, agent: options.agent ?? false }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        const json = (res.headers['content-type'] ?? '').includes('json') && text !== '';
        resolve({ status: res.statusCode!, worker: String(res.headers['x-gateway-worker']), body: json ? JSON.parse(text) : text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('WORKERS=2: one port, two worker processes, one fleet', function () {
  this.timeout(90_000);
  let root: string;
  let llm: FakeOpenAi;
  let agent: FakeDeepgramAgent;
  let gateway: GatewayProcess;
  let base: string;
  const open: Array<{ close(): void }> = [];

  before(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'gateway-cluster-'));
    // Slow enough that GET /analysis lands on both workers while it is pending.
    llm = await FakeOpenAi.start({ models: [MODEL], defaultReply: { text: JSON.stringify(ANALYSIS) }, answerDelayMs: 1500 });
    // The fake Deepgram agent speaks and transcribes: the call has words for the analysis.
    agent = await FakeDeepgramAgent.start();
    gateway = spawnGateway({
      AGENT_PROVIDER: 'deepgram',
      DEEPGRAM_API_KEY: 'any',
      DEEPGRAM_VOICE_AGENT_WS_URL: `${agent.url}${CONVERSE_PATH}`,
      DEEPGRAM_VOICE_AGENT_GREETING: 'Hello from the fake agent.',
      PORT: '0',
      HOST: '127.0.0.1',
      WORKERS: '2',
      AGENT_WORKERS: '1',
      DATA_DIR: path.join(root, 'data'),
      RECORDINGS_DIR: path.join(root, 'recordings'),
      DRAIN_TIMEOUT_S: '60',
      MEDIA_MAX_LEAD_S: '600',
      LLM_PROVIDER: 'local',
      VLLM_BASE_URL: llm.baseUrl,
      VLLM_MODEL: MODEL,
    });
    await until('both workers ready', async () => (/worker ready worker=worker-2 .*workers=2/.test(gateway.stdout()) ? true : undefined), 60_000);
    const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(gateway.stdout())![1];
    base = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    for (const o of open) o.close();
    if (gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill('SIGKILL');
    await gateway.exited;
    await Promise.all([llm.close(), agent.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  it('serves a whole task walk from both workers, then drains on SIGTERM and exits 0', async () => {
    // Requests spread over both workers, and /health counts the fleet.
    const served = new Set<string>();
    await until('requests served by both workers', async () => {
      const reply = await request(base, 'GET', '/health/ready');
      expect(reply.status).to.equal(200);
      served.add(reply.worker);
      return served.size === 2 ? true : undefined;
    });
    expect([...served].sort()).to.deep.equal(['worker-1', 'worker-2']);
    const health = await request(base, 'GET', '/health');
    expect(health.body).to.include({ status: 'ok', workers: 2, active_calls: 0, max_concurrent_calls: 300 });

    // A task, watched from both workers.
    const created = await request(base, 'POST', '/api/tasks', { json: { to: '+15550002222' } });
    expect(created.status).to.equal(201);
    const taskId: string = created.body.id;
    const wsBase = base.replace('http:', 'ws:');
    const watchers = new Map<string, Watcher>();
    await until('a watcher on each worker', async () => {
      const w = await Watcher.open({ baseUrl: base }, taskId);
      open.push(w);
      if (w.worker !== undefined && !watchers.has(w.worker)) watchers.set(w.worker, w);
      return watchers.size === 2 ? true : undefined;
    });

    // Its simulated call streams to one worker.
    const caller = new FakeTwilioCaller({ url: `${wsBase}/twilio/media-stream`, customParameters: { taskId }, speed: 4 });
    open.push(caller);
    await caller.connect();
    await caller.streamAudio(speech);
    await caller.streamSilence(1500);
    const holder = await until('the worker holding the call', async () => {
      const live = await request(base, 'GET', '/health/live');
      return live.body.active_calls === 1 ? live.worker : undefined;
    });
    const other = holder === 'worker-1' ? 'worker-2' : 'worker-1';
    expect((await request(base, 'GET', '/health')).body).to.include({ active_calls: 1, workers: 2 });

    // Twilio's callbacks for the call, out of order, each delivered to both workers (as retries are).
    for (const [seq, status] of [
      ['1', 'in-progress'],
      ['0', 'ringing'],
    ] as const) {
      const answeredBy = new Set<string>();
      await until(`callback ${seq} delivered to both workers`, async () => {
        const reply = await request(base, 'POST', '/twilio/status', { form: { CallSid: caller.callSid, CallStatus: status, SequenceNumber: seq } });
        expect(reply.status).to.equal(204);
        answeredBy.add(reply.worker);
        return answeredBy.size === 2 ? true : undefined;
      });
    }
    // Each worker takes the copies it receives; the store puts the call's callbacks in order: the
    // ringing that comes too late is refused once, and every other copy is ignored as a repeat.
    const callbackLines = (): string[] =>
      gateway.stdout().split('\n').filter((line) => /ignored a (status change|repeated)/.test(line) && (line.includes(taskId) || line.includes(caller.callSid)));
    await until('the late ringing refused and a repeat ignored', async () => {
      const lines = callbackLines();
      return lines.some((l) => l.includes('status change')) && lines.some((l) => l.includes('repeated')) ? true : undefined;
    });
    expect(callbackLines().filter((line) => line.includes('status change')), callbackLines().join('\n')).to.have.length(1);

    // Stopped through the worker that does not hold the call: pin one kept-alive connection to it.
    const stopped = await until('a stop sent through the other worker', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const probe = await request(base, 'GET', '/health/live', { agent });
        if (probe.worker !== other) return undefined;
        return await request(base, 'POST', `/api/tasks/${taskId}/stop`, { agent });
      } finally {
        agent.destroy();
      }
    });
    expect(stopped.worker).to.equal(other);
    expect(stopped.status).to.equal(200);
    expect(stopped.body.status).to.equal('completed');
    await caller.waitForClose();

    // The analysis, asked for on both workers while it is made, is made once.
    const askedOn = new Set<string>();
    const analysis = await until('the analysis', async () => {
      const reply = await request(base, 'GET', `/api/tasks/${taskId}/analysis`);
      askedOn.add(reply.worker);
      return reply.status === 200 ? reply.body : undefined;
    });
    expect(analysis.summary ?? analysis.analysis?.summary).to.equal(ANALYSIS.summary);
    expect([...askedOn].sort()).to.deep.equal(['worker-1', 'worker-2']);
    for (let i = 0; i < 4; i++) expect((await request(base, 'GET', `/api/tasks/${taskId}/analysis`)).status).to.equal(200);
    expect(llm.requestsTo('chat')).to.have.length(1);

    // Both watchers saw the same events, each once, in order.
    for (const w of watchers.values()) await until(`the analysis on ${w.worker}'s watcher`, async () => (w.messages.some((m) => m.type === 'analysis') ? true : undefined));
    const [first, second] = [...watchers.values()].map((w) => w.messages);
    expect(second).to.deep.equal(first);
    const events = first!.slice(1);
    expect(first![0]!.type).to.equal('snapshot');
    expect(events.filter((m) => m.type === 'status').map((m) => (m as { status: string }).status)).to.deep.equal(['in-progress', 'completed']);
    expect(events.filter((m) => m.type === 'transcript').length).to.be.greaterThan(0);
    expect(events.filter((m) => m.type === 'call_ended')).to.have.length(1);
    expect(events.filter((m) => m.type === 'analysis')).to.have.length(1);
    expect(events.map((m) => m.type).at(-1)).to.equal('analysis');

    // A worker that dies is replaced, its exit logged; the fleet answers meanwhile, and is two again.
    const pid = Number(/worker ready worker=worker-2 pid=(\d+)/.exec(gateway.stdout())![1]);
    process.kill(pid, 'SIGKILL');
    await until('the dead worker replaced', async () => (/worker ready worker=worker-3 /.test(gateway.stdout()) ? true : undefined), 60_000);
    expect(gateway.stdout()).to.match(/a worker died; starting another worker=worker-2 pid=\d+ exitCode=null signal=SIGKILL/);
    await until('two workers again', async () => ((await request(base, 'GET', '/health')).body.workers === 2 ? true : undefined));

    // SIGTERM with a call still on: the fleet drains; ready says 503, live stays 200; the primary exits 0.
    const late = new FakeTwilioCaller({ url: `${wsBase}/twilio/media-stream`, speed: 4 });
    open.push(late);
    await late.connect();
    await late.streamSilence(400);
    await until('the second call counted', async () => ((await request(base, 'GET', '/health')).body.active_calls === 1 ? true : undefined));
    gateway.child.kill('SIGTERM');
    await until('/health/ready 503 while draining', async () => {
      const ready = await request(base, 'GET', '/health/ready');
      return ready.status === 503 ? ready : undefined;
    }).then((ready) => expect(ready.body.status).to.equal('draining'));
    const live = await request(base, 'GET', '/health/live');
    expect(live.status).to.equal(200);
    expect(live.body.status).to.equal('draining');
    const placed = await request(base, 'POST', `/api/tasks/${taskId}/call`);
    expect(placed.status).to.equal(503);
    expect(placed.body.error).to.equal('draining');
    expect(gateway.child.exitCode).to.equal(null);
    await late.stop();
    const exit = await gateway.exited;
    expect(exit).to.deep.equal({ code: 0, signal: null });
    expect(gateway.stdout()).to.match(/SIGTERM: draining 2 workers/);
  });

  it('stops with the worker\'s exit code and its one line when a worker cannot start, rather than forking it again and again', async () => {
    const notADir = path.join(root, 'a-file');
    writeFileSync(notADir, '');
    const failing = spawnGateway({ PORT: '0', HOST: '127.0.0.1', WORKERS: '2', DATA_DIR: path.join(root, 'data2'), RECORDINGS_DIR: path.join(notADir, 'recordings') });
    const exit = await failing.exited;
    expect(exit.code).to.equal(78);
    expect(failing.stderr()).to.contain(`RECORDINGS_DIR=${path.join(notADir, 'recordings')} is not writable: ENOTDIR`);
    expect(failing.stdout()).to.match(/a worker failed to start; stopping the gateway worker=worker-1 pid=\d+ exitCode=78/);
  });
});
