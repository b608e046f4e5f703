// Calls as records over real sockets: every stream is a call (inbound, a task's, a browser's), a
// browser call is created through the API and only such a call can be claimed by a stream, the
// echo agent's call says it has no transcript, and a call without a task gets its own analysis.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import nock from 'nock';
import type { BrowserCallCreated, CallPage, CallView } from '../../src/calls/schemas.js';
import { openSqliteCallStore } from '../../src/calls/sqlite-store.js';
import type { CallStore } from '../../src/calls/store.js';
import type { CallAnalysis } from '../../src/tasks/model.js';
import type { TaskView } from '../../src/tasks/view.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { FakeTwilioCaller, randomSid, type FakeCallerOptions } from '../../tools/twilio-caller.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { freshDatabase, query } from '../helpers/postgres.js';
import { scriptedAgents } from '../helpers/scripted-agent.js';
import { api, chatCompletion, eventually, Watcher } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const SPEED = 8;
const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const ACCOUNT = 'AC' + '0123456789abcdef'.repeat(2);
const TOKEN = 'calls-test-token';
const PUBLIC = 'https://gw.example.com';
const OPENAI_KEY = 'sk-test-calls-0123456789';

const ANALYSIS: CallAnalysis = {
  summary: 'The caller asked about opening hours.',
  outcome: { goal_reached: null, explanation: 'No goal was given.' },
  sentiment: 'neutral',
  action_items: [],
  key_facts: {},
};

describe('calls API over real calls', function () {
  this.timeout(30_000);
  let t: TestGateway | undefined;
  let callers: FakeTwilioCaller[] = [];

  before(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1/);
  });
  afterEach(async () => {
    for (const caller of callers) caller.close();
    callers = [];
    nock.cleanAll();
    await t?.close();
    t = undefined;
  });
  after(() => nock.enableNetConnect());

  const newCaller = (options: Partial<FakeCallerOptions> & { url: string }): FakeTwilioCaller => {
    const caller = new FakeTwilioCaller({ speed: SPEED, callSid: randomSid('CA'), ...options });
    callers.push(caller);
    return caller;
  };

  /** The call once its end is stored. */
  const endedCall = (gateway: TestGateway, id: string): Promise<CallView> =>
    eventually(async () => {
      const got = await api<CallView>(gateway, 'GET', `/api/calls/${encodeURIComponent(id)}`);
      return got.status === 200 && got.body.endedAt !== undefined ? got.body : undefined;
    }, 8000, 'the ended call');

  const onlyCall = async (gateway: TestGateway, query = ''): Promise<CallView> => {
    const page = await eventually(async () => {
      const got = await api<CallPage>(gateway, 'GET', `/api/calls${query}`);
      return got.body.calls.length > 0 ? got.body : undefined;
    }, 5000, 'a listed call');
    expect(page.calls).to.have.length(1);
    return endedCall(gateway, page.calls[0]!.id);
  };

  describe('with the echo agent', () => {
    it('records an inbound call, says it has no transcript, and refuses to analyse it (409)', async () => {
      t = await startTestGateway();
      const caller = newCaller({ url: t.wsUrl, customParameters: { from: '+14155550100', to: '+14155550123' } });
      await caller.connect();
      await caller.streamAudio(speech);
      await caller.streamSilence(1000);
      await caller.stop();
      await t.nextEnded();
      const call = await onlyCall(t, '?direction=inbound');
      expect(call).to.deep.include({ direction: 'inbound', status: 'completed', agent: 'echo', callSid: caller.callSid, transcriptAvailable: false });
      expect(call.transcriptNote).to.match(/echo agent/);
      expect(call.transcript).to.deep.equal([]);
      expect(call.audioUrl).to.equal(`/api/calls/${call.id}/audio`);
      const analysis = await api(t, 'GET', `/api/calls/${call.id}/analysis`);
      expect(analysis.status).to.equal(409);
      expect(analysis.body.error).to.equal('no_transcript');
      expect(analysis.body.message).to.match(/echo agent/);
      expect((await api(t, 'POST', `/api/calls/${call.id}/analysis`)).status).to.equal(409);
    });

    it('links a task and the call placed for it both ways, with the task\'s numbers', async () => {
      t = await startTestGateway();
      const task = (await api<TaskView>(t, 'POST', '/api/tasks', { body: { to: '+15550002222' } })).body;
      const caller = newCaller({ url: t.wsUrl, customParameters: { taskId: task.id } });
      await caller.connect();
      await caller.streamSilence(400);
      await caller.stop();
      await t.nextEnded();
      const call = await onlyCall(t, `?taskId=${task.id}`);
      expect(call).to.deep.include({ direction: 'outbound', taskId: task.id, from: task.from, to: '+15550002222', status: 'completed' });
      const linked = await eventually(async () => (await api<TaskView>(t!, 'GET', `/api/tasks/${task.id}`)).body.callIds, 5000, 'the task\'s call ids');
      expect(linked).to.deep.equal([call.id]);
    });

    it('creates a browser call whose stream runs like Twilio\'s and is listed as browser; a made-up or used call id is refused', async () => {
      t = await startTestGateway();
      const created = await api<BrowserCallCreated>(t, 'POST', '/api/calls/browser');
      expect(created.status).to.equal(201);
      const { callId, streamUrl, customParameters } = created.body;
      expect(streamUrl).to.equal(t.wsUrl);
      expect(customParameters).to.deep.equal({ callId });
      expect((await api<CallView>(t, 'GET', `/api/calls/${callId}`)).body).to.deep.include({ direction: 'browser', status: 'pending' });

      const browser = newCaller({ url: streamUrl, customParameters });
      await browser.connect();
      await browser.streamAudio(speech);
      await browser.streamSilence(1000);
      // The echo agent plays the caller back: the browser hears the agent as Twilio would.
      await browser.waitFor((e) => e.kind === 'media', 10_000);
      await browser.stop();
      expect((await t.nextEnded()).reason).to.equal('twilio_stop');
      const call = await endedCall(t, callId);
      expect(call).to.deep.include({ id: callId, direction: 'browser', status: 'completed', callSid: browser.callSid });
      expect(call.audioUrl).to.equal(`/api/calls/${callId}/audio`);
      expect((await api<CallPage>(t, 'GET', '/api/calls?direction=browser')).body.calls.map((c) => c.id)).to.deep.equal([callId]);

      // A stream naming a call nobody created, or one that already streamed, is no browser call.
      for (const claimed of ['made-up-call-id', callId]) {
        const forger = newCaller({ url: t.wsUrl, customParameters: { callId: claimed } });
        await forger.connect();
        const refused = await t.nextEnded();
        expect(refused.reason).to.equal('stream_refused');
        expect(refused.detail).to.match(/not a browser call waiting for its stream/);
      }
      const all = (await api<CallPage>(t, 'GET', '/api/calls')).body.calls;
      expect(all.map((c) => c.id)).to.deep.equal([callId]);
      expect(all[0]!.callSid).to.equal(browser.callSid);
    });
  });

  it('ends a browser call as failed when its stream closed before the claim came back, instead of leaving it in progress', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'calls-abandoned-'));
    const real = openSqliteCallStore(dir);
    // The store answers the claim late, as a database across a network can.
    const callStore = new Proxy(real, {
      get: (target, prop: keyof CallStore) =>
        prop === 'claimPending'
          ? async (...args: Parameters<CallStore['claimPending']>) => {
              await sleep(300);
              return target.claimPending(...args);
            }
          : (target[prop] as (...a: unknown[]) => unknown).bind(target),
    });
    try {
      t = await startTestGateway({}, { callStore });
      const { callId, customParameters } = (await api<BrowserCallCreated>(t, 'POST', '/api/calls/browser')).body;
      const browser = newCaller({ url: t.wsUrl, customParameters });
      await browser.connect();
      browser.close();
      expect((await t.nextEnded()).reason).to.equal('socket_closed');
      const call = await endedCall(t, callId);
      expect(call).to.deep.include({ status: 'failed', endReason: 'socket_closed', endDetail: 'the stream ended while it was being admitted' });
    } finally {
      await t?.close();
      t = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('with signature checks on', () => {
    const env = { TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: PUBLIC };
    const local = (gateway: TestGateway, publicUrl: string): string => `ws://${new URL(gateway.wsUrl).host}${new URL(publicUrl).pathname}`;

    it('gives the browser a single-use token URL that needs no Twilio signature and admits only its own call', async () => {
      t = await startTestGateway(env);
      const first = (await api<BrowserCallCreated>(t, 'POST', '/api/calls/browser')).body;
      const second = (await api<BrowserCallCreated>(t, 'POST', '/api/calls/browser')).body;
      expect(first.streamUrl).to.match(/^wss:\/\/gw\.example\.com\/twilio\/media-stream\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(Date.parse(first.expiresAt!)).to.be.greaterThan(Date.now());

      // The first URL, claiming the second call: the token was not issued for it.
      const crossed = newCaller({ url: local(t, first.streamUrl), customParameters: second.customParameters });
      await crossed.connect();
      expect((await t.nextEnded()).detail).to.equal(`the stream URL was issued for browser call ${first.callId}`);
      // Used once, the URL opens nothing more.
      expect(await Watcher.upgradeStatus(t, new URL(first.streamUrl).pathname)).to.equal(403);
      // The bare URL is closed with signature checks on, whatever the stream would claim.
      expect(await Watcher.upgradeStatus(t, '/twilio/media-stream')).to.equal(403);

      const browser = newCaller({ url: local(t, second.streamUrl), customParameters: second.customParameters });
      await browser.connect();
      await browser.streamSilence(400);
      await browser.stop();
      expect((await t.nextEnded()).reason).to.equal('twilio_stop');
      expect(await endedCall(t, second.callId)).to.deep.include({ direction: 'browser', status: 'completed' });
      expect((await api<CallView>(t, 'GET', `/api/calls/${first.callId}`)).body.status).to.equal('pending');
    });

    it("refuses a browser stream that names a task: its token cannot take over the task's record", async () => {
      t = await startTestGateway(env);
      const made = await api<{ id: string; status: string }>(t, 'POST', '/api/tasks', { body: { to: '+14155550123', from: '+14155550100' } });
      expect(made.status, JSON.stringify(made.body)).to.equal(201);
      const task = made.body;
      const created = (await api<BrowserCallCreated>(t, 'POST', '/api/calls/browser')).body;
      const browser = newCaller({ url: local(t, created.streamUrl), customParameters: { ...created.customParameters, taskId: task.id } });
      await browser.connect();
      const ended = await t.nextEnded();
      expect(ended.reason).to.equal('stream_refused');
      expect(ended.detail).to.equal(`a browser call's stream cannot name a task (browser call ${created.callId})`);
      expect((await api<{ status: string }>(t, 'GET', `/api/tasks/${task.id}`)).body.status).to.equal('created');
      expect((await api<CallView>(t, 'GET', `/api/calls/${created.callId}`)).body.status).to.equal('pending');
    });
  });

  describe('with DATABASE_URL (PostgreSQL)', () => {
    it('keeps the records in the shared database: a browser call claimed once, its timeline rows', async () => {
      const url = await freshDatabase();
      const logs = capturingLogger('warn');
      t = await startTestGateway({ DATABASE_URL: url }, { logger: logs.logger });
      const { callId, customParameters } = (await api<BrowserCallCreated>(t, 'POST', '/api/calls/browser')).body;
      const browser = newCaller({ url: t.wsUrl, customParameters });
      await browser.connect();
      await browser.streamAudio(speech);
      browser.sendDtmf('1');
      await browser.streamSilence(600);
      await browser.stop();
      await t.nextEnded();
      const call = await endedCall(t, callId);
      expect(call).to.deep.include({ direction: 'browser', status: 'completed', agent: 'echo' });
      expect(call.events.map((e) => e.type)).to.include('dtmf');
      const rows = await query<{ direction: string; status: string; stream_member: string | null }>(url, 'SELECT direction, status, stream_member FROM calls WHERE id = $1', [callId]);
      expect(rows).to.deep.equal([{ direction: 'browser', status: 'completed', stream_member: null }]);
      expect((await query(url, 'SELECT event FROM call_events WHERE call_id = $1', [callId])).map((r) => r.event)).to.deep.equal(call.events);

      const again = newCaller({ url: t.wsUrl, customParameters });
      await again.connect();
      expect((await t.nextEnded()).reason).to.equal('stream_refused');
      expect(logs.lines.filter((line) => line.level === 'error')).to.deep.equal([]);
    });
  });

  describe('with an agent that speaks', () => {
    it('analyses an inbound call once, as its own, and streams it to a watcher of the call', async () => {
      const scripted = scriptedAgents();
      t = await startTestGateway({ LLM_PROVIDER: 'openai', OPENAI_API_KEY: OPENAI_KEY }, { agentFactory: scripted.factory });
      const caller = newCaller({ url: t.wsUrl });
      await caller.connect();
      const listed = await eventually(async () => (await api<CallPage>(t!, 'GET', '/api/calls')).body.calls[0], 5000, 'the live call');
      const watcher = await Watcher.open(t, listed.id);
      const agent = await eventually(() => scripted.agents[0], 5000, 'the agent');
      agent.sink.transcript({ role: 'assistant', text: 'Hello, how can I help?' });
      agent.sink.transcript({ role: 'user', text: 'When are you open?' });
      await watcher.waitFor((m) => m.type === 'transcript' && m.line.role === 'user');
      const early = await api(t, 'GET', `/api/calls/${listed.id}/analysis`);
      expect(early.status).to.equal(409);
      expect(early.body.error).to.equal('call_not_ended');

      let asked = 0;
      nock('https://api.openai.com')
        .post('/v1/chat/completions')
        .times(2)
        .reply(() => {
          asked++;
          return [200, chatCompletion(JSON.stringify(ANALYSIS))];
        });
      await caller.stop();
      await endedCall(t, listed.id);
      // Two readers at once: the analysis is claimed once and made once.
      const [a, b] = await Promise.all([api(t, 'GET', `/api/calls/${listed.id}/analysis`), api(t, 'GET', `/api/calls/${listed.id}/analysis`)]);
      expect([a.status, b.status]).to.satisfy((statuses: number[]) => statuses.every((s) => s === 200 || s === 202));
      const ready = await eventually(async () => {
        const res = await api(t!, 'GET', `/api/calls/${listed.id}/analysis`);
        return res.status === 200 ? res.body : undefined;
      }, 8000, 'the analysis');
      expect(ready).to.deep.equal({ state: 'ready', analysis: ANALYSIS });
      expect(asked).to.equal(1);
      await watcher.waitFor((m) => m.type === 'analysis');
      expect(watcher.messages.map((m) => m.type)).to.deep.equal(['call_snapshot', 'transcript', 'transcript', 'call_status', 'call_ended', 'analysis']);
      watcher.close();
    });

    it("answers a task call's analysis with its task's, made once for both", async () => {
      const scripted = scriptedAgents();
      t = await startTestGateway({ LLM_PROVIDER: 'openai', OPENAI_API_KEY: OPENAI_KEY }, { agentFactory: scripted.factory });
      const task = (await api<TaskView>(t, 'POST', '/api/tasks', { body: { to: '+15550002222', prompt: 'Ask about opening hours' } })).body;
      let asked = 0;
      nock('https://api.openai.com')
        .post('/v1/chat/completions')
        .times(2)
        .reply(() => {
          asked++;
          return [200, chatCompletion(JSON.stringify(ANALYSIS))];
        });
      const caller = newCaller({ url: t.wsUrl, customParameters: { taskId: task.id } });
      await caller.connect();
      const agent = await eventually(() => scripted.agents[0], 5000, 'the agent');
      agent.sink.transcript({ role: 'user', text: 'When are you open?' });
      await caller.stop();
      await t.nextEnded();
      const call = await onlyCall(t, `?taskId=${task.id}`);
      const ofCall = await eventually(async () => {
        const res = await api(t!, 'GET', `/api/calls/${call.id}/analysis`);
        return res.status === 200 ? res.body : undefined;
      }, 8000, 'the analysis');
      expect(ofCall).to.deep.equal({ state: 'ready', analysis: ANALYSIS });
      expect((await api(t, 'GET', `/api/tasks/${task.id}/analysis`)).body).to.deep.equal(ofCall);
      expect(asked).to.equal(1);
    });
  });
});
