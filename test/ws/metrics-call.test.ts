// GET /metrics read as Prometheus would read it, after real calls: a fake Twilio caller and a fake
// Deepgram Voice Agent over real sockets, and the counters checked against what the caller sent
// and heard, what the call's summary counted, and what the task API shows.
import { expect } from 'chai';
import WebSocket from 'ws';
import { FakeTwilioCaller, randomSid } from '../../tools/twilio-caller.js';
import { FakeDeepgramAgent, type FakeAgentOptions } from '../../tools/fake-deepgram-agent.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { FRAME_BYTES } from '../../src/twilio/protocol.js';
import type { Env } from '../../src/config.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { BARGE_IN_DECIDED_AGO_MS, HOSTED_TEST_AGENT } from '../helpers/hosted-test-agent.js';
import { api, eventually } from '../helpers/task-api.js';
import { inboundStream } from '../helpers/twilio-stream.js';
import { parsePrometheusText, type Exposition } from '../helpers/prometheus-text.js';

const SPEED = 8;
const KEY = 'test-key';
const caller1 = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const caller2 = await readMulawWav('fixtures/speech/caller-2-8k-mulaw.wav');
const reply = await readMulawWav('fixtures/speech/agent-reply-8k-mulaw.wav');
const greeting = await readMulawWav('fixtures/speech/agent-greeting-8k-mulaw.wav');

async function scrape(t: TestGateway, token?: string): Promise<Exposition> {
  const res = await fetch(`${t.baseUrl}/metrics`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

async function turn(c: FakeTwilioCaller, speech: Buffer, marks: number): Promise<void> {
  await c.streamAudio(speech);
  await c.streamSilence(700);
  await c.waitFor(() => c.marksEchoed.length >= marks, 10_000);
}

describe('GET /metrics after real calls', function () {
  this.timeout(40_000);
  const open: Array<{ close(): unknown }> = [];
  const gateways: TestGateway[] = [];

  const gateway = async (env: Env = {}): Promise<TestGateway> => {
    const t = await startTestGateway(env);
    gateways.push(t);
    return t;
  };
  const deepgramGateway = async (options: FakeAgentOptions = {}, env: Env = {}) => {
    const fake = await FakeDeepgramAgent.start({ requireAuth: `Token ${KEY}`, replyAudio: [reply], ...options });
    open.push(fake);
    const t = await gateway({ AGENT_PROVIDER: 'deepgram', DEEPGRAM_API_KEY: KEY, DEEPGRAM_VOICE_AGENT_WS_URL: `${fake.url}/v1/agent/converse`, ...env });
    return { fake, t };
  };
  const caller = (t: TestGateway, extra: Partial<ConstructorParameters<typeof FakeTwilioCaller>[0]> = {}) => {
    const c = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED, ...extra });
    open.push(c);
    return c;
  };

  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
    for (const t of gateways.splice(0)) await t.close();
  });

  it('counts a two-turn Deepgram call: frames in and out, bad and padded frames, turns, marks, the agent, the end and the recording', async () => {
    const { fake, t } = await deepgramGateway();
    const c = caller(t);
    await c.connect();
    await fake.waitForSession(0, 5000);
    await turn(c, caller1, 1);
    c.sendRaw('this is not JSON');
    c.sendRaw('{"event":"teleport","streamSid":"x"}');
    c.sendRaw('{"event":"teleport","streamSid":"x"}');
    await turn(c, caller2, 2);

    // While the call is live, its frames are counted from its own stats at scrape time.
    const live = await eventually(async () => {
      const m = await scrape(t);
      return m.value('gateway_caller_frames_in_total') === c.framesSent ? m : undefined;
    }, 5000, 'the live call counted');
    expect(live.value('gateway_calls_active')).to.equal(1);
    expect(live.value('gateway_bad_frames_total', { kind: 'invalid_json' })).to.equal(1);
    expect(live.value('gateway_bad_frames_total', { kind: 'unknown_event' })).to.equal(2);

    const sent = c.framesSent;
    await c.stop();
    const summary = await t.nextEnded();
    const m = await scrape(t);

    expect(m.types.get('gateway_calls_active')).to.equal('gauge');
    expect(m.types.get('gateway_turn_latency_seconds')).to.equal('histogram');
    expect(m.value('gateway_calls_active')).to.equal(0);
    expect(m.value('gateway_calls_ended_total', { agent: 'deepgram', reason: 'twilio_stop' })).to.equal(1);
    expect(m.sum('gateway_calls_ended_total')).to.equal(1);
    // Every frame the caller sent, as the call itself counted them; no count lost at the call's end.
    expect(m.value('gateway_caller_frames_in_total')).to.equal(sent);
    expect(summary.stats.framesIn).to.equal(sent);
    expect(m.value('gateway_padded_frames_total')).to.equal(summary.stats.framesPadded);
    // What the caller received from the gateway, frame for frame.
    expect(m.value('gateway_agent_frames_out_total')).to.equal(c.receivedAudio().length / FRAME_BYTES);
    expect(m.value('gateway_agent_frames_out_total')).to.be.greaterThan(0);
    expect(m.value('gateway_bad_frames_total', { kind: 'invalid_json' })).to.equal(1);
    expect(m.value('gateway_bad_frames_total', { kind: 'unknown_event' })).to.equal(2);
    // Two answered turns, one agent connection, one round trip per mark the caller echoed.
    expect(m.value('gateway_turn_latency_seconds_count', { agent: 'deepgram' })).to.equal(2);
    expect(m.value('gateway_turn_latency_seconds_sum', { agent: 'deepgram' })).to.be.greaterThan(0);
    expect(m.value('gateway_agent_connect_seconds_count', { agent: 'deepgram' })).to.equal(1);
    expect(m.value('gateway_mark_round_trip_seconds_count')).to.equal(c.marksEchoed.length);
    expect(m.value('gateway_barge_in_stop_seconds_count')).to.equal(0);
    expect(m.sum('gateway_agent_reconnects_total')).to.equal(0);
    expect(m.value('gateway_recordings_total', { result: 'written' })).to.equal(1);
    // Cumulative buckets: each holds at least the one below it, +Inf holds them all.
    const buckets = m.samples.filter((s) => s.name === 'gateway_turn_latency_seconds_bucket' && s.labels.agent === 'deepgram');
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).to.be.at.least(buckets[i - 1]!.value);
    expect(buckets.at(-1)!.labels.le).to.equal('+Inf');
    expect(buckets.at(-1)!.value).to.equal(2);
    // Node's own process metrics come with them.
    expect(m.value('process_cpu_user_seconds_total')).to.be.greaterThan(0);
    expect(m.types.get('nodejs_heap_size_total_bytes')).to.equal('gauge');
    // Labels stay low-cardinality: no call's ids anywhere.
    const labelValues = m.samples.flatMap((s) => Object.values(s.labels));
    expect(labelValues).to.not.include(summary.callSid);
    expect(labelValues).to.not.include(summary.streamSid);
  });

  it('times the barge-in from the agent\'s signal to the clear, once per clear', async () => {
    const { fake, t } = await deepgramGateway({ replyAudio: [reply, greeting], replyPaceMs: 20 });
    const c = caller(t);
    await c.connect();
    await fake.waitForSession(0, 5000);
    await c.streamAudio(caller1);
    await c.streamSilence(700);
    await c.waitFor((e) => e.kind === 'media', 10_000);
    await c.streamSilence(300);
    await c.streamAudio(caller2);
    await c.waitFor((e) => e.kind === 'clear', 10_000);
    await c.stop();
    await t.nextEnded();
    const m = await scrape(t);
    expect(c.clears).to.equal(1);
    expect(m.value('gateway_barge_in_stop_seconds_count')).to.equal(1);
    // Measured in this process between two of its own moments: well under a frame's worth on any machine.
    expect(m.value('gateway_barge_in_stop_seconds_sum')).to.be.within(0, 1);
  });

  it('times a barge-in an agent in a worker thread signals from the moment it decided, on its own clock', async () => {
    const t = await startTestGateway({ AGENT_WORKERS: '1' }, { offThreadAgent: HOSTED_TEST_AGENT });
    gateways.push(t);
    const c = caller(t);
    await c.connect();
    await c.streamAudio(caller1);
    await c.streamSilence(700);
    await c.waitFor((e) => e.kind === 'media', 10_000);
    // DTMF 8: the hosted agent barges in, saying it decided BARGE_IN_DECIDED_AGO_MS ago.
    c.sendDtmf('8');
    await c.waitFor((e) => e.kind === 'clear', 10_000);
    await c.stop();
    await t.nextEnded();
    const m = await scrape(t);
    expect(m.value('gateway_barge_in_stop_seconds_count')).to.equal(1);
    expect(m.value('gateway_barge_in_stop_seconds_sum')).to.be.at.least(BARGE_IN_DECIDED_AGO_MS / 1000);
    expect(m.value('gateway_barge_in_stop_seconds_bucket', { le: '0.25' })).to.equal(0);
  });

  it('counts an agent reconnect', async () => {
    const { fake, t } = await deepgramGateway({ greetingAudio: greeting }, { DEEPGRAM_VOICE_AGENT_GREETING: 'Hello!' });
    const c = caller(t);
    await c.connect();
    const first = await fake.waitForSession(0, 5000);
    await c.waitFor(() => c.marksEchoed.length >= 1, 10_000);
    first.drop();
    const second = await fake.waitForSession(1, 5000);
    await second.waitFor((msg) => msg.type === 'Settings', 5000);
    await turn(c, caller1, 2);
    await c.stop();
    await t.nextEnded();
    const m = await scrape(t);
    expect(m.value('gateway_agent_reconnects_total', { agent: 'deepgram' })).to.equal(1);
    expect(m.value('gateway_agent_connect_seconds_count', { agent: 'deepgram' })).to.equal(1);
  });

  it('counts task status changes and analyses by result (a simulated task call through the echo agent)', async () => {
    const t = await gateway();
    const created = await api(t, 'POST', '/api/tasks', { body: { to: '+14155550123' } });
    expect(created.status).to.equal(201);
    const taskId = created.body.id as string;
    const c = caller(t, { customParameters: { taskId } });
    await c.connect();
    await c.streamSilence(400);
    await c.stop();
    await t.nextEnded();
    await eventually(async () => ((await api(t, 'GET', `/api/tasks/${taskId}/analysis`)).status === 200 ? true : undefined), 5000, 'the analysis');
    const m = await scrape(t);
    expect(m.value('gateway_task_status_changes_total', { status: 'in-progress' })).to.equal(1);
    expect(m.value('gateway_task_status_changes_total', { status: 'completed' })).to.equal(1);
    expect(m.sum('gateway_task_status_changes_total')).to.equal(2);
    expect(m.value('gateway_analyses_total', { result: 'ready' })).to.equal(1);
    expect(m.value('gateway_calls_ended_total', { agent: 'echo', reason: 'twilio_stop' })).to.equal(1);
  });

  it('counts Twilio signature failures on webhooks and on media-stream upgrades', async () => {
    const token = 'twilio-token';
    const t = await gateway({ TWILIO_AUTH_TOKEN: token, PUBLIC_URL: 'https://gw.example.com' });
    const unsigned = await fetch(`${t.baseUrl}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'CallSid=CA1' });
    expect(unsigned.status).to.equal(403);
    // A real stream URL (from a signed webhook), upgraded with a signature that is not Twilio's.
    const stream = await inboundStream(t, token, randomSid('CA'));
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(stream.url, { headers: { 'X-Twilio-Signature': 'bm90IGEgc2lnbmF0dXJl' } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(refused).to.equal(403);
    const m = await scrape(t);
    expect(m.value('gateway_twilio_signature_failures_total', { check: 'webhook' })).to.equal(1);
    expect(m.value('gateway_twilio_signature_failures_total', { check: 'media_stream' })).to.equal(1);
  });

  it('keeps each gateway\'s figures to itself when several run in one process', async () => {
    const a = await gateway();
    const b = await gateway();
    const c = caller(a);
    await c.connect();
    await c.streamSilence(200);
    await c.stop();
    await a.nextEnded();
    expect((await scrape(a)).value('gateway_caller_frames_in_total')).to.equal(c.framesSent);
    expect((await scrape(b)).value('gateway_caller_frames_in_total')).to.equal(0);
  });

  describe('METRICS_TOKEN', () => {
    it('requires the token as a Bearer when set: 401 without it or with another one (the API key included)', async () => {
      const t = await gateway({ METRICS_TOKEN: 'scrape-me', API_KEY: 'api-key' });
      for (const authorization of [undefined, 'Bearer wrong', 'Bearer api-key', 'scrape-me']) {
        const res = await fetch(`${t.baseUrl}/metrics`, { headers: authorization === undefined ? {} : { authorization } });
        expect(res.status, String(authorization)).to.equal(401);
        expect(res.headers.get('www-authenticate')).to.equal('Bearer');
        const body = (await res.json()) as { error: string; message: string };
        expect(body.error).to.equal('unauthorized');
        expect(body.message).to.not.include('scrape-me');
      }
      const m = await scrape(t, 'scrape-me');
      expect(m.value('gateway_calls_active')).to.equal(0);
    });

    it('is open without METRICS_TOKEN, even with an API key set', async () => {
      const t = await gateway({ API_KEY: 'api-key' });
      const m = await scrape(t);
      expect(m.value('gateway_calls_active')).to.equal(0);
    });
  });
});
