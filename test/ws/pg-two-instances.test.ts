// Two gateway instances (two processes, two ports) on one PostgreSQL and one RECORDINGS_DIR volume,
// the real entry point each. A task created on A, its call streamed to A by the fake Twilio caller
// (the fake Deepgram agent speaks and transcribes), is watched on B (every event once, in order,
// as a watcher on A sees it), its status callbacks posted to B out of order, stopped through B, and
// analysed once (a fake LLM over a real socket counts requests). Then A is killed with SIGKILL
// mid-call: B settles the task once, repairs the recording A left, serves it, and analyses it once.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { CONVERSE_PATH, FakeDeepgramAgent } from '../../tools/fake-deepgram-agent.js';
import { FakeOpenAi } from '../../tools/fake-providers/openai.js';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { freshDatabase, query } from '../helpers/postgres.js';
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

interface Instance {
  process: GatewayProcess;
  base: string;
  memberId: string;
}

interface Reply {
  status: number;
  body: any;
}

async function request(base: string, method: string, route: string, form?: Record<string, string>, json?: unknown): Promise<Reply> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  } else if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  }
  const res = await fetch(base + route, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: (res.headers.get('content-type') ?? '').includes('json') && text ? JSON.parse(text) : text };
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('two instances on one PostgreSQL', function () {
  this.timeout(90_000);
  let root: string;
  let url: string;
  let llm: FakeOpenAi;
  let agent: FakeDeepgramAgent;
  const instances: Instance[] = [];
  const open: Array<{ close(): unknown }> = [];

  const start = async (name: string): Promise<Instance> => {
    const child = spawnGateway({
      DATABASE_URL: url,
      AGENT_PROVIDER: 'deepgram',
      DEEPGRAM_API_KEY: 'any',
      DEEPGRAM_VOICE_AGENT_WS_URL: `${agent.url}${CONVERSE_PATH}`,
      DEEPGRAM_VOICE_AGENT_GREETING: 'Hello from the fake agent.',
      PORT: '0',
      HOST: '127.0.0.1',
      AGENT_WORKERS: '1',
      DATA_DIR: path.join(root, `data-${name}`),
      // One volume for both, as instances on several machines mount it.
      RECORDINGS_DIR: path.join(root, 'recordings'),
      MEDIA_MAX_LEAD_S: '600',
      LLM_PROVIDER: 'local',
      VLLM_BASE_URL: llm.baseUrl,
      VLLM_MODEL: MODEL,
    });
    const port = await until(`${name} listening`, () => /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(child.stdout())?.[1], 30_000);
    const instance = { process: child, base: `http://127.0.0.1:${port}`, memberId: `${hostname()}-${child.child.pid}` };
    instances.push(instance);
    return instance;
  };

  before(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'gateway-two-'));
    url = await freshDatabase();
    llm = await FakeOpenAi.start({ models: [MODEL], defaultReply: { text: JSON.stringify(ANALYSIS) } });
    agent = await FakeDeepgramAgent.start();
  });

  after(async () => {
    for (const o of open) o.close();
    for (const { process: p } of instances) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    await Promise.all([llm.close(), agent.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  it('streams on A, is watched, called back and stopped through B, analysed once; and B settles what a SIGKILLed A leaves', async () => {
    const [a, b] = [await start('a'), await start('b')];
    await until('each instance to see both', async () => ((await request(a.base, 'GET', '/health')).body.workers === 2 && (await request(b.base, 'GET', '/health')).body.workers === 2 ? true : undefined));

    // --- The walk: a task on A, its call on A, everything else through B.
    const taskId: string = (await request(a.base, 'POST', '/api/tasks', undefined, { to: '+15550002222' })).body.id;
    const onA = await Watcher.open({ baseUrl: a.base }, taskId);
    const onB = await Watcher.open({ baseUrl: b.base }, taskId);
    open.push(onA, onB);
    const caller = new FakeTwilioCaller({ url: `${a.base.replace('http:', 'ws:')}/twilio/media-stream`, customParameters: { taskId }, speed: 4 });
    open.push(caller);
    await caller.connect();
    await caller.streamAudio(speech);
    await caller.streamSilence(1500);
    await until('A holding the call, counted by B', async () => ((await request(b.base, 'GET', '/health')).body.active_calls === 1 ? true : undefined));
    expect((await query<{ stream_member: string }>(url, 'SELECT stream_member FROM tasks WHERE id = $1', [taskId]))[0]?.stream_member).to.equal(a.memberId);

    // Twilio's callbacks land on B, the later one first: each answered 204, the late ringing refused.
    for (const [seq, status] of [
      ['1', 'in-progress'],
      ['0', 'ringing'],
    ] as const) {
      const reply = await request(b.base, 'POST', '/twilio/status', { CallSid: caller.callSid, CallStatus: status, SequenceNumber: seq });
      expect(reply.status).to.equal(204);
    }

    const stopped = await request(b.base, 'POST', `/api/tasks/${taskId}/stop`);
    expect(stopped.status).to.be.oneOf([200, 202]);
    await caller.waitForClose();
    const analysis = await until('the analysis', async () => {
      const reply = await request(b.base, 'GET', `/api/tasks/${taskId}/analysis`);
      return reply.status === 200 ? reply.body : undefined;
    });
    expect(analysis.summary ?? analysis.analysis?.summary).to.equal(ANALYSIS.summary);
    expect((await request(a.base, 'GET', `/api/tasks/${taskId}/analysis`)).status).to.equal(200);
    expect(llm.requestsTo('chat')).to.have.length(1);

    for (const w of [onA, onB]) await until('the analysis on each watcher', () => (w.messages.some((m) => m.type === 'analysis') ? true : undefined));
    expect(onB.messages).to.deep.equal(onA.messages);
    const events = onB.messages.slice(1);
    expect(onB.messages[0]!.type).to.equal('snapshot');
    expect(events.filter((m) => m.type === 'status').map((m) => (m as { status: string }).status)).to.deep.equal(['in-progress', 'completed']);
    expect(events.filter((m) => m.type === 'transcript').length).to.be.greaterThan(0);
    expect(events.filter((m) => m.type === 'call_ended')).to.have.length(1);
    expect(events.filter((m) => m.type === 'analysis')).to.have.length(1);
    const task = (await request(b.base, 'GET', `/api/tasks/${taskId}`)).body;
    expect(task.history.map((h: { status: string }) => h.status)).to.deep.equal(['created', 'in-progress', 'completed']);
    expect((await query(url, 'SELECT stream_member FROM tasks WHERE id = $1', [taskId]))[0]).to.deep.equal({ stream_member: null });

    // --- A dies mid-call.
    const lostId: string = (await request(a.base, 'POST', '/api/tasks', undefined, { to: '+15550003333' })).body.id;
    const doomed = new FakeTwilioCaller({ url: `${a.base.replace('http:', 'ws:')}/twilio/media-stream`, customParameters: { taskId: lostId }, speed: 4 });
    open.push(doomed);
    await doomed.connect();
    await doomed.streamAudio(speech);
    void doomed.streamSilence(20_000).catch(() => undefined);
    await until('words stored and a part file written', async () => {
      const lines: Array<{ role: string }> = (await request(b.base, 'GET', `/api/tasks/${lostId}`)).body.transcript;
      const parts = readdirSync(path.join(root, 'recordings')).filter((f) => f.endsWith('.wav.part'));
      return lines.some((line) => line.role === 'user') && parts.length === 1 ? true : undefined;
    });
    a.process.child.kill('SIGKILL');
    await a.process.exited;

    // B notices A's lock gone, takes the task over, repairs the recording, settles, analyses.
    const settled = await until('B to settle the lost task', async () => {
      const reply = await request(b.base, 'GET', `/api/tasks/${lostId}`);
      return reply.body.status === 'completed' && reply.body.analysis?.state === 'ready' ? reply.body : undefined;
    });
    expect(settled.endReason).to.equal(`gateway_instance_lost: ${a.memberId}`);
    expect(settled.history.filter((h: { status: string }) => h.status === 'completed')).to.have.length(1);
    expect(settled.audioUrl).to.equal(`/api/tasks/${lostId}/audio`);
    const audio = await fetch(`${b.base}/api/tasks/${lostId}/audio`);
    expect(audio.status).to.equal(200);
    const wav = Buffer.from(await audio.arrayBuffer());
    expect(wav.subarray(0, 4).toString('latin1')).to.equal('RIFF');
    expect(wav.readUInt32LE(40)).to.equal(wav.length - 44);
    expect(wav.length).to.be.greaterThan(44 + 8000);
    expect(readdirSync(path.join(root, 'recordings')).filter((f) => f.includes('.part'))).to.deep.equal([]);
    expect(settled.analysis.analysis).to.deep.equal(ANALYSIS);
    expect(llm.requestsTo('chat')).to.have.length(2);
    expect(b.process.stdout()).to.match(/settled calls a lost fleet member left/);
    expect((await query(url, 'SELECT stream_member FROM tasks WHERE id = $1', [lostId]))[0]).to.deep.equal({ stream_member: null });
  });

  it('joins each worker of a WORKERS=2 instance to the fleet as <host>-worker-<n>, and they leave it on SIGTERM', async () => {
    const fleetUrl = await freshDatabase();
    const child = spawnGateway({
      DATABASE_URL: fleetUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      WORKERS: '2',
      AGENT_WORKERS: '1',
      DATA_DIR: path.join(root, 'data-workers'),
      RECORDINGS_DIR: path.join(root, 'recordings-workers'),
    });
    instances.push({ process: child, base: '', memberId: '' });
    await until('both workers ready', () => (/worker ready worker=worker-2 .*workers=2/.test(child.stdout()) ? true : undefined), 60_000);
    const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(child.stdout())![1];
    const liveMembers = (): Promise<Array<{ member_id: string }>> =>
      query(fleetUrl, `SELECT m.member_id FROM fleet_members m JOIN pg_locks l ON l.locktype = 'advisory' AND l.objsubid = 2 AND l.objid::bigint = m.key
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 1`);
    expect(await liveMembers()).to.deep.equal([{ member_id: `${hostname()}-worker-1` }, { member_id: `${hostname()}-worker-2` }]);
    await until('the fleet counted over PostgreSQL', async () => ((await request(`http://127.0.0.1:${port}`, 'GET', '/health')).body.workers === 2 ? true : undefined));
    child.child.kill('SIGTERM');
    expect(await child.exited).to.deep.equal({ code: 0, signal: null });
    expect(await liveMembers()).to.deep.equal([]);
  });
});
