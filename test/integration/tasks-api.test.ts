// The operators' task API over real HTTP: validation, paging, the call lifecycle against Twilio
// mocked on the wire with nock, status callbacks signed with our own HMAC, recordings with
// Range, access control and CORS, and the store surviving a restart.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import nock from 'nock';
import type { TaskView } from '../../src/tasks/view.js';
import { openSqliteTaskStore } from '../../src/tasks/sqlite-store.js';
import type { TaskStore } from '../../src/tasks/store.js';
import { TwilioCallControl } from '../../src/twilio/call-control.js';
import { api, eventually, postStatus, Watcher, type CallbackSigning } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const SID = 'AC' + '0123456789abcdef'.repeat(2);
const TOKEN = 'test-auth-token';
const PUBLIC = 'https://gw.example.com';
const FROM = '+15550001111';
const TO = '+15550002222';
const CALLS = `/2010-04-01/Accounts/${SID}/Calls`;
const TWILIO_ENV = { TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: PUBLIC, TWILIO_PHONE_NUMBER: FROM, TWILIO_RING_TIMEOUT_S: '25' };
const SIGNING: CallbackSigning = { authToken: TOKEN, publicUrl: PUBLIC };

const statuses = (task: TaskView) => task.history.map((change) => change.status);

async function createTask(t: TestGateway, body: object = { to: TO }, key?: string): Promise<TaskView> {
  const res = await api<TaskView>(t, 'POST', '/api/tasks', { body, ...(key !== undefined && { key }) });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return res.body;
}

/** Twilio's calls.create, answering `reply`; the form body it received lands in `seen`. */
function mockCreateCall(reply: object = { sid: 'CA' + '1'.repeat(32), status: 'queued' }, status = 201, delayMs = 0) {
  const seen: { body?: URLSearchParams } = {};
  const scope = nock('https://api.twilio.com')
    .post(`${CALLS}.json`)
    .delay(delayMs)
    .reply(async (req: Request) => {
      seen.body = new URLSearchParams(await req.text());
      return [status, reply];
    });
  return { seen, scope };
}

describe('task API', function () {
  this.timeout(20_000);
  before(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1/);
  });
  afterEach(() => nock.cleanAll());
  after(() => nock.enableNetConnect());

  describe('without Twilio credentials', () => {
    let t: TestGateway;
    let store: TaskStore;
    let dataDir: string;
    before(async () => {
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'tasks-api-'));
      store = openSqliteTaskStore(dataDir);
      t = await startTestGateway({ TWILIO_PHONE_NUMBER: FROM }, { taskStore: store });
    });
    after(async () => {
      await t.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('creates a task: 201 with the task in status created and the default caller id', async () => {
      const task = await createTask(t, { to: TO, prompt: 'Confirm the appointment', greeting: 'Hi!', metadata: { ref: 7 } });
      expect(task.id).to.match(/^task_[0-9a-f]{32}$/);
      expect(task).to.deep.include({ to: TO, from: FROM, status: 'created', prompt: 'Confirm the appointment', greeting: 'Hi!' });
      expect(task.metadata).to.deep.equal({ ref: 7 });
      expect(statuses(task)).to.deep.equal(['created']);
      const got = await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`);
      expect(got.status).to.equal(200);
      expect(got.body).to.deep.equal(task);
      expect(got.body.transcript).to.deep.equal([]);
    });

    it('refuses a bad body with 400 naming each bad field', async () => {
      const res = await api(t, 'POST', '/api/tasks', { body: { to: '555', from: 'me', prompt: '', greeting: 5, metadata: [1], colour: 'red' } });
      expect(res.status).to.equal(400);
      expect(res.body.error).to.equal('invalid_request');
      expect(res.body.message).to.be.a('string');
      expect(res.body.details.map((d: { field: string }) => d.field)).to.have.members(['to', 'from', 'prompt', 'greeting', 'metadata', 'colour']);
      for (const detail of res.body.details) expect(detail.message).to.be.a('string').and.not.equal('');
    });

    it('refuses a body that is not JSON, or not an object', async () => {
      const broken = await api(t, 'POST', '/api/tasks', { rawBody: '{"to":', headers: { 'content-type': 'application/json' } });
      expect(broken.status).to.equal(400);
      expect(broken.body.error).to.equal('invalid_json');
      const list = await api(t, 'POST', '/api/tasks', { body: [TO] });
      expect(list.status).to.equal(400);
      expect(list.body.details).to.deep.equal([{ field: 'body', message: 'must be a JSON object' }]);
    });

    it('answers 404 with JSON for an unknown task on every route', async () => {
      for (const [method, suffix] of [['GET', ''], ['POST', '/call'], ['POST', '/stop'], ['GET', '/audio'], ['GET', '/analysis'], ['POST', '/analysis']] as const) {
        const res = await api(t, method, `/api/tasks/task_nope${suffix}`);
        expect(res.status, `${method} ${suffix}`).to.equal(404);
        expect(res.body).to.deep.equal({ error: 'task_not_found', message: 'no task with id "task_nope"' });
      }
    });

    it('POST /call is a 503 naming the missing Twilio configuration, and the task stays created', async () => {
      const task = await createTask(t);
      const res = await api(t, 'POST', `/api/tasks/${task.id}/call`);
      expect(res.status).to.equal(503);
      expect(res.body.error).to.equal('twilio_not_configured');
      expect(res.body.message).to.contain('TWILIO_ACCOUNT_SID');
      expect((await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body.status).to.equal('created');
    });

    it('stops a task not yet dialed: canceled, then idempotent', async () => {
      const task = await createTask(t);
      const first = await api<TaskView>(t, 'POST', `/api/tasks/${task.id}/stop`);
      expect(first.status).to.equal(200);
      expect(first.body.status).to.equal('canceled');
      expect(statuses(first.body)).to.deep.equal(['created', 'canceled']);
      const again = await api<TaskView>(t, 'POST', `/api/tasks/${task.id}/stop`);
      expect(again.status).to.equal(200);
      expect(again.body).to.deep.equal(first.body);
      const call = await api(t, 'POST', `/api/tasks/${task.id}/call`);
      expect(call.status).to.equal(409);
      expect(call.body.error).to.equal('task_finished');
    });

    it('analysis: 409 call_not_ended before the end, 409 no_conversation for a call that never connected', async () => {
      const task = await createTask(t);
      const early = await api(t, 'GET', `/api/tasks/${task.id}/analysis`);
      expect(early.status).to.equal(409);
      expect(early.body.error).to.equal('call_not_ended');
      await api(t, 'POST', `/api/tasks/${task.id}/stop`);
      const none = await api(t, 'GET', `/api/tasks/${task.id}/analysis`);
      expect(none.status).to.equal(409);
      expect(none.body.error).to.equal('no_conversation');
    });

    it('audio: 404 before there is a recording', async () => {
      const task = await createTask(t);
      const res = await api(t, 'GET', `/api/tasks/${task.id}/audio`);
      expect(res.status).to.equal(404);
      expect(res.body.error).to.equal('recording_not_found');
    });

    it('audio: serves the WAV with Range support', async () => {
      const task = await createTask(t);
      mkdirSync(t.config.recordingsDir, { recursive: true });
      const file = path.join(t.config.recordingsDir, 'range-test.wav');
      const bytes = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVE'), Buffer.from(Array.from({ length: 4000 }, (_, i) => i % 251))]);
      writeFileSync(file, bytes);
      store.update(task.id, { recordingPath: file });
      expect((await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body).to.include({ audioUrl: `/api/tasks/${task.id}/audio` }).and.not.have.property('recordingPath');

      const whole = await fetch(`${t.baseUrl}/api/tasks/${task.id}/audio`);
      expect(whole.status).to.equal(200);
      expect(whole.headers.get('content-type')).to.equal('audio/wav');
      expect(whole.headers.get('accept-ranges')).to.equal('bytes');
      expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).to.equal(true);

      const part = await fetch(`${t.baseUrl}/api/tasks/${task.id}/audio`, { headers: { range: 'bytes=100-1099' } });
      expect(part.status).to.equal(206);
      expect(part.headers.get('content-range')).to.equal(`bytes 100-1099/${bytes.length}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(100, 1100))).to.equal(true);

      const head = await fetch(`${t.baseUrl}/api/tasks/${task.id}/audio`, { headers: { range: 'bytes=0-3' } });
      expect(Buffer.from(await head.arrayBuffer()).toString()).to.equal('RIFF');

      const outside = await fetch(`${t.baseUrl}/api/tasks/${task.id}/audio`, { headers: { range: `bytes=${bytes.length + 10}-` } });
      expect(outside.status).to.equal(416);
      expect(outside.headers.get('content-range')).to.equal(`bytes */${bytes.length}`);
      expect(await outside.json()).to.have.property('error', 'range_not_satisfiable');
    });

    it('audio: a stored path outside the recordings folder is a 404', async () => {
      const task = await createTask(t);
      const secret = path.join(dataDir, 'secret.wav');
      writeFileSync(secret, 'RIFF-not-for-you');
      for (const stored of [secret, path.join(t.config.recordingsDir, '..', path.basename(dataDir), 'secret.wav'), '/etc/passwd']) {
        store.update(task.id, { recordingPath: stored });
        const res = await api(t, 'GET', `/api/tasks/${task.id}/audio`);
        expect(res.status, stored).to.equal(404);
        expect(res.body.error).to.equal('recording_not_found');
      }
    });

    describe('listing', () => {
      let listT: TestGateway;
      let created: TaskView[];
      before(async () => {
        listT = await startTestGateway({ TWILIO_PHONE_NUMBER: FROM });
        created = [];
        for (let i = 0; i < 5; i++) created.push(await createTask(listT, { to: TO, metadata: { i } }));
        await api(listT, 'POST', `/api/tasks/${created[1]!.id}/stop`);
        await api(listT, 'POST', `/api/tasks/${created[3]!.id}/stop`);
      });
      after(() => listT.close());

      it('pages newest first with limit and cursor, without transcripts', async () => {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const res = await api(listT, 'GET', `/api/tasks?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
          expect(res.status).to.equal(200);
          expect(res.body.tasks.length).to.be.at.most(2);
          for (const task of res.body.tasks) expect(task).to.not.have.property('transcript');
          seen.push(...res.body.tasks.map((task: TaskView) => task.id));
          cursor = res.body.nextCursor;
          pages++;
        } while (cursor);
        expect(pages).to.equal(3);
        expect(seen).to.deep.equal(created.map((task) => task.id).reverse());
      });

      it('filters by status', async () => {
        const res = await api(listT, 'GET', '/api/tasks?status=canceled');
        expect(res.body.tasks.map((task: TaskView) => task.id)).to.deep.equal([created[3]!.id, created[1]!.id]);
        expect(res.body).to.not.have.property('nextCursor');
      });

      it('refuses bad paging parameters with 400 naming each', async () => {
        const res = await api(listT, 'GET', '/api/tasks?limit=0&status=lost');
        expect(res.status).to.equal(400);
        expect(res.body.details.map((d: { field: string }) => d.field)).to.deep.equal(['limit', 'status']);
        for (const query of ['limit=abc', 'limit=201', 'limit=2.5', 'limit=1&limit=2']) {
          const bad = await api(listT, 'GET', `/api/tasks?${query}`);
          expect(bad.status, query).to.equal(400);
          expect(bad.body.details[0].field).to.equal('limit');
        }
        const cursor = await api(listT, 'GET', '/api/tasks?cursor=not-a-cursor');
        expect(cursor.status).to.equal(400);
        expect(cursor.body.details).to.deep.equal([{ field: 'cursor', message: 'cursor is not one this server issued' }]);
      });
    });
  });

  it('refuses a task without `from` when Twilio is configured without a default caller id', async () => {
    const t = await startTestGateway({}, { telephony: new TwilioCallControl(SID, TOKEN) });
    try {
      const res = await api(t, 'POST', '/api/tasks', { body: { to: TO, greeting: '' } });
      expect(res.status).to.equal(400);
      expect(res.body.details.map((d: { field: string }) => d.field)).to.deep.equal(['greeting', 'from']);
      expect(res.body.details[1].message).to.contain('TWILIO_PHONE_NUMBER');
      expect((await api(t, 'POST', '/api/tasks', { body: { to: TO, from: FROM } })).status).to.equal(201);
    } finally {
      await t.close();
    }
  });

  it('keeps tasks across a restart on the same DATA_DIR', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tasks-restart-'));
    try {
      const first = await startTestGateway({ DATA_DIR: dataDir, TWILIO_PHONE_NUMBER: FROM });
      const task = await createTask(first, { to: TO, prompt: 'Remember me' });
      await api(first, 'POST', `/api/tasks/${task.id}/stop`);
      await first.close();
      const second = await startTestGateway({ DATA_DIR: dataDir });
      try {
        const got = await api<TaskView>(second, 'GET', `/api/tasks/${task.id}`);
        expect(got.status).to.equal(200);
        expect(got.body).to.deep.include({ id: task.id, prompt: 'Remember me', status: 'canceled' });
        expect(statuses(got.body)).to.deep.equal(['created', 'canceled']);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  describe('with Twilio (REST mocked with nock)', () => {
    let t: TestGateway;
    beforeEach(async () => (t = await startTestGateway(TWILIO_ENV, { callbackHoldMs: 300 })));
    afterEach(() => t.close());

    it('places the call with the exact form Twilio needs, and a second call is a 409', async () => {
      const task = await createTask(t, { to: TO, prompt: 'Not in the TwiML' });
      const { seen, scope } = mockCreateCall();
      const res = await api<TaskView>(t, 'POST', `/api/tasks/${task.id}/call`);
      expect(res.status).to.equal(200);
      expect(scope.isDone()).to.equal(true);
      expect(res.body).to.include({ status: 'queued', callSid: 'CA' + '1'.repeat(32) });
      expect(statuses(res.body)).to.deep.equal(['created', 'queued']);
      expect(res.body.dialedAt).to.be.a('string');

      const form = seen.body!;
      expect(form.get('To')).to.equal(TO);
      expect(form.get('From')).to.equal(FROM);
      expect(form.getAll('StatusCallbackEvent')).to.deep.equal(['initiated', 'ringing', 'answered', 'completed']);
      expect(form.get('StatusCallback')).to.equal(`${PUBLIC}/twilio/status?taskId=${task.id}`);
      expect(form.get('StatusCallbackMethod')).to.equal('POST');
      expect(form.get('Timeout')).to.equal('25');
      expect(form.has('MachineDetection')).to.equal(false);
      const twiml = form.get('Twiml')!;
      // With signature checks on, the stream URL carries the call's own token as a path segment.
      expect(twiml).to.match(/<Stream url="wss:\/\/gw\.example\.com\/twilio\/media-stream\/[\w-]+\.[\w-]+">/);
      expect(twiml).to.contain(`<Parameter name="taskId" value="${task.id}"/>`);
      expect(twiml).to.contain('<Parameter name="direction" value="outbound-api"/>');
      expect(twiml).to.not.contain('Not in the TwiML');

      const again = await api(t, 'POST', `/api/tasks/${task.id}/call`);
      expect(again.status).to.equal(409);
      expect(again.body.error).to.equal('call_already_placed');
    });

    it("a Twilio refusal fails the task with Twilio's code and message, and the API answers 502", async () => {
      const task = await createTask(t);
      mockCreateCall({ code: 21211, message: "The 'To' number +15550002222 is not a valid phone number.", more_info: 'https://www.twilio.com/docs/errors/21211', status: 400 }, 400);
      const res = await api(t, 'POST', `/api/tasks/${task.id}/call`);
      expect(res.status).to.equal(502);
      expect(res.body.error).to.equal('twilio_error');
      expect(res.body.message).to.contain('21211').and.contain('is not a valid phone number');
      expect(JSON.stringify(res.body)).to.not.contain(TOKEN);
      const failed = (await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body;
      expect(failed.status).to.equal('failed');
      expect(failed.endReason).to.equal("twilio_error 21211 The 'To' number +15550002222 is not a valid phone number.");
      expect(statuses(failed)).to.deep.equal(['created', 'queued', 'failed']);
    });

    it('applies status callbacks in sequence order, out of order and duplicated, recording duration and AMD', async () => {
      const task = await createTask(t);
      const callSid = 'CA' + '2'.repeat(32);
      mockCreateCall({ sid: callSid, status: 'queued' });
      await api(t, 'POST', `/api/tasks/${task.id}/call`);
      const watcher = await Watcher.open(t, task.id);
      const base = { CallSid: callSid, AccountSid: SID, From: FROM, To: TO, Direction: 'outbound-api', CallbackSource: 'call-progress-events' };
      const send = (status: string, seq: number, extra: Record<string, string> = {}) =>
        postStatus(t, { ...base, CallStatus: status, SequenceNumber: String(seq), ...extra }, { taskId: task.id, signing: SIGNING });

      expect(await send('initiated', 0)).to.equal(204);
      expect(await send('completed', 3, { CallDuration: '42' })).to.equal(204);
      expect(await send('completed', 3, { CallDuration: '42' })).to.equal(204);
      expect((await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body.status).to.equal('queued');
      expect(await send('ringing', 1)).to.equal(204);
      expect(await send('in-progress', 2, { AnsweredBy: 'human' })).to.equal(204);
      expect(await send('ringing', 1)).to.equal(204);

      const done = (await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body;
      expect(done.status).to.equal('completed');
      expect(statuses(done)).to.deep.equal(['created', 'queued', 'ringing', 'in-progress', 'completed']);
      expect(done.history.slice(2).map((change) => change.source)).to.deep.equal(['twilio-status', 'twilio-status', 'twilio-status']);
      expect(done).to.include({ durationS: 42, answeredBy: 'human' });
      expect(done.answeredAt).to.be.a('string');

      // No media stream ever joined: a fixed "no conversation" analysis, with no LLM request.
      const analysis = await eventually(async () => {
        const res = await api(t, 'GET', `/api/tasks/${task.id}/analysis`);
        return res.status === 200 ? res.body : undefined;
      });
      expect(analysis.state).to.equal('ready');
      expect(analysis.analysis.summary).to.contain('No conversation');
      const seenStatuses = watcher.messages.filter((m) => m.type === 'status').map((m) => (m.type === 'status' ? m.status : ''));
      expect(seenStatuses).to.deep.equal(['ringing', 'in-progress', 'completed']);
      watcher.close();
    });

    it('applies what it holds once the wait for a missing callback is over', async () => {
      const task = await createTask(t);
      const callSid = 'CA' + '3'.repeat(32);
      mockCreateCall({ sid: callSid, status: 'queued' });
      await api(t, 'POST', `/api/tasks/${task.id}/call`);
      const send = (status: string, seq: number) =>
        postStatus(t, { CallSid: callSid, CallStatus: status, SequenceNumber: String(seq) }, { taskId: task.id, signing: SIGNING });
      await send('no-answer', 3);
      await send('ringing', 1);
      expect((await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body.status).to.equal('queued');
      const settled = await eventually(async () => {
        const got = (await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body;
        return got.status === 'queued' ? undefined : got;
      }, 3000);
      expect(statuses(settled)).to.deep.equal(['created', 'queued', 'ringing', 'no-answer']);
      const analysis = await api(t, 'GET', `/api/tasks/${task.id}/analysis`);
      expect(analysis.status).to.equal(409);
      expect(analysis.body.error).to.equal('no_conversation');
    });

    it('finds the task for a callback that arrives before Twilio has answered calls.create', async () => {
      const task = await createTask(t);
      const callSid = 'CA' + '4'.repeat(32);
      mockCreateCall({ sid: callSid, status: 'queued' }, 201, 400);
      const placing = api<TaskView>(t, 'POST', `/api/tasks/${task.id}/call`);
      await eventually(async () => ((await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body.status === 'queued' ? true : undefined));
      const params = { CallSid: callSid, CallStatus: 'initiated', SequenceNumber: '0' };
      expect(await postStatus(t, params, { taskId: task.id, signing: SIGNING })).to.equal(204);
      expect(await postStatus(t, { ...params, CallStatus: 'ringing', SequenceNumber: '1' }, { taskId: task.id, signing: SIGNING })).to.equal(204);
      expect((await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body).to.include({ status: 'ringing', callSid });
      const placed = await placing;
      expect(placed.status).to.equal(200);
      expect(placed.body).to.include({ status: 'ringing', callSid });
    });

    it('answers 204 to callbacks for unknown calls and to AMD results; refuses unsigned ones', async () => {
      expect(await postStatus(t, { CallSid: 'CA' + '9'.repeat(32), CallStatus: 'ringing', SequenceNumber: '1' }, { signing: SIGNING })).to.equal(204);
      expect(await postStatus(t, { CallSid: 'CA' + '9'.repeat(32), CallStatus: 'ringing' })).to.equal(403);
      const task = await createTask(t);
      const callSid = 'CA' + '5'.repeat(32);
      mockCreateCall({ sid: callSid, status: 'queued' });
      await api(t, 'POST', `/api/tasks/${task.id}/call`);
      const amd = { CallSid: callSid, AccountSid: SID, AnsweredBy: 'machine_start', MachineDetectionDuration: '2400' };
      expect(await postStatus(t, amd, { taskId: task.id, signing: SIGNING })).to.equal(204);
      expect((await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body).to.include({ answeredBy: 'machine_start', status: 'queued' });
    });

    it('stop cancels a ringing call through Twilio (202), the callback settles it, and stopping again changes nothing', async () => {
      const task = await createTask(t);
      const callSid = 'CA' + '6'.repeat(32);
      mockCreateCall({ sid: callSid, status: 'queued' });
      await api(t, 'POST', `/api/tasks/${task.id}/call`);
      await postStatus(t, { CallSid: callSid, CallStatus: 'initiated', SequenceNumber: '0' }, { taskId: task.id, signing: SIGNING });
      await postStatus(t, { CallSid: callSid, CallStatus: 'ringing', SequenceNumber: '1' }, { taskId: task.id, signing: SIGNING });
      const cancel: { body?: string } = {};
      nock('https://api.twilio.com')
        .post(`${CALLS}/${callSid}.json`)
        .reply(async (req: Request) => {
          cancel.body = await req.text();
          return [200, { sid: callSid, status: 'canceled' }];
        });
      const stop = await api<TaskView>(t, 'POST', `/api/tasks/${task.id}/stop`);
      expect(stop.status).to.equal(202);
      expect(stop.body.status).to.equal('ringing');
      expect(cancel.body).to.equal('Status=canceled');
      await postStatus(t, { CallSid: callSid, CallStatus: 'canceled', SequenceNumber: '2' }, { taskId: task.id, signing: SIGNING });
      const again = await api<TaskView>(t, 'POST', `/api/tasks/${task.id}/stop`);
      expect(again.status).to.equal(200);
      expect(again.body.status).to.equal('canceled');
      expect(statuses(again.body)).to.deep.equal(['created', 'queued', 'ringing', 'canceled']);
    });
  });

  it('POST /call is a 503 when PUBLIC_URL is not configured', async () => {
    const t = await startTestGateway({ TWILIO_PHONE_NUMBER: FROM }, { telephony: new TwilioCallControl(SID, TOKEN) });
    try {
      const task = await createTask(t);
      const res = await api(t, 'POST', `/api/tasks/${task.id}/call`);
      expect(res.status).to.equal(503);
      expect(res.body.error).to.equal('public_url_not_configured');
      expect((await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body.status).to.equal('created');
    } finally {
      await t.close();
    }
  });

  describe('access: API_KEY and CORS_ORIGINS', () => {
    const KEY = 'operator-key-123';
    const ORIGIN = 'https://ops.example.com';
    let t: TestGateway;
    before(async () => (t = await startTestGateway({ API_KEY: KEY, CORS_ORIGINS: `${ORIGIN}, https://other.example.com`, TWILIO_PHONE_NUMBER: FROM })));
    after(() => t.close());

    it('needs Authorization: Bearer <key> on /api/tasks and /api/telemetry', async () => {
      for (const p of ['/api/tasks', '/api/telemetry/summary', '/api/tasks/task_x']) {
        const none = await api(t, 'GET', p);
        expect(none.status, p).to.equal(401);
        expect(none.body.error).to.equal('unauthorized');
        expect(none.headers.get('www-authenticate')).to.equal('Bearer');
        expect((await api(t, 'GET', p, { key: 'wrong-key' })).status, p).to.equal(401);
        expect((await api(t, 'GET', p, { key: KEY + 'x' })).status, p).to.equal(401);
        expect(JSON.stringify(none.body)).to.not.contain(KEY);
      }
      expect((await api(t, 'GET', '/api/tasks', { key: KEY })).status).to.equal(200);
      expect((await api(t, 'GET', '/api/telemetry/summary', { key: KEY })).status).to.equal(200);
      expect((await api(t, 'POST', '/api/tasks', { body: { to: TO } })).status).to.equal(401);
      // The query token is for browsers' WebSockets only.
      expect((await api(t, 'GET', `/api/tasks?token=${KEY}`)).status).to.equal(401);
    });

    it('leaves /health and /twilio/* as they are', async () => {
      expect((await api(t, 'GET', '/health')).status).to.equal(200);
      expect(await postStatus(t, { CallSid: 'CA1', CallStatus: 'ringing' })).to.equal(204);
    });

    it('guards the live socket: 401 without the key, open with the header or ?token=, 404 for an unknown task', async () => {
      const task = await createTask(t, { to: TO }, KEY);
      expect(await Watcher.upgradeStatus(t, `/ws/call/${task.id}`)).to.equal(401);
      expect(await Watcher.upgradeStatus(t, `/ws/call/${task.id}?token=nope`)).to.equal(401);
      expect(await Watcher.upgradeStatus(t, `/ws/call/${task.id}`, { authorization: 'Bearer nope' })).to.equal(401);
      expect(await Watcher.upgradeStatus(t, `/ws/call/task_unknown?token=${KEY}`)).to.equal(404);
      expect(await Watcher.upgradeStatus(t, `/ws/call/${task.id}?token=${KEY}`, { origin: 'https://evil.example.com' })).to.equal(403);
      const ways: Array<{ query?: string; headers?: Record<string, string> }> = [
        { query: `?token=${KEY}` },
        { headers: { authorization: `Bearer ${KEY}` } },
        { query: `?token=${KEY}`, headers: { origin: ORIGIN } },
      ];
      for (const options of ways) {
        const watcher = await Watcher.open(t, task.id, options);
        const snapshot = await watcher.waitFor((m) => m.type === 'snapshot');
        expect(snapshot).to.deep.include({ type: 'snapshot' });
        expect(snapshot.type === 'snapshot' && snapshot.task.id).to.equal(task.id);
        watcher.close();
      }
    });

    it('answers an allowed preflight with the CORS headers, and refuses another origin without them', async () => {
      const preflight = { 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' };
      const allowed = await api(t, 'OPTIONS', '/api/tasks', { headers: { origin: ORIGIN, ...preflight } });
      expect(allowed.status).to.equal(204);
      expect(allowed.headers.get('access-control-allow-origin')).to.equal(ORIGIN);
      expect(allowed.headers.get('access-control-allow-methods')).to.equal('GET, POST');
      expect(allowed.headers.get('access-control-allow-headers')).to.contain('Authorization').and.contain('Content-Type');
      expect(allowed.headers.get('vary')).to.contain('Origin');

      const denied = await api(t, 'OPTIONS', '/api/tasks', { headers: { origin: 'https://evil.example.com', ...preflight } });
      expect(denied.status).to.equal(403);
      expect(denied.body.error).to.equal('origin_not_allowed');
      expect(denied.headers.get('access-control-allow-origin')).to.equal(null);
      expect(denied.headers.get('vary')).to.contain('Origin');

      const simple = await api(t, 'GET', '/api/tasks', { key: KEY, headers: { origin: ORIGIN } });
      expect(simple.headers.get('access-control-allow-origin')).to.equal(ORIGIN);
      const other = await api(t, 'GET', '/api/tasks', { key: KEY, headers: { origin: 'https://ops.example.com.evil.net' } });
      expect(other.status).to.equal(200);
      expect(other.headers.get('access-control-allow-origin')).to.equal(null);
    });
  });
});

