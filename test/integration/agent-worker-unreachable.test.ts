// LiveKit out of reach: the gateway's room agent worker logs it once, keeps retrying, and the
// phone calls go on. The "LiveKit server" here is a TCP port that drops every connection.
import { expect } from 'chai';
import net from 'node:net';
import { once } from 'node:events';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');

/** Refuses every worker: accepts the TCP connection and drops it at once. Counts the attempts. */
async function droppingServer(): Promise<{ url: string; attempts: () => number; close: () => Promise<void> }> {
  let attempts = 0;
  const server = net.createServer((socket) => {
    attempts++;
    socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return { url: `ws://127.0.0.1:${port}`, attempts: () => attempts, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('room agent worker with LiveKit out of reach', function () {
  this.timeout(120_000);
  let livekit: Awaited<ReturnType<typeof droppingServer>>;
  let t: TestGateway;
  const log = capturingLogger('debug');

  before(async () => {
    livekit = await droppingServer();
    t = await startTestGateway(
      { LIVEKIT_URL: livekit.url, LIVEKIT_API_KEY: 'APIunreachable', LIVEKIT_API_SECRET: 'unreachable-secret-long-enough-for-hs256' },
      { logger: log.logger, roomAgentWorker: { maxRetry: 0, backoff: { firstMs: 100, maxMs: 400 } } },
    );
  });

  after(async () => {
    await t?.close();
    await livekit?.close();
  });

  const cannotReach = () => log.lines.filter((l) => String(l.message).startsWith('room agent worker cannot reach LiveKit'));

  it('logs the outage once, keeps retrying, and a call through the echo agent completes meanwhile', async () => {
    const caller = new FakeTwilioCaller({ url: t.wsUrl, speed: 8 });
    await caller.connect();
    await caller.streamSilence(300);
    await caller.streamAudio(speech);
    await caller.streamSilence(800);
    await caller.waitFor((e) => e.kind === 'mark-echoed', 15_000);
    await caller.stop();
    const summary = await t.nextEnded(15_000);
    expect(summary.reason).to.equal('twilio_stop');
    caller.close();

    await until(() => livekit.attempts() >= 3, 'the worker tried LiveKit three times');
    const [warning, ...more] = cannotReach();
    expect(warning, 'one warning for the outage').to.include({ level: 'warn', url: livekit.url });
    expect(more).to.deep.equal([]);
    expect(log.text()).not.to.include('unreachable-secret');
  });

  it('stops retrying once the gateway closes', async () => {
    await t.close();
    const after = livekit.attempts();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(livekit.attempts()).to.equal(after);
  });
});
