// A newcomer's first hour, without keys: `npm run fake-agent` prints the lines that point a gateway
// at the tests' fake Deepgram agent and a fake LLM; a call simulated the way scripts/simulate-call.ts
// places it hears the greeting before speaking, the reply before hanging up, and leaves a
// transcript, a latency figure and an analysis.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { expect } from 'chai';
import { readMulawWav } from '../../src/audio/wav-io.js';
import type { Env } from '../../src/config.js';
import { awaitAgentTurn } from '../../tools/conversation.js';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { api, eventually } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const SPEED = 8;
const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const greetingAudio = await readMulawWav('fixtures/speech/agent-greeting-8k-mulaw.wav');

/** Starts `npm run fake-agent`'s script and reads the env lines it prints. */
async function startFakeAgentScript(args: string[] = []): Promise<{ child: ChildProcess; env: Env }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/fake-agent.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const env: Env = {};
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) env[match[1]!] = match[2]!.replace(/^"(.*)"$/, '$1');
    if (line.startsWith('Ctrl-C')) break;
  }
  return { child, env };
}

describe('the keyless Deepgram path (npm run fake-agent + a simulated call)', function () {
  this.timeout(60_000);
  let fake: { child: ChildProcess; env: Env } | undefined;
  let t: TestGateway | undefined;

  afterEach(async () => {
    await t?.close();
    if (fake && fake.child.exitCode === null) {
      fake.child.kill('SIGINT');
      await once(fake.child, 'exit');
    }
  });

  it('prints env lines that give a call with a greeting, a reply, a transcript, latency and an analysis', async () => {
    fake = await startFakeAgentScript();
    expect(fake.env).to.include({ AGENT_PROVIDER: 'deepgram', DEEPGRAM_API_KEY: 'any', LLM_PROVIDER: 'local' });
    t = await startTestGateway(fake.env);
    expect(t.gateway.agentKind).to.equal('deepgram');
    const task = (await api(t, 'POST', '/api/tasks', { body: { to: '+14155550123', prompt: 'Book a flight' } })).body;

    const caller = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED, customParameters: { taskId: task.id } });
    await caller.connect();
    // The greeting plays to the end before the caller says a word.
    expect(await awaitAgentTurn(caller, { sinceMs: 0, startWithinMs: 3000, timeoutMs: 20_000 })).to.equal('heard');
    expect(caller.heardAudio().length).to.be.at.least(greetingAudio.length);

    await caller.streamAudio(speech);
    const spokeUntil = caller.now();
    expect(await awaitAgentTurn(caller, { sinceMs: spokeUntil, timeoutMs: 20_000 })).to.equal('heard');
    expect(caller.marksEchoed).to.have.length(2);
    await caller.stop();
    await t.nextEnded(10_000);

    const analysis = await eventually(async () => {
      const res = await api(t!, 'GET', `/api/tasks/${task.id}/analysis`);
      return res.status === 200 ? res.body : undefined;
    }, 10_000, 'the analysis');
    expect(analysis.analysis.summary).to.match(/fake Deepgram agent/);
    const full = (await api(t, 'GET', `/api/tasks/${task.id}`)).body;
    expect(full.transcript.map((line: { role: string }) => line.role)).to.include.members(['assistant', 'user']);
    const latency = t.telemetry.summary().find((row) => row.action === 'turn_latency');
    expect(latency?.count).to.be.at.least(1);
  });

  it('--port and --llm-port put the fakes where the printed lines say; a bad port is refused with the usage', async () => {
    const [port, llmPort] = [await freePort(), await freePort()];
    fake = await startFakeAgentScript(['--port', String(port), '--llm-port', String(llmPort)]);
    expect(fake.env).to.include({
      DEEPGRAM_VOICE_AGENT_WS_URL: `ws://127.0.0.1:${port}/v1/agent/converse`,
      VLLM_BASE_URL: `http://127.0.0.1:${llmPort}/v1`,
    });
    t = await startTestGateway(fake.env);
    const caller = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED });
    await caller.connect();
    expect(await awaitAgentTurn(caller, { sinceMs: 0, startWithinMs: 3000, timeoutMs: 20_000 })).to.equal('heard');
    await caller.stop();
    await t.nextEnded();

    const bad = spawn(process.execPath, ['--import', 'tsx', 'scripts/fake-agent.ts', '--port', '70000'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    bad.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = await once(bad, 'exit');
    expect(code).to.equal(2);
    expect(stderr).to.match(/--port must be a port number 0-65535, got "70000"[\s\S]*Usage: npm run fake-agent/);
  });

  it('tells an agent without a greeting (echo) from a slow one, and waits for the echo before hanging up', async () => {
    t = await startTestGateway();
    const caller = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED });
    await caller.connect();
    expect(await awaitAgentTurn(caller, { sinceMs: 0, startWithinMs: 1000, timeoutMs: 20_000 })).to.equal('silent');
    expect(caller.events.some((e) => e.kind === 'media')).to.equal(false);
    await caller.streamAudio(speech);
    expect(await awaitAgentTurn(caller, { sinceMs: caller.now(), timeoutMs: 20_000 })).to.equal('heard');
    await caller.stop();
    await t.nextEnded();
  });
});

/** A port nothing listens on right now (the OS picks it; it is released again at once). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
