// Whole task calls over real sockets: the operator creates a task and places its call (Twilio REST
// mocked on the wire with nock), a fake Twilio streams the call over the media-stream socket,
// status callbacks arrive signed, and the task ends completed with its WAV, its transcript and its
// analysis (OpenAI mocked in its real response shape), while watchers follow it on /ws/call/{id}.
import { expect } from 'chai';
import nock from 'nock';
import WebSocket from 'ws';
import type { CallContext } from '../../src/agents/bridge.js';
import type { LiveMessage } from '../../src/live/bus.js';
import type { CallAnalysis } from '../../src/tasks/model.js';
import type { TaskView } from '../../src/tasks/view.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { FakeTwilioCaller, randomSid } from '../../tools/twilio-caller.js';
import { scriptedAgents, type ScriptedAgent } from '../helpers/scripted-agent.js';
import { api, chatCompletion, eventually, postStatus, Watcher, type CallbackSigning } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { mockDial, signedStream } from '../helpers/twilio-stream.js';

const SID = 'AC' + 'fedcba9876543210'.repeat(2);
const TOKEN = 'call-test-token';
const PUBLIC = 'https://gw.example.com';
const FROM = '+15550001111';
const TO = '+15550002222';
const OPENAI_KEY = 'sk-test-analysis-0123456789';
const SIGNING: CallbackSigning = { authToken: TOKEN, publicUrl: PUBLIC };
const TWILIO_ENV = { TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: PUBLIC, TWILIO_PHONE_NUMBER: FROM };
const LLM_ENV = { LLM_PROVIDER: 'openai', OPENAI_API_KEY: OPENAI_KEY };
const SPEED = 8;
const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');

const ANALYSIS: CallAnalysis = {
  summary: 'The clinic confirmed the appointment for Tuesday at 3 pm.',
  outcome: { goal_reached: true, explanation: 'The person confirmed the slot.' },
  sentiment: 'positive',
  action_items: ['Send a reminder on Monday'],
  key_facts: { appointment: 'Tuesday 3 pm' },
};

/** The messages a watcher saw, as `type` or `type:status`, latency figures left out. */
function story(messages: LiveMessage[]): string[] {
  return messages
    .filter((m) => m.type !== 'latency')
    .map((m) => (m.type === 'status' ? `status:${m.status}` : m.type === 'analysis' ? `analysis:${m.state}` : m.type));
}

async function createTask(t: TestGateway, body: object): Promise<TaskView> {
  const res = await api<TaskView>(t, 'POST', '/api/tasks', { body });
  expect(res.status).to.equal(201);
  return res.body;
}

async function analysisWhenSettled(t: TestGateway, taskId: string): Promise<{ status: number; body: any }> {
  return eventually(async () => {
    const res = await api(t, 'GET', `/api/tasks/${taskId}/analysis`);
    return res.status === 202 ? undefined : res;
  }, 8000, 'the analysis');
}

/** OpenAI's chat completions, answering `reply`; the JSON request body lands in `seen`. */
function mockOpenAi(reply: { status: number; body: object }) {
  const seen: { body?: any; auth?: string | null } = {};
  const scope = nock('https://api.openai.com')
    .post('/v1/chat/completions')
    .reply(async (req: Request) => {
      seen.body = JSON.parse(await req.text());
      seen.auth = req.headers.get('authorization');
      return [reply.status, reply.body];
    });
  return { seen, scope };
}

describe('task calls, end to end', function () {
  this.timeout(30_000);
  let t: TestGateway | undefined;
  let callers: FakeTwilioCaller[] = [];
  let watchers: Watcher[] = [];

  before(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1/);
  });
  afterEach(async () => {
    for (const caller of callers) caller.close();
    for (const watcher of watchers) watcher.close();
    callers = [];
    watchers = [];
    nock.cleanAll();
    await t?.close();
    t = undefined;
  });
  after(() => nock.enableNetConnect());

  const watch = async (gateway: TestGateway, taskId: string) => {
    const watcher = await Watcher.open(gateway, taskId);
    watchers.push(watcher);
    return watcher;
  };
  const newCaller = (gateway: TestGateway, options: Partial<ConstructorParameters<typeof FakeTwilioCaller>[0]>) => {
    const caller = new FakeTwilioCaller({ url: gateway.wsUrl, speed: SPEED, ...options });
    callers.push(caller);
    return caller;
  };

  it('places the call, follows Twilio and the stream to completed, keeps the WAV, and analyses a call without words', async () => {
    const started: CallContext[] = [];
    t = await startTestGateway({ ...TWILIO_ENV, ...LLM_ENV }, { hooks: { started: (call) => started.push(call) } });
    const task = await createTask(t, { to: TO, prompt: 'Confirm the appointment', greeting: 'Hello from the clinic' });
    const [first, second] = [await watch(t, task.id), await watch(t, task.id)];

    const callSid = randomSid('CA');
    const dial = mockDial(SID, callSid);
    const placed = await api<TaskView>(t, 'POST', `/api/tasks/${task.id}/call`);
    expect(placed.status).to.equal(200);
    expect(placed.body).to.include({ status: 'queued', callSid });
    // Twilio streams to the URL in the dial's TwiML, signing the upgrade over it.
    const stream = signedStream(t, TOKEN, dial.twiml);
    const caller = newCaller(t, {
      url: stream.url,
      headers: stream.headers,
      callSid,
      customParameters: { taskId: task.id, to: TO, from: FROM, direction: 'outbound-api' },
    });

    const status = (CallStatus: string, seq: number, extra: Record<string, string> = {}) =>
      postStatus(t!, { CallSid: callSid, AccountSid: SID, CallStatus, SequenceNumber: String(seq), ...extra }, { taskId: task.id, signing: SIGNING });
    expect(await status('initiated', 0)).to.equal(204);
    expect(await status('ringing', 1)).to.equal(204);

    await caller.connect();
    await caller.streamSilence(200);
    await caller.streamAudio(speech);
    await caller.streamSilence(800);
    await caller.waitFor((e) => e.kind === 'mark-echoed', 8000);
    // The task's own prompt and greeting reached the agent, looked up by task id.
    expect(started[0]).to.include({ taskId: task.id, prompt: 'Confirm the appointment', greeting: 'Hello from the clinic' });
    expect(await status('in-progress', 2, { AnsweredBy: 'human' })).to.equal(204);

    const hangup: { body?: string } = {};
    nock('https://api.twilio.com')
      .post(`/2010-04-01/Accounts/${SID}/Calls/${callSid}.json`)
      .reply(async (req: Request) => {
        hangup.body = await req.text();
        return [200, { sid: callSid, status: 'completed' }];
      });
    const stop = await api<TaskView>(t, 'POST', `/api/tasks/${task.id}/stop`);
    expect(stop.status).to.equal(202);
    expect(hangup.body).to.equal('Status=completed');
    // Twilio ends the stream, then reports the end of the call.
    await caller.stop();
    const summary = await t.nextEnded();
    expect(await status('completed', 3, { CallDuration: '6' })).to.equal(204);

    const analysis = await analysisWhenSettled(t, task.id);
    expect(analysis.status).to.equal(200);
    expect(analysis.body.state).to.equal('ready');
    expect(analysis.body.analysis.summary).to.contain('No conversation took place');

    const done = (await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body;
    expect(done).to.include({ status: 'completed', callSid, durationS: 6, answeredBy: 'human', endReason: 'twilio_stop', audioUrl: `/api/tasks/${task.id}/audio` });
    expect(done.history.map((c) => `${c.status}/${c.source ?? ''}`)).to.deep.equal([
      'created/',
      'queued/api',
      'ringing/twilio-status',
      'in-progress/media-stream',
      'completed/twilio-status',
    ]);

    const audio = await fetch(`${t.baseUrl}/api/tasks/${task.id}/audio`);
    expect(audio.status).to.equal(200);
    expect(audio.headers.get('content-type')).to.equal('audio/wav');
    const wav = Buffer.from(await audio.arrayBuffer());
    expect(wav.subarray(0, 4).toString()).to.equal('RIFF');
    expect(wav.subarray(8, 12).toString()).to.equal('WAVE');
    expect(wav.length).to.equal(summary.recording!.bytes);

    const expected = ['snapshot', 'status:queued', 'status:ringing', 'status:in-progress', 'call_ended', 'status:completed', 'analysis:ready'];
    for (const watcher of [first, second]) {
      await watcher.waitFor((m) => m.type === 'analysis');
      expect(story(watcher.messages)).to.deep.equal(expected);
    }
    const ended = first.messages.find((m) => m.type === 'call_ended');
    expect(ended).to.deep.include({ reason: 'twilio_stop', recording: true });
    expect(first.messages.some((m) => m.type === 'latency' && m.metric === 'turn_latency' && m.ms > 0)).to.equal(true);
  });

  describe('with an agent that speaks (no Twilio credentials: a simulated call)', () => {
    let agents: ScriptedAgent[];
    const start = async (env: Record<string, string> = LLM_ENV) => {
      const scripted = scriptedAgents();
      agents = scripted.agents;
      t = await startTestGateway({ TWILIO_PHONE_NUMBER: FROM, ...env }, { agentFactory: scripted.factory });
      return t;
    };
    const connectCall = async (gateway: TestGateway, taskId: string) => {
      const caller = newCaller(gateway, { customParameters: { taskId } });
      await caller.connect();
      await caller.streamSilence(100);
      const agent = await eventually(() => agents[0], 3000, 'the agent');
      return { caller, agent };
    };

    it('stores and streams the transcript, and analyses it through the LLM', async () => {
      const gateway = await start();
      const task = await createTask(gateway, { to: TO, prompt: 'Confirm the appointment on Tuesday at 3 pm' });
      const watcher = await watch(gateway, task.id);
      const { caller, agent } = await connectCall(gateway, task.id);
      agent.sink.transcript({ role: 'assistant', text: 'Hello, this is the clinic calling about your appointment.' });
      agent.sink.transcript({ role: 'user', text: 'Yes, Tuesday at 3 works for me.' });
      agent.sink.latency('llm_first_token', 240);
      await watcher.waitFor((m) => m.type === 'latency');
      const lines = watcher.messages.filter((m) => m.type === 'transcript');
      expect(lines.map((m) => m.type === 'transcript' && m.line.text)).to.deep.equal([
        'Hello, this is the clinic calling about your appointment.',
        'Yes, Tuesday at 3 works for me.',
      ]);

      const { seen, scope } = mockOpenAi({ status: 200, body: chatCompletion(JSON.stringify(ANALYSIS)) });
      await caller.stop();
      const analysis = await analysisWhenSettled(gateway, task.id);
      expect(analysis.status).to.equal(200);
      expect(analysis.body).to.deep.equal({ state: 'ready', analysis: ANALYSIS });
      expect(scope.isDone()).to.equal(true);
      expect(seen.auth).to.equal(`Bearer ${OPENAI_KEY}`);
      expect(seen.body.model).to.equal('gpt-4o-mini');
      const prompt: string = seen.body.messages.find((m: { role: string }) => m.role === 'user').content;
      expect(prompt).to.contain('Confirm the appointment on Tuesday at 3 pm');
      expect(prompt).to.match(/\] Agent: Hello, this is the clinic calling about your appointment\./);
      expect(prompt).to.match(/\] Person: Yes, Tuesday at 3 works for me\./);

      const done = (await api<TaskView>(gateway, 'GET', `/api/tasks/${task.id}`)).body;
      expect(done.status).to.equal('completed');
      expect(done.endReason).to.equal('twilio_stop');
      expect(done.transcript.map((l) => `${l.role}: ${l.text}`)).to.deep.equal([
        'assistant: Hello, this is the clinic calling about your appointment.',
        'user: Yes, Tuesday at 3 works for me.',
      ]);
      for (const line of done.transcript) expect(line.atMs).to.be.a('number');
      await watcher.waitFor((m) => m.type === 'analysis');
      expect(story(watcher.messages)).to.deep.equal([
        'snapshot',
        'status:in-progress',
        'transcript',
        'transcript',
        'call_ended',
        'status:completed',
        'analysis:ready',
      ]);
      expect(watcher.messages.find((m) => m.type === 'latency')).to.deep.equal({ type: 'latency', metric: 'llm_first_token', ms: 240 });
      const ready = watcher.messages.find((m) => m.type === 'analysis');
      expect(ready).to.deep.equal({ type: 'analysis', state: 'ready', analysis: ANALYSIS });
    });

    it('reports a failed analysis as 502 and makes it again on POST /analysis', async () => {
      const gateway = await start();
      const task = await createTask(gateway, { to: TO });
      const watcher = await watch(gateway, task.id);
      const { caller, agent } = await connectCall(gateway, task.id);
      agent.sink.transcript({ role: 'user', text: 'Please call me back tomorrow.' });
      const refused = mockOpenAi({ status: 400, body: { error: { message: 'Invalid model', type: 'invalid_request_error', param: 'model', code: null } } });
      await caller.stop();
      const failed = await analysisWhenSettled(gateway, task.id);
      expect(refused.scope.isDone()).to.equal(true);
      expect(failed.status).to.equal(502);
      expect(failed.body.error).to.equal('analysis_failed');
      expect(failed.body.message).to.contain('HTTP 400').and.not.contain(OPENAI_KEY);
      const failure = await watcher.waitFor((m) => m.type === 'analysis');
      expect(failure).to.deep.include({ type: 'analysis', state: 'failed' });

      mockOpenAi({ status: 200, body: chatCompletion(JSON.stringify(ANALYSIS)) });
      const retry = await api(gateway, 'POST', `/api/tasks/${task.id}/analysis`);
      expect(retry.status).to.equal(202);
      expect(retry.body).to.deep.equal({ state: 'pending' });
      const ready = await analysisWhenSettled(gateway, task.id);
      expect(ready.status).to.equal(200);
      expect(ready.body.analysis).to.deep.equal(ANALYSIS);
      const again = await api(gateway, 'POST', `/api/tasks/${task.id}/analysis`);
      expect(again.status).to.equal(200);
    });

    it('fails the analysis with a clear message when no LLM key is configured', async () => {
      const gateway = await start({ LLM_PROVIDER: 'openai' });
      const task = await createTask(gateway, { to: TO });
      const { caller, agent } = await connectCall(gateway, task.id);
      agent.sink.transcript({ role: 'user', text: 'Hello?' });
      await caller.stop();
      const failed = await analysisWhenSettled(gateway, task.id);
      expect(failed.status).to.equal(502);
      expect(failed.body).to.deep.equal({ error: 'analysis_failed', message: 'no LLM is configured for analysis: LLM_PROVIDER=openai needs OPENAI_API_KEY' });
      expect((await api<TaskView>(gateway, 'GET', `/api/tasks/${task.id}`)).body.status).to.equal('completed');
    });

    it('stop ends a simulated call: completed, with its recording', async () => {
      const gateway = await start();
      const task = await createTask(gateway, { to: TO });
      await connectCall(gateway, task.id);
      const stop = await api<TaskView>(gateway, 'POST', `/api/tasks/${task.id}/stop`);
      expect(stop.status).to.equal(200);
      expect(stop.body).to.include({ status: 'completed', endReason: 'operator_stop: stopped through the API' });
      expect(stop.body.audioUrl).to.be.a('string');
      // Stopping again changes nothing; only the analysis may have moved on meanwhile.
      const { analysis: _first, updatedAt: _at, ...stopped } = stop.body;
      const { analysis: _second, updatedAt: _again, ...again } = (await api<TaskView>(gateway, 'POST', `/api/tasks/${task.id}/stop`)).body;
      expect(again).to.deep.equal(stopped);
    });

    it('drops a watcher that reads too slowly while the call and the other watchers go on', async () => {
      // The interceptor would read the slow socket on its behalf; this test needs real backpressure.
      nock.restore();
      try {
        const gateway = await start();
        const task = await createTask(gateway, { to: TO });
        const fast = await watch(gateway, task.id);
        const slow = await watch(gateway, task.id);
        await slow.waitFor((m) => m.type === 'snapshot');
        (slow.socket as WebSocket & { _socket: import('node:net').Socket })._socket.pause();
        const { caller, agent } = await connectCall(gateway, task.id);

        // 160 lines of 64 KiB: about 10 MiB, far more than the socket buffers and the 1 MiB cap.
        const LINES = 160;
        const text = 'la '.repeat(64 * 1024 / 3);
        for (let i = 0; i < LINES; i++) {
          agent.sink.transcript({ role: 'assistant', text: `${i} ${text}` });
          if (i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
        }
        await eventually(() => (fast.messages.filter((m) => m.type === 'transcript').length === LINES ? true : undefined), 10_000, 'every line at the fast watcher');

        agent.sink.transcript({ role: 'user', text: 'still here' });
        await caller.streamSilence(100);
        await caller.stop();
        await fast.waitFor((m) => m.type === 'status' && m.status === 'completed');

        (slow.socket as WebSocket & { _socket: import('node:net').Socket })._socket.resume();
        await eventually(() => slow.closed, 5000, 'the slow watcher to be dropped');
        expect(slow.closed!.code).to.equal(1006);
        expect(slow.messages.filter((m) => m.type === 'transcript').length).to.be.lessThan(LINES);
        expect(slow.messages.some((m) => m.type === 'call_ended')).to.equal(false);
        expect(fast.closed).to.equal(undefined);
        expect(story(fast.messages).slice(-3)).to.deep.equal(['transcript', 'call_ended', 'status:completed']);
        const done = (await api<TaskView>(gateway, 'GET', `/api/tasks/${task.id}`)).body;
        expect(done.transcript).to.have.length(LINES + 1);
        expect(done.status).to.equal('completed');
      } finally {
        nock.activate();
      }
    });
  });
});
