// Who may open a media stream, over real sockets: per-call single-use stream URLs when a Twilio
// auth token is set (signed with the test's own HMAC oracle), the check of `start` against the
// call the URL was issued for, tasks that a stream may not take over, and the call cap.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nock from 'nock';
import WebSocket from 'ws';
import { ADMITTED, refused, type Admission, type StreamStart } from '../../src/call/admission.js';
import { decodeMulaw } from '../../src/audio/mulaw.js';
import { readMulawWav, readPcmWav } from '../../src/audio/wav-io.js';
import type { TaskView } from '../../src/tasks/view.js';
import { FakeTwilioCaller, randomSid } from '../../tools/twilio-caller.js';
import { api, eventually } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { twilioSignature } from '../helpers/twilio-signing.js';
import { inboundStream, mockDial, signedStream, startedCall, type SignedStream } from '../helpers/twilio-stream.js';
import { scriptedAgents } from '../helpers/scripted-agent.js';

const TOKEN = 'admission-test-token';
const PUBLIC = 'https://gw.example.com';
const SID = 'AC' + '0123456789abcdef'.repeat(2);
const FROM = '+15550001111';
const TO = '+15550002222';
const SIGNED_ENV = { TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: PUBLIC };
const SPEED = 8;

/** The HTTP status the upgrade got: 101 when the socket opened (it is closed again at once). */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('upgrade', () => {
      ws.once('open', () => ws.close());
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
  });
}

/** Opens a stream as Twilio would, sends `start`, and resolves once the gateway closes it. */
async function refusedAtStart(t: TestGateway, options: ConstructorParameters<typeof FakeTwilioCaller>[0]) {
  const caller = new FakeTwilioCaller({ speed: SPEED, ...options });
  await caller.connect();
  const closed = await caller.waitForClose();
  const summary = await t.nextEnded();
  return { closed, summary, caller };
}

function wavsIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => name.endsWith('.wav') || name.endsWith('.wav.part'));
  } catch {
    return [];
  }
}

describe('media stream admission', function () {
  this.timeout(20_000);
  const gateways: TestGateway[] = [];
  const callers: FakeTwilioCaller[] = [];
  const start = async (...args: Parameters<typeof startTestGateway>) => {
    const t = await startTestGateway(...args);
    gateways.push(t);
    return t;
  };
  const caller = (options: ConstructorParameters<typeof FakeTwilioCaller>[0]) => {
    const c = new FakeTwilioCaller({ speed: SPEED, ...options });
    callers.push(c);
    return c;
  };
  afterEach(async () => {
    for (const c of callers.splice(0)) c.close();
    for (const t of gateways.splice(0)) await t.close();
  });

  describe('with TWILIO_AUTH_TOKEN set: a stream URL per call', () => {
    it('gives each inbound call its own stream URL, a token in the path', async () => {
      const t = await start(SIGNED_ENV);
      const a = await inboundStream(t, TOKEN, 'CA' + 'a'.repeat(32));
      const b = await inboundStream(t, TOKEN, 'CA' + 'b'.repeat(32));
      expect(a.publicUrl).to.match(/^wss:\/\/gw\.example\.com\/twilio\/media-stream\/[\w-]+\.[\w-]+$/);
      expect(a.publicUrl).to.not.equal(b.publicUrl);
      expect(a.headers['X-Twilio-Signature']).to.not.equal(b.headers['X-Twilio-Signature']);
    });

    it('refuses a replayed upgrade: the same URL and signature open one stream only', async () => {
      const t = await start(SIGNED_ENV);
      const callSid = randomSid('CA');
      const stream = await inboundStream(t, TOKEN, callSid);
      const first = caller({ url: stream.url, headers: stream.headers, callSid });
      await first.connect();
      await first.streamSilence(100);
      expect(await upgradeStatus(stream.url, stream.headers)).to.equal(403);
      // The first call is unaffected by the refused replay.
      await first.stop();
      expect((await t.nextEnded()).reason).to.equal('twilio_stop');
      expect(await upgradeStatus(stream.url, stream.headers)).to.equal(403);
      const refusals = t.telemetry.recent({ component: 'media_stream', action: 'stream_refused' });
      expect(refusals.map((e) => e.reason)).to.deep.equal(['token_used', 'token_used']);
    });

    it('keeps a used token used across a restart (claims live in the database)', async () => {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'admission-data-'));
      try {
        const first = await start({ ...SIGNED_ENV, DATA_DIR: dataDir });
        const stream = await inboundStream(first, TOKEN, randomSid('CA'));
        expect(await upgradeStatus(stream.url, stream.headers)).to.equal(101);
        await first.close();
        gateways.splice(gateways.indexOf(first), 1);
        const second = await start({ ...SIGNED_ENV, DATA_DIR: dataDir });
        const replay = `ws://${new URL(second.wsUrl).host}${new URL(stream.publicUrl).pathname}`;
        expect(await upgradeStatus(replay, stream.headers)).to.equal(403);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    it('refuses an expired token, and a signature that does not cover the token', async () => {
      let now = Date.now();
      const t = await start(SIGNED_ENV, { clock: () => now });
      const stream = await inboundStream(t, TOKEN, randomSid('CA'));
      const wrongSignature = { 'X-Twilio-Signature': twilioSignature(TOKEN, `${PUBLIC.replace('https', 'wss')}/twilio/media-stream`) };
      expect(await upgradeStatus(stream.url, wrongSignature)).to.equal(403);
      now += 61_000;
      expect(await upgradeStatus(stream.url, stream.headers)).to.equal(403);
      const refusals = t.telemetry.recent({ component: 'media_stream', action: 'stream_refused' });
      // Newest first.
      expect(refusals.map((e) => e.reason)).to.deep.equal(['expired_token', 'bad_signature']);
    });

    it('does not let a forged upgrade use up the call\'s token', async () => {
      const t = await start(SIGNED_ENV);
      const stream = await inboundStream(t, TOKEN, randomSid('CA'));
      expect(await upgradeStatus(stream.url, { 'X-Twilio-Signature': twilioSignature('another-token', stream.publicUrl) })).to.equal(403);
      expect(await upgradeStatus(stream.url, stream.headers)).to.equal(101);
    });

    it('refuses the stream with 503, and keeps serving, when the claims database fails', async () => {
      const failing = { claim: () => Promise.reject<boolean>(new Error('SQLITE_BUSY: database is locked')), close: () => Promise.resolve() };
      const t = await start(SIGNED_ENV, { streamClaims: failing });
      const stream = await inboundStream(t, TOKEN, randomSid('CA'));
      expect(await upgradeStatus(stream.url, stream.headers)).to.equal(503);
      expect((await fetch(`${t.baseUrl}/health`)).status).to.equal(200);
    });

    it('refuses a token the gateway did not issue, signed or not', async () => {
      const t = await start(SIGNED_ENV);
      const stream = await inboundStream(t, TOKEN, randomSid('CA'));
      // The payload of a real token with another MAC, and a payload of our own with a real MAC.
      const [payload, mac] = new URL(stream.publicUrl).pathname.split('/').pop()!.split('.');
      const forged = (token: string): SignedStream => signedStream(t, TOKEN, `<Stream url="${PUBLIC.replace('https', 'wss')}/twilio/media-stream/${token}">`);
      for (const token of [`${payload}.${mac!.slice(1)}A`, `${Buffer.from('{"id":"x"}').toString('base64url')}.${mac}`, 'not-a-token']) {
        const attempt = forged(token);
        expect(await upgradeStatus(attempt.url, attempt.headers), token).to.equal(403);
      }
    });

    it('ends a stream whose start names another CallSid than its URL was issued for, recording nothing', async () => {
      const t = await start(SIGNED_ENV);
      const stream = await inboundStream(t, TOKEN, 'CA' + 'a'.repeat(32));
      const { closed, summary } = await refusedAtStart(t, { url: stream.url, headers: stream.headers, callSid: 'CA' + 'b'.repeat(32) });
      expect(summary.reason).to.equal('stream_refused');
      expect(summary.detail).to.contain('another call');
      expect(summary.callSid).to.equal(undefined);
      expect(summary.recording).to.equal(undefined);
      expect(closed.code).to.be.oneOf([1000, 1008]);
      expect(wavsIn(t.config.recordingsDir)).to.deep.equal([]);
    });

    it('refuses the bare /twilio/media-stream URL with 403, however it is signed', async () => {
      const t = await start(SIGNED_ENV);
      const bare = twilioSignature(TOKEN, 'wss://gw.example.com/twilio/media-stream');
      expect(await upgradeStatus(t.wsUrl, { 'X-Twilio-Signature': bare })).to.equal(403);
      expect(await upgradeStatus(t.wsUrl)).to.equal(403);
    });

    describe('outbound task calls', () => {
      before(() => {
        nock.disableNetConnect();
        nock.enableNetConnect(/127\.0\.0\.1/);
      });
      afterEach(() => nock.cleanAll());
      after(() => nock.enableNetConnect());

      /** Places the task's call with Twilio's REST API mocked; returns the TwiML Twilio was given. */
      async function dial(t: TestGateway, taskId: string, callSid: string): Promise<string> {
        const dialed = mockDial(SID, callSid);
        expect((await api(t, 'POST', `/api/tasks/${taskId}/call`)).status).to.equal(200);
        return dialed.twiml;
      }

      it("ends a stream that uses one task's URL for another task, and touches neither", async () => {
        const t = await start({ ...SIGNED_ENV, TWILIO_ACCOUNT_SID: SID, TWILIO_PHONE_NUMBER: FROM });
        const taskA = (await api<TaskView>(t, 'POST', '/api/tasks', { body: { to: TO } })).body;
        const taskB = (await api<TaskView>(t, 'POST', '/api/tasks', { body: { to: TO } })).body;
        const callSid = randomSid('CA');
        const stream = signedStream(t, TOKEN, await dial(t, taskA.id, callSid));
        const before = await Promise.all([taskA, taskB].map(async (task) => (await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body));

        const { summary } = await refusedAtStart(t, { url: stream.url, headers: stream.headers, callSid, customParameters: { taskId: taskB.id } });
        expect(summary.reason).to.equal('stream_refused');
        expect(summary.taskId).to.equal(undefined);
        const after = await Promise.all([taskA, taskB].map(async (task) => (await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body));
        expect(after).to.deep.equal(before);
      });

      it('admits the dialed call on its own URL, and refuses the URL of that dial for a second stream', async () => {
        const t = await start({ ...SIGNED_ENV, TWILIO_ACCOUNT_SID: SID, TWILIO_PHONE_NUMBER: FROM });
        const task = (await api<TaskView>(t, 'POST', '/api/tasks', { body: { to: TO } })).body;
        const callSid = randomSid('CA');
        const stream = signedStream(t, TOKEN, await dial(t, task.id, callSid));
        const c = caller({ url: stream.url, headers: stream.headers, callSid, customParameters: { taskId: task.id } });
        await c.connect();
        await c.streamSilence(100);
        await eventually(async () => ((await api<TaskView>(t, 'GET', `/api/tasks/${task.id}`)).body.status === 'in-progress' ? true : undefined), 3000, 'in-progress');
        expect(await upgradeStatus(stream.url, stream.headers)).to.equal(403);
        await c.stop();
        expect((await t.nextEnded()).reason).to.equal('twilio_stop');
      });
    });
  });

  describe('without TWILIO_AUTH_TOKEN', () => {
    it('accepts the bare /twilio/media-stream URL and answers TwiML naming it', async () => {
      const t = await start({ PUBLIC_URL: PUBLIC });
      const res = await fetch(`${t.baseUrl}/twilio/voice`, { method: 'POST', body: new URLSearchParams({ CallSid: 'CA1' }) });
      expect(await res.text()).to.contain('<Stream url="wss://gw.example.com/twilio/media-stream"/>');
      const c = caller({ url: t.wsUrl });
      await c.connect();
      await c.streamSilence(100);
      await c.stop();
      expect((await t.nextEnded()).reason).to.equal('twilio_stop');
    });

    it('knows no tokened stream URLs (404)', async () => {
      const t = await start();
      expect(await upgradeStatus(`${t.wsUrl}/abc.def`)).to.equal(404);
    });
  });

  describe('a stream may not take over a task', () => {
    const newTask = async (t: TestGateway): Promise<TaskView> => (await api<TaskView>(t, 'POST', '/api/tasks', { body: { to: TO } })).body;
    const read = async (t: TestGateway, id: string): Promise<TaskView> => (await api<TaskView>(t, 'GET', `/api/tasks/${id}`)).body;
    const audioOf = async (t: TestGateway, id: string): Promise<Buffer> => Buffer.from(await (await fetch(`${t.baseUrl}/api/tasks/${id}/audio`)).arrayBuffer());

    /** A gateway with scripted agents, a new task, and a first call of that task under way. */
    const firstCallOfNewTask = async () => {
      const scripted = scriptedAgents();
      const t = await start({ TWILIO_PHONE_NUMBER: FROM }, { agentFactory: scripted.factory });
      const task = await newTask(t);
      const first = await startedCall({ url: t.wsUrl, speed: SPEED, customParameters: { taskId: task.id } }, 200, callers);
      return { scripted, t, task, first };
    };

    it('leaves a completed task untouched by a second stream naming it: recording, transcript, status, history', async () => {
      const { scripted, t, task, first } = await firstCallOfNewTask();
      const agent = await eventually(() => scripted.agents[0], 3000, 'the agent');
      agent.sink.transcript({ role: 'assistant', text: 'Your appointment is confirmed.' });
      await first.stop();
      await t.nextEnded();
      const done = await eventually(async () => {
        const now = await read(t, task.id);
        return now.status === 'completed' && now.audioUrl ? now : undefined;
      }, 3000, 'the completed task');
      const wav = await audioOf(t, task.id);
      expect(wav.subarray(0, 4).toString()).to.equal('RIFF');

      const second = caller({ url: t.wsUrl, customParameters: { taskId: task.id } });
      await second.connect();
      const closed = await second.waitForClose();
      const summary = await t.nextEnded();
      expect(summary.reason).to.equal('stream_refused');
      expect(summary.detail).to.contain('has already ended (completed)');
      expect(closed).to.not.equal(undefined);
      expect(scripted.agents).to.have.length(1);
      expect(await read(t, task.id)).to.deep.equal(done);
      expect((await audioOf(t, task.id)).equals(wav)).to.equal(true);
      expect(wavsIn(t.config.recordingsDir)).to.have.length(1);
    });

    it('refuses a second stream for a task that is live with another CallSid; the first call goes on', async () => {
      const { scripted, t, task, first } = await firstCallOfNewTask();
      await eventually(async () => ((await read(t, task.id)).callSid === first.callSid ? true : undefined), 3000, 'the CallSid');

      const intruder = caller({ url: t.wsUrl, customParameters: { taskId: task.id } });
      await intruder.connect();
      await intruder.waitForClose();
      const refused = await t.nextEnded();
      expect(refused.reason).to.equal('stream_refused');
      expect(refused.detail).to.contain('belongs to another call');

      scripted.agents[0]!.sink.transcript({ role: 'user', text: 'Still here.' });
      await first.stop();
      const ended = await t.nextEnded();
      expect(ended).to.include({ reason: 'twilio_stop', callSid: first.callSid, taskId: task.id });
      const done = await eventually(async () => {
        const now = await read(t, task.id);
        return now.status === 'completed' ? now : undefined;
      }, 3000, 'the completed task');
      expect(done.callSid).to.equal(first.callSid);
      expect((await audioOf(t, task.id)).equals(readFileSync(ended.recording!.path))).to.equal(true);
      expect(done.transcript.map((l) => l.text)).to.deep.equal(['Still here.']);
    });
  });

  describe('an admission that answers late (a store round trip)', () => {
    /** Each stream's verdict waits until the test gives it, by CallSid. */
    function lateAdmission() {
      const verdicts = new Map<string, { promise: Promise<Admission>; resolve: (verdict: Admission) => void }>();
      const verdictFor = (callSid: string) => {
        let pending = verdicts.get(callSid);
        if (!pending) {
          let resolve!: (verdict: Admission) => void;
          const promise = new Promise<Admission>((r) => (resolve = r));
          verdicts.set(callSid, (pending = { promise, resolve }));
        }
        return pending;
      };
      return {
        admit: (start: StreamStart) => verdictFor(start.callSid).promise,
        answer: (callSid: string, verdict: Admission) => verdictFor(callSid).resolve(verdict),
      };
    }

    const leftChannel = (samples: Int16Array): Int16Array => samples.filter((_, i) => i % 2 === 0);

    it('holds the frames that arrive meanwhile and plays them into the call in order: the WAV loses no caller audio', async () => {
      const late = lateAdmission();
      const t = await start({}, { admit: late.admit });
      const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
      const c = caller({ url: t.wsUrl });
      await c.connect();
      // All of it before the verdict: the caller's first words, and their `stop`, wait for it.
      await c.streamAudio(speech);
      const stopped = c.stop(10_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(t.ended).to.have.length(0);
      late.answer(c.callSid, ADMITTED);
      await stopped;

      const summary = await t.nextEnded();
      expect(summary.reason).to.equal('twilio_stop');
      expect(summary.stats.framesIn).to.equal(Math.ceil(speech.length / 160));
      expect(summary.stats.badFrames).to.deep.equal({});
      const left = leftChannel((await readPcmWav(summary.recording!.path)).samples);
      const expected = decodeMulaw(speech);
      // From the first sample: nothing lost at the head, nothing reordered.
      expect(Buffer.from(left.buffer, left.byteOffset, expected.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength))).to.equal(true);
    });

    it('drops the held frames of a stream refused late, and ends cleanly a stream closed before its verdict', async () => {
      const late = lateAdmission();
      const t = await start({}, { admit: late.admit });
      const refusedCaller = caller({ url: t.wsUrl });
      await refusedCaller.connect();
      await refusedCaller.streamSilence(200);
      late.answer(refusedCaller.callSid, refused('not this one'));
      await refusedCaller.waitForClose();
      const refusal = await t.nextEnded();
      expect(refusal).to.include({ reason: 'stream_refused', detail: 'not this one', recording: undefined });

      const gone = caller({ url: t.wsUrl });
      await gone.connect();
      await gone.streamSilence(200);
      gone.close();
      const closed = await t.nextEnded();
      expect(closed).to.include({ reason: 'socket_closed', recording: undefined });
      // The verdict that comes after the end changes nothing.
      late.answer(gone.callSid, ADMITTED);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(t.ended).to.have.length(2);
      expect(wavsIn(t.config.recordingsDir)).to.deep.equal([]);
      expect((await fetch(`${t.baseUrl}/health`)).status).to.equal(200);
    });
  });

  describe('MAX_CONCURRENT_CALLS', () => {
    it('over the cap answers a busy <Reject>, refuses the upgrade with 503, and /health shows calls, pending streams and the cap', async () => {
      const t = await start({ PUBLIC_URL: PUBLIC, MAX_CONCURRENT_CALLS: '2' });
      const live = caller({ url: t.wsUrl });
      await live.connect();
      await live.streamSilence(100);
      // A socket that never sends start still holds a slot.
      const idle = new WebSocket(t.wsUrl);
      await new Promise((resolve) => idle.once('open', resolve));
      const health = await eventually(async () => {
        const body = (await (await fetch(`${t.baseUrl}/health`)).json()) as Record<string, unknown>;
        return body.pending_streams === 1 ? body : undefined;
      }, 3000, 'health');
      expect(health).to.include({ active_calls: 1, pending_streams: 1, max_concurrent_calls: 2 });

      const twiml = await (await fetch(`${t.baseUrl}/twilio/voice`, { method: 'POST', body: new URLSearchParams({ CallSid: 'CA3' }) })).text();
      expect(twiml).to.contain('<Reject reason="busy"/>');
      expect(twiml).to.not.contain('<Stream');
      expect(await upgradeStatus(t.wsUrl)).to.equal(503);
      expect(t.telemetry.recent({ component: 'twilio', action: 'call_refused' })[0]).to.include({ reason: 'at_capacity', call_sid: 'CA3' });
      expect(t.telemetry.recent({ component: 'media_stream', action: 'stream_refused' })[0]).to.include({ reason: 'at_capacity' });

      idle.close();
      await live.stop();
      await t.nextEnded();
      await t.nextEnded();
      expect(await upgradeStatus(t.wsUrl)).to.equal(101);
    });
  });
});
