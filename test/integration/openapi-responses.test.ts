// The API's real replies checked against its own OpenAPI document (ajv, draft 2020-12): a task's
// whole life (create, 400 with details, 404, list, get, a simulated call with a transcript, the
// analysis pending then ready, the recording), telemetry and health, each status the document
// must describe with the body it must have.
import { expect } from 'chai';
import nock from 'nock';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import type { CallAnalysis } from '../../src/tasks/model.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { scriptedAgents, type ScriptedAgent } from '../helpers/scripted-agent.js';
import { api, chatCompletion, eventually, type ApiReply } from '../helpers/task-api.js';
import { ResponseChecker } from '../helpers/openapi.js';

const KEY = 'api-key-for-openapi';
const ANALYSIS: CallAnalysis = {
  summary: 'The person asked to be called back.',
  outcome: { goal_reached: null, explanation: 'No goal was set.' },
  sentiment: 'neutral',
  action_items: ['Call back tomorrow'],
  key_facts: { callback: 'tomorrow' },
};

describe('the API answers as its OpenAPI document says', function () {
  this.timeout(30_000);
  let t: TestGateway;
  let agents: ScriptedAgent[];
  let checker: ResponseChecker;
  const callers: FakeTwilioCaller[] = [];

  before(async () => {
    const scripted = scriptedAgents();
    agents = scripted.agents;
    t = await startTestGateway({ API_KEY: KEY, LLM_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-openapi-test' }, { agentFactory: scripted.factory });
    checker = new ResponseChecker((await api(t, 'GET', '/openapi.json')).body);
  });
  after(async () => {
    nock.cleanAll();
    for (const c of callers) c.close();
    await t.close();
  });

  /** A request with the key, its reply checked against `template`'s documented reply for its status. */
  async function call(method: 'GET' | 'POST', template: string, path: string, options: Parameters<typeof api>[3] = {}): Promise<ApiReply> {
    const reply = await api(t, method, path, { key: KEY, ...options });
    checker.check(method, template, reply.status, reply.body);
    return reply;
  }

  it('tasks: 201, 400 with details, invalid JSON, 401, 404, list and page, get, 409 and 503', async () => {
    const created = await call('POST', '/api/tasks', '/api/tasks', { body: { to: '+14155550123', prompt: 'Ask about Tuesday', metadata: { ref: 7, tags: ['a'], nested: { ok: true } } } });
    expect(created.status).to.equal(201);
    await call('POST', '/api/tasks', '/api/tasks', { body: { to: '+14155550124' } });

    const invalid = await call('POST', '/api/tasks', '/api/tasks', { body: { to: '12', greting: 'hi' } });
    expect(invalid.status).to.equal(400);
    expect(invalid.body.details.map((d: { field: string }) => d.field).sort()).to.deep.equal(['greting', 'to']);
    expect((await call('POST', '/api/tasks', '/api/tasks', { rawBody: '{"to":' })).body.error).to.equal('invalid_json');

    const refused = await api(t, 'GET', '/api/tasks');
    expect(refused.status).to.equal(401);
    checker.check('GET', '/api/tasks', 401, refused.body);

    const page = await call('GET', '/api/tasks', '/api/tasks?limit=1');
    expect(page.status).to.equal(200);
    expect(page.body.nextCursor).to.be.a('string');
    await call('GET', '/api/tasks', `/api/tasks?limit=1&cursor=${encodeURIComponent(page.body.nextCursor)}`);
    expect((await call('GET', '/api/tasks', '/api/tasks?limit=0&status=nope')).status).to.equal(400);

    const id = created.body.id as string;
    expect((await call('GET', '/api/tasks/{id}', `/api/tasks/${id}`)).status).to.equal(200);
    expect((await call('GET', '/api/tasks/{id}', '/api/tasks/task_missing')).status).to.equal(404);
    expect((await call('GET', '/api/tasks/{id}/analysis', `/api/tasks/${id}/analysis`)).status).to.equal(409);
    expect((await call('POST', '/api/tasks/{id}/call', `/api/tasks/${id}/call`)).status).to.equal(503);
    expect((await call('GET', '/api/tasks/{id}/audio', `/api/tasks/${id}/audio`)).status).to.equal(404);
  });

  it('a task\'s call: transcript, analysis 202 then 200, the recording, stop, a retry of a ready analysis', async () => {
    const id = (await call('POST', '/api/tasks', '/api/tasks', { body: { to: '+14155550125' } })).body.id as string;
    const caller = new FakeTwilioCaller({ url: t.wsUrl, speed: 8, customParameters: { taskId: id } });
    callers.push(caller);
    await caller.connect();
    await caller.streamSilence(200);
    const agent = await eventually(() => agents[0], 3000, 'the agent');
    agent.sink.transcript({ role: 'assistant', text: 'Hello, calling about your order.' });
    agent.sink.transcript({ role: 'user', text: 'Please call me back tomorrow.' });
    // The LLM answers only when the test lets it: the analysis is seen pending first.
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    nock('https://api.openai.com')
      .post('/v1/chat/completions')
      .reply(async () => {
        await answered;
        return [200, chatCompletion(JSON.stringify(ANALYSIS))];
      });
    await caller.stop();
    await t.nextEnded();

    const pending = await eventually(async () => {
      const reply = await api(t, 'GET', `/api/tasks/${id}/analysis`, { key: KEY });
      return reply.status === 202 ? reply : undefined;
    }, 5000, 'the analysis pending');
    checker.check('GET', '/api/tasks/{id}/analysis', 202, pending.body);
    answer();
    const ready = await eventually(async () => {
      const reply = await api(t, 'GET', `/api/tasks/${id}/analysis`, { key: KEY });
      return reply.status === 200 ? reply : undefined;
    }, 5000, 'the analysis ready');
    checker.check('GET', '/api/tasks/{id}/analysis', 200, ready.body);
    expect(ready.body.analysis).to.deep.equal(ANALYSIS);

    const task = await call('GET', '/api/tasks/{id}', `/api/tasks/${id}`);
    expect(task.body.transcript).to.have.length(2);
    expect(task.body.audioUrl).to.equal(`/api/tasks/${id}/audio`);
    expect(task.body.analysis.state).to.equal('ready');
    const listed = await call('GET', '/api/tasks', '/api/tasks?status=completed');
    expect(listed.body.tasks.map((x: { id: string }) => x.id)).to.include(id);

    const audio = await fetch(`${t.baseUrl}/api/tasks/${id}/audio`, { headers: { authorization: `Bearer ${KEY}`, range: 'bytes=0-43' } });
    expect(audio.status).to.equal(206);
    expect(audio.headers.get('content-type')).to.equal('audio/wav');
    expect(Object.keys(checker.responseOf('GET', '/api/tasks/{id}/audio', 206).content)).to.deep.equal(['audio/wav']);

    // The same call as a call record: listed, shown, its analysis the task's.
    const [callId] = task.body.callIds as string[];
    const calls = await call('GET', '/api/calls', `/api/calls?taskId=${id}`);
    expect(calls.body.calls.map((c: { id: string }) => c.id)).to.deep.equal([callId]);
    expect((await call('GET', '/api/calls', '/api/calls?direction=sideways')).status).to.equal(400);
    const record = await call('GET', '/api/calls/{id}', `/api/calls/${callId}`);
    expect(record.body).to.deep.include({ direction: 'outbound', taskId: id });
    expect(record.body.transcript).to.have.length(2);
    expect((await call('GET', '/api/calls/{id}', '/api/calls/no-such-call')).status).to.equal(404);
    expect((await call('GET', '/api/calls/{id}/analysis', `/api/calls/${callId}/analysis`)).status).to.equal(200);
    expect((await call('POST', '/api/calls/browser', '/api/calls/browser', { body: {} })).status).to.equal(201);
    expect((await call('POST', '/api/calls/browser', '/api/calls/browser', { body: { extra: 1 } })).status).to.equal(400);

    expect((await call('POST', '/api/tasks/{id}/stop', `/api/tasks/${id}/stop`)).status).to.equal(200);
    expect((await call('POST', '/api/tasks/{id}/analysis', `/api/tasks/${id}/analysis`)).status).to.equal(200);
  });

  it('telemetry and health', async () => {
    expect((await call('GET', '/api/telemetry/recent', '/api/telemetry/recent?limit=5')).status).to.equal(200);
    expect((await call('GET', '/api/telemetry/recent', '/api/telemetry/recent?limit=0')).status).to.equal(400);
    const summary = await call('GET', '/api/telemetry/summary', '/api/telemetry/summary');
    expect(summary.body.rows.length).to.be.greaterThan(0);
    for (const path of ['/health', '/health/live', '/health/ready']) expect((await call('GET', path, path)).status).to.equal(200);
  });

  it('Twilio webhooks: a 400 in the error shape; TwiML where the document says', async () => {
    const form = (body: Record<string, string>) => ({ rawBody: new URLSearchParams(body).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect((await call('POST', '/twilio/status', '/twilio/status', form({ CallSid: 'CA1' }))).status).to.equal(400);
    const voice = await api(t, 'POST', '/twilio/voice', form({ CallSid: 'CA2', From: '+15550001111' }));
    expect(voice.status).to.equal(200);
    expect(voice.headers.get('content-type')).to.match(/^text\/xml/);
    expect(Object.keys(checker.responseOf('POST', '/twilio/voice', 200).content)).to.deep.equal(['text/xml']);
  });
});
