// A task's call with DATABASE_URL on a real PostgreSQL: a fake Twilio caller streams the speech
// fixtures through a gateway and a fake Deepgram agent; what the call leaves (status, transcript,
// recording, analysis) is in PostgreSQL's rows and on the API, and a second gateway on the same
// database serves the same task.
import { expect } from 'chai';
import { readMulawWav } from '../../src/audio/wav-io.js';
import type { LlmClient } from '../../src/llm/types.js';
import type { CallAnalysis } from '../../src/tasks/model.js';
import { FakeDeepgramAgent, REPLY_TEXT } from '../../tools/fake-deepgram-agent.js';
import WebSocket from 'ws';
import { FakeTwilioCaller, randomSid } from '../../tools/twilio-caller.js';
import { freshDatabase, query } from '../helpers/postgres.js';
import { api, eventually } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { inboundStream } from '../helpers/twilio-stream.js';

const SPEED = 8;
const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const reply = await readMulawWav('fixtures/speech/agent-reply-8k-mulaw.wav');
const ANALYSIS: CallAnalysis = {
  summary: 'The caller asked about a flight.',
  outcome: { goal_reached: true, explanation: 'Answered.' },
  sentiment: 'neutral',
  action_items: [],
  key_facts: {},
};

const SIGNED_ENV = { TWILIO_AUTH_TOKEN: 'pg-test-token', PUBLIC_URL: 'https://gw.example.com' };

/** The HTTP status of an upgrade: 101 when the socket opened (closed again at once). */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
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
    ws.on('error', reject);
  });
}

/** An LLM stand-in that counts the analyses asked of it. */
function countingLlm(): LlmClient & { calls: number } {
  const llm = {
    calls: 0,
    complete: async () => {
      llm.calls++;
      return { text: JSON.stringify(ANALYSIS), model: 'fake' };
    },
  };
  return llm;
}

describe('a task call with DATABASE_URL (PostgreSQL)', function () {
  this.timeout(60_000);
  const cleanups: Array<() => Promise<unknown> | unknown> = [];

  afterEach(async () => {
    for (const clean of cleanups.splice(0).reverse()) await clean();
  });

  it('lands status, transcript, recording and analysis in PostgreSQL, and a second gateway on the database serves them', async () => {
    const url = await freshDatabase();
    const fake = await FakeDeepgramAgent.start({ replyAudio: [reply] });
    cleanups.push(() => fake.close());
    const agentEnv = { AGENT_PROVIDER: 'deepgram', DEEPGRAM_API_KEY: 'test-key', DEEPGRAM_VOICE_AGENT_WS_URL: `${fake.url}/v1/agent/converse` };
    const llmA = countingLlm();
    const a: TestGateway = await startTestGateway({ DATABASE_URL: url, ...agentEnv }, { llm: llmA });
    cleanups.push(() => a.close());

    const created = await api(a, 'POST', '/api/tasks', { body: { to: '+14155550123', prompt: 'Book a flight', metadata: { z: 1, a: 2 } } });
    expect(created.status).to.equal(201);
    const taskId = created.body.id as string;
    const caller = new FakeTwilioCaller({ url: a.wsUrl, speed: SPEED, customParameters: { taskId } });
    cleanups.push(() => caller.close());
    await caller.connect();
    await caller.streamAudio(speech);
    void caller.streamSilence(3000);
    await eventually(async () => ((await api(a, 'GET', `/api/tasks/${taskId}`)).body.transcript.length >= 2 ? true : undefined), 20_000, 'two transcript lines');
    await caller.stop();
    await a.nextEnded(10_000);

    const onA = await eventually(async () => {
      const res = await api(a, 'GET', `/api/tasks/${taskId}`);
      return res.body.status === 'completed' && res.body.analysis?.state === 'ready' ? res.body : undefined;
    }, 15_000, 'the task completed and analysed');
    expect(onA.transcript.map((line: { role: string }) => line.role)).to.include.members(['user', 'assistant']);
    expect(onA.transcript.find((line: { role: string }) => line.role === 'assistant').text).to.equal(REPLY_TEXT);
    expect(onA.audioUrl).to.equal(`/api/tasks/${taskId}/audio`);
    expect(onA.analysis).to.deep.equal({ state: 'ready', analysis: ANALYSIS });
    expect(llmA.calls).to.equal(1);

    // The rows themselves, as an operator querying PostgreSQL sees them.
    const [row] = await query<{ status: string; recording_path: string | null; metadata: unknown }>(url, 'SELECT status, recording_path, metadata FROM tasks WHERE id = $1', [taskId]);
    expect(row?.status).to.equal('completed');
    expect(row?.recording_path).to.be.a('string').and.match(/\.wav$/);
    const lines = await query<{ role: string; text: string }>(url, 'SELECT role, text FROM task_transcript_lines WHERE task_id = $1 ORDER BY seq', [taskId]);
    expect(lines.map((l) => ({ role: l.role, text: l.text }))).to.deep.equal(onA.transcript.map((l: { role: string; text: string }) => ({ role: l.role, text: l.text })));
    const history = await query<{ status: string }>(url, 'SELECT status FROM task_status_history WHERE task_id = $1 ORDER BY seq', [taskId]);
    expect(history.map((h) => h.status)).to.deep.equal(onA.history.map((h: { status: string }) => h.status));
    expect(history.map((h) => h.status).at(-1)).to.equal('completed');

    // A second instance on the same database (and the same recordings volume) serves the same task.
    const llmB = countingLlm();
    const b = await startTestGateway({ DATABASE_URL: url, RECORDINGS_DIR: a.config.recordingsDir }, { llm: llmB });
    cleanups.push(() => b.close());
    const onB = await api(b, 'GET', `/api/tasks/${taskId}`);
    expect(onB.status).to.equal(200);
    expect(onB.body).to.deep.equal(onA);
    expect((await api(b, 'GET', '/api/tasks?limit=10')).body.tasks.map((t: { id: string }) => t.id)).to.deep.equal([taskId]);
    expect((await api(b, 'GET', `/api/tasks/${taskId}/analysis`)).body).to.deep.equal({ state: 'ready', analysis: ANALYSIS });
    const audio = await fetch(`${b.baseUrl}/api/tasks/${taskId}/audio`);
    expect(audio.status).to.equal(200);
    const wav = Buffer.from(await audio.arrayBuffer());
    expect(wav.subarray(0, 4).toString('latin1')).to.equal('RIFF');
    expect(wav.length).to.be.greaterThan(44 + speech.length * 4 - 1);
    // The analysis was made once, by the instance that had the call.
    expect(llmA.calls + llmB.calls).to.equal(1);
  });

  it('refuses on one instance a stream token already used on another (claims live in PostgreSQL)', async () => {
    const url = await freshDatabase();
    const a = await startTestGateway({ DATABASE_URL: url, ...SIGNED_ENV });
    cleanups.push(() => a.close());
    const b = await startTestGateway({ DATABASE_URL: url, ...SIGNED_ENV });
    cleanups.push(() => b.close());
    const stream = await inboundStream(a, SIGNED_ENV.TWILIO_AUTH_TOKEN, randomSid('CA'));
    const onB = `ws://${new URL(b.wsUrl).host}${new URL(stream.publicUrl).pathname}`;
    expect(await upgradeStatus(stream.url, stream.headers)).to.equal(101);
    expect(await upgradeStatus(onB, stream.headers)).to.equal(403);
    expect(b.telemetry.recent({ component: 'media_stream', action: 'stream_refused' }).map((e) => e.reason)).to.deep.equal(['token_used']);
    expect(await query(url, 'SELECT count(*)::int AS n FROM media_stream_claims')).to.deep.equal([{ n: 1 }]);
  });
});
