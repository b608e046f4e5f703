// The gateway as a process that dies and restarts: a SIGKILL mid-call, then a restart on the same
// folders; and a second gateway started by mistake while one runs. Real processes (src/main.ts),
// a fake Twilio caller and a fake Deepgram agent over real sockets.
import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { createGateway, type Gateway } from '../../src/gateway.js';
import type { LlmRequest } from '../../src/llm/types.js';
import type { CallAnalysis } from '../../src/tasks/model.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Telemetry } from '../../src/telemetry/events.js';
import { readMulawWav, readPcmWav } from '../../src/audio/wav-io.js';
import { FakeDeepgramAgent, REPLY_TEXT } from '../../tools/fake-deepgram-agent.js';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { startGatewayChild, type GatewayChild } from '../benchmark/lib/gateway-child.js';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { eventually } from '../helpers/task-api.js';

const TO = '+15550002222';
const FROM = '+15550001111';
const SPEED = 8;
/** A part file's size once `s` seconds of stereo PCM16 are on disk. */
const secondsOnDisk = (s: number) => 44 + s * 8000 * 4;
const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const reply = await readMulawWav('fixtures/speech/agent-reply-8k-mulaw.wav');
const ANALYSIS: CallAnalysis = {
  summary: 'The caller booked a flight.',
  outcome: { goal_reached: true, explanation: 'Booked.' },
  sentiment: 'neutral',
  action_items: [],
  key_facts: {},
};

async function getJson(base: string, route: string): Promise<{ status: number; body: any }> {
  const res = await fetch(base + route);
  return { status: res.status, body: await res.json() };
}

async function partFiles(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.wav.part'));
}

/** The one `.wav.part` in `dir`, once it holds at least `bytes`. */
function partFileWith(dir: string, bytes: number): Promise<string> {
  return eventually(async () => {
    const [part] = await partFiles(dir);
    if (part === undefined) return undefined;
    return (await stat(path.join(dir, part))).size >= bytes ? path.join(dir, part) : undefined;
  }, 10_000, 'a part file with audio');
}

describe('gateway restarts', function () {
  this.timeout(60_000);
  let root: string;
  let dataDir: string;
  let recordingsDir: string;
  const children: GatewayChild[] = [];
  const processes: GatewayProcess[] = [];
  const cleanups: Array<() => Promise<unknown> | unknown> = [];

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'restart-test-'));
    dataDir = path.join(root, 'data');
    recordingsDir = path.join(root, 'recordings');
  });

  afterEach(async () => {
    for (const p of processes.splice(0)) p.child.kill('SIGKILL');
    for (const child of children.splice(0)) await child.stop(2000);
    for (const clean of cleanups.splice(0).reverse()) await clean();
    await rm(root, { recursive: true, force: true });
  });

  it('after a SIGKILL mid-call, a restart repairs the WAV, settles the task, serves its audio and analyses what was said', async () => {
    const fake = await FakeDeepgramAgent.start({ replyAudio: [reply] });
    cleanups.push(() => fake.close());
    const first = await startGatewayChild({
      env: {
        DATA_DIR: dataDir,
        RECORDINGS_DIR: recordingsDir,
        AGENT_PROVIDER: 'deepgram',
        DEEPGRAM_API_KEY: 'test-key',
        DEEPGRAM_VOICE_AGENT_WS_URL: `${fake.url}/v1/agent/converse`,
        LOG_LEVEL: 'warn',
      },
      startTimeoutMs: 20_000,
    });
    children.push(first);
    const created = await fetch(`${first.baseUrl}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: TO, from: FROM }),
    });
    const taskId = ((await created.json()) as { id: string }).id;

    const caller = new FakeTwilioCaller({ url: first.wsUrl, speed: SPEED, customParameters: { taskId } });
    cleanups.push(() => caller.hangUp());
    await caller.connect();
    void caller.streamAudio(speech);
    void caller.streamSilence(3000);
    // The agent heard a turn and answered: both lines are in the store; a second of audio is on disk.
    await eventually(async () => {
      const { body } = await getJson(first.baseUrl, `/api/tasks/${taskId}`);
      return body.transcript.length >= 2 ? true : undefined;
    }, 15_000, 'two transcript lines');
    const part = await partFileWith(recordingsDir, secondsOnDisk(1));

    process.kill(first.pid, 'SIGKILL');
    expect(await first.exited).to.equal('SIGKILL');
    caller.hangUp();
    expect(await partFiles(recordingsDir)).to.deep.equal([path.basename(part)]);

    const seen: LlmRequest[] = [];
    const config = loadConfig({ DATA_DIR: dataDir, RECORDINGS_DIR: recordingsDir, LOG_NOISY_EVENTS_EVERY_N: '1' });
    const second: Gateway = await createGateway(config, {
      logger: silentLogger(),
      telemetry: new Telemetry({ noisyEveryN: 1 }),
      llm: {
        complete: async (request) => {
          seen.push(request);
          return { text: JSON.stringify(ANALYSIS), model: 'fake' };
        },
      },
    });
    cleanups.push(() => second.close());
    const { port: secondPort } = await second.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${secondPort}`;

    // Settled by the time the restarted gateway listens.
    const { body: task } = await getJson(base, `/api/tasks/${taskId}`);
    expect(task.status).to.equal('completed');
    expect(task.endReason).to.equal('gateway_restarted');
    expect(task.history.at(-1)).to.include({ status: 'completed', source: 'restart' });
    expect(task.audioUrl).to.equal(`/api/tasks/${taskId}/audio`);
    expect(await partFiles(recordingsDir)).to.deep.equal([]);

    const audio = await fetch(`${base}/api/tasks/${taskId}/audio`);
    expect(audio.status).to.equal(200);
    expect(audio.headers.get('content-type')).to.match(/^audio\/wav/);
    const served = path.join(root, 'served.wav');
    await writeFile(served, Buffer.from(await audio.arrayBuffer()));
    const wav = await readPcmWav(served);
    expect(wav.channels).to.equal(2);
    expect(wav.samples.length).to.be.at.least(8000 * 2);

    const analysis = await eventually(async () => {
      const res = await getJson(base, `/api/tasks/${taskId}/analysis`);
      return res.status === 202 ? undefined : res;
    }, 8000, 'the analysis');
    expect(analysis).to.deep.equal({ status: 200, body: { state: 'ready', analysis: ANALYSIS } });
    expect(seen).to.have.length(1);
    const prompt = seen[0]!.messages.map((m) => m.content).join('\n');
    expect(prompt).to.contain(REPLY_TEXT);
    expect(prompt).to.contain('<turn 1>');
  });

  it('a second gateway started while one runs fails on the port in one line and leaves the live recording alone', async () => {
    const env = { DATA_DIR: dataDir, RECORDINGS_DIR: recordingsDir, LOG_LEVEL: 'warn', DRAIN_TIMEOUT_S: '1' };
    const first = await startGatewayChild({ env, startTimeoutMs: 20_000 });
    children.push(first);
    const port = String(first.port);
    const caller = new FakeTwilioCaller({ url: first.wsUrl, speed: SPEED });
    cleanups.push(() => caller.hangUp());
    await caller.connect();
    await caller.streamAudio(Buffer.alloc(3 * 8000, 0x55));
    const part = await partFileWith(recordingsDir, secondsOnDisk(2));
    const before = await readFile(part);

    const second = spawnGateway({ ...env, PORT: port });
    processes.push(second);
    expect(await second.exited).to.deep.equal({ code: 1, signal: null });
    expect(second.stderr()).to.equal(`Could not start the gateway: port ${port} is already in use (PORT): is another gateway running?\n`);
    // The live call's part file is as the first gateway left it: not "repaired" under it.
    const now = await readFile(part);
    expect(now.subarray(0, 44)).to.deep.equal(before.subarray(0, 44));
    expect(now.readUInt32LE(40)).to.equal(0);

    await caller.stop();
    const wav = await eventually(async () => {
      const done = (await readdir(recordingsDir)).filter((f) => f.endsWith('.wav'));
      return done.length === 1 ? path.join(recordingsDir, done[0]!) : undefined;
    }, 5000, 'the finished recording');
    expect(wav).to.equal(part.slice(0, -'.part'.length));
    expect((await readPcmWav(wav)).samples.length).to.be.at.least(3 * 8000 * 2);
  });
});
