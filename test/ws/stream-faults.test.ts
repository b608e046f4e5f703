// Faults a real network or a hostile peer produces on the media socket, over real sockets: a
// timestamp jump, a frame over the socket's size limit, a peer that stops reading, a caller that
// goes silent, a socket that stops answering pings. Each call ends (or goes on) as a caller and
// an operator would expect, and keeps its recording.
import { expect } from 'chai';
import { stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import WebSocket from 'ws';
import { FakeTwilioCaller, randomSid } from '../../tools/twilio-caller.js';
import { scriptedAgents } from '../helpers/scripted-agent.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { startedCall } from '../helpers/twilio-stream.js';
import { readPcmWav } from '../../src/audio/wav-io.js';
import { FRAME_BYTES, MULAW_SILENCE, SAMPLE_RATE } from '../../src/twilio/protocol.js';

const SILENCE_B64 = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE).toString('base64');

/** A bare Twilio peer over `ws`, for what FakeTwilioCaller deliberately never does (stop reading, ignore pings). */
async function rawStream(url: string, options: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket; streamSid: string; media(timestampMs: number): void }> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
  ws.on('error', () => undefined);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const streamSid = randomSid('MZ');
  let seq = 0;
  ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
  ws.send(
    JSON.stringify({
      event: 'start',
      sequenceNumber: String(++seq),
      streamSid,
      start: {
        streamSid,
        accountSid: randomSid('AC'),
        callSid: randomSid('CA'),
        tracks: ['inbound'],
        customParameters: {},
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: SAMPLE_RATE, channels: 1 },
      },
    }),
  );
  const media = (timestampMs: number): void =>
    ws.send(
      JSON.stringify({
        event: 'media',
        sequenceNumber: String(++seq),
        streamSid,
        media: { track: 'inbound', chunk: String(seq), timestamp: String(timestampMs), payload: SILENCE_B64 },
      }),
    );
  return { ws, streamSid, media };
}

const closed = (ws: WebSocket) =>
  new Promise<number>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve(1006) : ws.once('close', (code: number) => resolve(code))));

describe('media stream faults', function () {
  this.timeout(30_000);
  let t: TestGateway | undefined;
  const callers: FakeTwilioCaller[] = [];
  const sockets: WebSocket[] = [];

  afterEach(async () => {
    for (const c of callers.splice(0)) c.close();
    for (const ws of sockets.splice(0)) ws.terminate();
    await t?.close();
    t = undefined;
  });

  it('skips a caller frame stamped an hour ahead: the WAV has the call’s real length', async () => {
    t = await startTestGateway({ MEDIA_MAX_LEAD_S: '5' });
    const c = await startedCall({ url: t.wsUrl, speed: 4 }, 400, callers);
    // One frame at one hour: padded, it would make the recording an hour (115 MB) long.
    c.sendFrameAt(3_600_000);
    await c.streamSilence(400);
    await c.stop();
    const summary = await t.nextEnded();
    expect(summary.reason).to.equal('twilio_stop');
    expect(summary.stats.badFrames).to.deep.equal({ timestamp_jump: 1 });
    // The frames after the jump were taken: the call went on.
    expect(summary.stats.framesIn).to.equal(40);
    const wav = await readPcmWav(summary.recording!.path);
    const seconds = wav.samples.length / 2 / SAMPLE_RATE;
    expect(seconds).to.be.within(0.8, 5);
    expect((await stat(summary.recording!.path)).size).to.be.below(200_000);
  });

  it('closes only the socket that sends a frame over maxPayload (1009), keeping its recording; other calls go on', async () => {
    t = await startTestGateway();
    const started = (): Promise<FakeTwilioCaller> => startedCall({ url: t!.wsUrl, speed: 8 }, 300, callers);
    const [bad, good] = await Promise.all([started(), started()]);
    bad.sendRaw(`{"event":"media","junk":"${'x'.repeat(100_000)}"}`);
    expect((await bad.waitForClose()).code).to.equal(1009);
    const summary = await t.nextEnded();
    expect(summary.callSid).to.equal(bad.callSid);
    expect(summary.reason).to.equal('message_too_big');
    expect(summary.recording!.durationMs).to.be.at.least(300);
    const wav = await readPcmWav(summary.recording!.path);
    expect(wav.channels).to.equal(2);

    await good.streamSilence(300);
    await good.stop();
    const other = await t.nextEnded();
    expect(other.callSid).to.equal(good.callSid);
    expect(other.reason).to.equal('twilio_stop');
  });

  it('ends the call when Twilio stops reading while the agent talks, with the send buffer and the WAV bounded', async () => {
    const { factory, agents } = scriptedAgents();
    t = await startTestGateway({}, { agentFactory: factory });
    // The gateway's end of this call's TCP connection: its unsent bytes are what would grow.
    const serverSockets: Socket[] = [];
    t.gateway.server.on('connection', (socket: Socket) => serverSockets.push(socket));
    const peer = await rawStream(t.wsUrl);
    sockets.push(peer.ws);
    for (let i = 0; i < 10; i++) peer.media(i * 20);
    while (agents.length === 0) await nextTurn();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const gatewaySide = serverSockets.find((s) => s.remotePort === (peer.ws as unknown as { _socket: Socket })._socket.localPort)!;
    expect(gatewaySide).to.not.equal(undefined);

    peer.ws.pause(); // Twilio stops reading; the socket stays open.
    const ended = t.nextEnded(20_000);
    let callOver = false;
    void ended.then(() => (callOver = true), () => undefined);
    const chunk = Buffer.alloc(16_000, 0x55); // 2 s of agent audio
    let pumped = 0;
    let peakUnsent = 0;
    const heapBefore = process.memoryUsage();
    while (!callOver && pumped < 10 * 1024 * 1024) {
      agents[0]!.sink.audio(chunk);
      pumped += chunk.length;
      peakUnsent = Math.max(peakUnsent, gatewaySide.writableLength);
      await nextTurn();
    }
    const summary = await ended;
    const heapAfter = process.memoryUsage();
    expect(summary.reason).to.equal('send_buffer_full');
    // The bound is 2 MiB; a message or two may land on top before the call ends. Unbounded, the
    // gateway held over 10 MB here for a peer that would never read it.
    expect(peakUnsent).to.be.below(3 * 1024 * 1024);
    // The whole process, loosely: the recording's agent lane and the kernel's buffers come on top.
    expect(heapAfter.arrayBuffers - heapBefore.arrayBuffers).to.be.below(32 * 1024 * 1024);
    const wav = await readPcmWav(summary.recording!.path);
    expect(wav.channels).to.equal(2);
    expect(wav.samples.length).to.be.above(0);
    // The gateway dropped the connection rather than wait on a close handshake nobody reads.
    expect(gatewaySide.destroyed).to.equal(true);
  });

  it('ends a started call whose caller sends nothing more as media_timeout, with its recording', async () => {
    t = await startTestGateway({ MEDIA_IDLE_TIMEOUT_S: '0.4' });
    const c = await startedCall({ url: t.wsUrl, speed: 8 }, 400, callers);
    // The socket stays open; the caller has gone quiet.
    const summary = await t.nextEnded(10_000);
    expect(summary.reason).to.equal('media_timeout');
    expect(summary.recording!.durationMs).to.be.at.least(400);
    expect((await readPcmWav(summary.recording!.path)).channels).to.equal(2);
    expect((await c.waitForClose()).code).to.equal(1000);
  });

  it('ends a call whose stream started but never sent media as media_timeout', async () => {
    t = await startTestGateway({ MEDIA_IDLE_TIMEOUT_S: '0.3' });
    const peer = await rawStream(t.wsUrl);
    sockets.push(peer.ws);
    const summary = await t.nextEnded(10_000);
    expect(summary.reason).to.equal('media_timeout');
    expect(summary.recording).to.not.equal(undefined);
  });

  it('terminates a socket that stops answering pings', async () => {
    t = await startTestGateway({ MEDIA_PING_INTERVAL_S: '0.2', MEDIA_IDLE_TIMEOUT_S: '60' });
    const peer = await rawStream(t.wsUrl, { autoPong: false });
    sockets.push(peer.ws);
    peer.media(0);
    const summary = await t.nextEnded(10_000);
    expect(summary.reason).to.equal('ping_timeout');
    expect(summary.recording).to.not.equal(undefined);
    expect(await closed(peer.ws)).to.equal(1006);
  });

  it('keeps a caller that answers pings and streams in real time', async () => {
    t = await startTestGateway({ MEDIA_PING_INTERVAL_S: '0.1', MEDIA_IDLE_TIMEOUT_S: '2', MEDIA_MAX_LEAD_S: '1' });
    const c = await startedCall({ url: t.wsUrl, speed: 1 }, 800, callers);
    await c.stop();
    const summary = await t.nextEnded();
    expect(summary.reason).to.equal('twilio_stop');
    expect(summary.stats.badFrames).to.deep.equal({});
  });
});
