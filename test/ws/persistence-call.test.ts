// Finished phone calls reach the persistence service: a whole call through the fake Twilio caller
// (the voice webhook's TwiML, then the media stream) ends, and its record arrives over HTTP at a
// local stand-in of the service; without DJANGO_BASE_URL nothing is queued.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { CallRecord } from '../../src/persistence/schemas.js';
import { TASKS_DB_FILE } from '../../src/tasks/sqlite-store.js';
import { FakeTwilioCaller, randomSid } from '../../tools/twilio-caller.js';
import { FakePersistenceService } from '../helpers/persistence-service.js';
import { scriptedAgents } from '../helpers/scripted-agent.js';
import { eventually } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const TOKEN = 'ingest-token';
const SPEED = 8;
const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');

/** The voice webhook's answer for an inbound call, and the `<Parameter>`s its stream will carry. */
async function answerInbound(t: TestGateway, callSid: string): Promise<Record<string, string>> {
  const body = { CallSid: callSid, From: '+15550001111', To: '+15550002222', Direction: 'inbound' };
  const res = await fetch(`${t.baseUrl}/twilio/voice`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body).toString(),
  });
  expect(res.status).to.equal(200);
  const twiml = await res.text();
  return Object.fromEntries([...twiml.matchAll(/<Parameter name="([^"]+)" value="([^"]*)"\/>/g)].map((m) => [m[1]!, m[2]!]));
}

describe('finished phone calls and the persistence service', function () {
  this.timeout(30_000);
  let service: FakePersistenceService;
  let t: TestGateway | undefined;
  let caller: FakeTwilioCaller | undefined;

  beforeEach(async () => {
    service = new FakePersistenceService(TOKEN);
    await service.start();
  });
  afterEach(async () => {
    caller?.close();
    caller = undefined;
    await t?.close();
    t = undefined;
    await service.stop();
  });

  const persisted = { DJANGO_BASE_URL: 'set in each test', INGEST_TOKEN: TOKEN, INGEST_RETRY_MIN_MS: '20', INGEST_RETRY_MAX_MS: '200' };

  it('sends an echo call\'s record once it ends: ids, parties, agent, times, end reason, recording name, no DTMF', async () => {
    t = await startTestGateway({ ...persisted, DJANGO_BASE_URL: service.baseUrl });
    const callSid = randomSid('CA');
    const parameters = await answerInbound(t, callSid);
    expect(parameters).to.deep.equal({ from: '+15550001111', to: '+15550002222', direction: 'inbound' });
    caller = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED, callSid, customParameters: parameters });
    await caller.connect();
    await caller.streamSilence(300);
    await caller.streamAudio(speech);
    await caller.streamSilence(800);
    await caller.waitFor((e) => e.kind === 'mark-echoed', 8000);
    caller.sendDtmf('7');
    await caller.streamSilence(200);
    await caller.stop();
    const summary = await t.nextEnded();

    const key = `call:${caller.streamSid}`;
    const stored = await eventually(() => service.stored.get(key), 10_000, 'the call record');
    expect(stored.path).to.equal('/api/ingest/calls');
    expect(JSON.parse(stored.body)).to.deep.equal({
      call_id: caller.streamSid,
      call_sid: callSid,
      stream_sid: caller.streamSid,
      task_id: null,
      from: '+15550001111',
      to: '+15550002222',
      direction: 'inbound',
      agent: 'echo',
      started_at: summary.startedAt,
      ended_at: summary.endedAt,
      duration_ms: summary.durationMs,
      end_reason: 'twilio_stop',
      recording: path.basename(summary.recording!.path),
      // The echo agent keeps no transcript.
      transcript: [],
    });
    expect(() => CallRecord.parse(JSON.parse(stored.body)), 'the contract\'s schema').not.to.throw();
    expect(stored.body).not.to.match(/dtmf|digit/i);
    expect(path.basename(summary.recording!.path)).to.match(new RegExp(`_${callSid}_${caller.streamSid}\\.wav$`));
    const [request] = service.to('/api/ingest/calls');
    expect(request?.headers).to.deep.include({ authorization: `Bearer ${TOKEN}`, 'idempotency-key': key, 'content-type': 'application/json' });
    expect(service.to('/api/ingest/calls')).to.have.length(1);
  });

  it('sends the transcript as the agent reported it, interrupted lines marked', async () => {
    const scripted = scriptedAgents();
    t = await startTestGateway({ ...persisted, DJANGO_BASE_URL: service.baseUrl }, { agentFactory: scripted.factory });
    caller = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED, customParameters: { taskId: 'task_unknown' } });
    await caller.connect();
    await caller.streamSilence(200);
    const agent = await eventually(() => scripted.agents[0], 5000, 'the agent');
    agent.sink.transcript({ role: 'assistant', text: 'Hello there.', atMs: 100 });
    agent.sink.transcript({ role: 'user', text: 'Hi, I need help.', atMs: 900 });
    agent.sink.transcript({ role: 'assistant', text: 'Sure, let', atMs: 1500, interrupted: true });
    await caller.streamSilence(100);
    await caller.stop();
    await t.nextEnded();

    const stored = await eventually(() => service.stored.get(`call:${caller!.streamSid}`), 10_000, 'the call record');
    const record = JSON.parse(stored.body) as Record<string, unknown>;
    expect(record).to.deep.include({ agent: 'custom', task_id: 'task_unknown', from: null, to: null, direction: null });
    expect(record['transcript']).to.deep.equal([
      { role: 'assistant', text: 'Hello there.', at_ms: 100 },
      { role: 'user', text: 'Hi, I need help.', at_ms: 900 },
      { role: 'assistant', text: 'Sure, let', at_ms: 1500, interrupted: true },
    ]);
  });

  it('queues nothing without DJANGO_BASE_URL', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'persistence-off-'));
    t = await startTestGateway({ DATA_DIR: dataDir });
    expect(t.gateway.persistence).to.equal(undefined);
    caller = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED });
    await caller.connect();
    await caller.streamSilence(300);
    await caller.stop();
    await t.nextEnded();
    await t.close();
    const db = new Database(path.join(dataDir, TASKS_DB_FILE), { readonly: true });
    try {
      expect(db.prepare('SELECT COUNT(*) AS n FROM persistence_outbox').get()).to.deep.equal({ n: 0 });
    } finally {
      db.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
    t = undefined;
    expect(service.requests).to.deep.equal([]);
  });
});
