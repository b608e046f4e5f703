// The fake Twilio caller against a scripted gateway: a bare `ws` server in this file that plays
// the gateway's part frame by frame, so every assertion is about bytes on the wire.
import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { WebSocketServer, type ServerOptions } from 'ws';
import { decodeMulaw } from '../../src/audio/mulaw.js';
import { readPcmWav } from '../../src/audio/wav-io.js';
import { isSupportedMediaFormat, parseInbound } from '../../src/twilio/protocol.js';
import { FakeTwilioCaller, type CallerEvent, type FakeCallerOptions } from '../../tools/twilio-caller.js';

type Frame = Record<string, any>;

interface Received {
  msg: Frame;
}

/** The gateway's end of one stream: records what the caller sends, sends what a test scripts. */
class Peer {
  readonly frames: Received[] = [];
  readonly closed: Promise<number>;
  private listeners: (() => void)[] = [];

  constructor(
    readonly ws: WebSocket,
    readonly headers: IncomingHttpHeaders,
  ) {
    ws.on('message', (data) => {
      this.frames.push({ msg: JSON.parse(data.toString()) as Frame });
      for (const listener of this.listeners) listener();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  media(): Frame[] {
    return this.frames.filter((f) => f.msg.event === 'media').map((f) => f.msg);
  }

  /** Resolves with the first received frame that matches, already here or still to come. */
  waitFor(pred: (msg: Frame) => boolean, timeoutMs = 2000): Promise<Received> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.frames.find((f) => pred(f.msg));
        if (hit) resolve(hit);
        return hit !== undefined;
      };
      if (check()) return;
      const timer = setTimeout(() => reject(new Error('gateway: no matching frame from the caller')), timeoutMs);
      this.listeners.push(() => check() && clearTimeout(timer));
    });
  }

  send(msg: Frame | string | Buffer): void {
    this.ws.send(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg));
  }

  sendAudio(streamSid: string, audio: Buffer): void {
    this.send({ event: 'media', streamSid, media: { payload: audio.toString('base64') } });
  }

  sendMark(streamSid: string, name: string): void {
    this.send({ event: 'mark', streamSid, mark: { name } });
  }
}

interface Gateway {
  url: string;
  peer: Promise<Peer>;
  close(): Promise<void>;
}

async function startGateway(options: ServerOptions = {}): Promise<Gateway> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await new Promise((resolve) => wss.once('listening', resolve));
  const { port } = wss.address() as WebSocket.AddressInfo;
  const peer = new Promise<Peer>((resolve) => wss.once('connection', (ws, req) => resolve(new Peer(ws, req.headers))));
  return {
    url: `ws://127.0.0.1:${port}/twilio/media-stream`,
    peer,
    close: () => {
      for (const client of wss.clients) client.terminate();
      return new Promise((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Audio that never contains the silence byte, so played bytes are easy to find. */
function tone(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = i % 255;
  return out;
}

const isSilence = (buf: Buffer): boolean => buf.every((b) => b === 0xff);
const firstNonSilence = (buf: Buffer): number => buf.findIndex((b) => b !== 0xff);
const kind = (k: CallerEvent['kind'], detail?: string) => (e: CallerEvent) =>
  e.kind === k && (detail === undefined || e.detail === detail);

describe('FakeTwilioCaller', function () {
  let gateway: Gateway;
  let caller: FakeTwilioCaller;

  async function dial(opts: Partial<FakeCallerOptions> = {}, serverOptions: ServerOptions = {}): Promise<Peer> {
    gateway = await startGateway(serverOptions);
    caller = new FakeTwilioCaller({ url: gateway.url, ...opts });
    await caller.connect();
    return gateway.peer;
  }

  afterEach(async function () {
    caller?.close();
    await gateway?.close();
  });

  it('opens with connected then start in Twilio’s exact shape, with the upgrade headers', async function () {
    const peer = await dial({ headers: { 'X-Twilio-Signature': 'sig=' }, customParameters: { taskId: 't-1' } });
    await peer.waitFor((m) => m.event === 'start');

    expect(peer.headers['x-twilio-signature']).to.equal('sig=');
    expect(caller.streamSid).to.match(/^MZ[0-9a-f]{32}$/);
    expect(caller.callSid).to.match(/^CA[0-9a-f]{32}$/);
    expect(caller.accountSid).to.match(/^AC[0-9a-f]{32}$/);
    expect(peer.frames.map((f) => f.msg)).to.deep.equal([
      { event: 'connected', protocol: 'Call', version: '1.0.0' },
      {
        event: 'start',
        sequenceNumber: '1',
        streamSid: caller.streamSid,
        start: {
          streamSid: caller.streamSid,
          accountSid: caller.accountSid,
          callSid: caller.callSid,
          tracks: ['inbound'],
          customParameters: { taskId: 't-1' },
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        },
      },
    ]);
    // The gateway's own parser accepts what the fake sends.
    const parsed = parseInbound(JSON.stringify(peer.frames[1]!.msg), Buffer.alloc(320));
    expect(parsed.ok && parsed.event.type === 'start' && isSupportedMediaFormat(parsed.event.mediaFormat)).to.equal(true);
    expect(caller.events[0]).to.deep.include({ kind: 'connected', at: 0 });
  });

  it('sends 160-byte media frames with decimal-string timestamps, chunks and sequence numbers', async function () {
    const peer = await dial({ speed: Infinity });
    const speech = tone(1000); // 6.25 frames: the last one is padded with silence
    void caller.streamAudio(speech);
    await caller.streamSilence(40);
    await peer.waitFor((m) => m.event === 'media' && m.media.chunk === '9');

    const media = peer.media();
    expect(media).to.have.length(9);
    // 0 unless the OS stalled this process for 20 ms between connect and the first frame.
    const t0 = Number(media[0]!.media.timestamp);
    expect(t0 % 20).to.equal(0);
    media.forEach((msg, i) => {
      expect(msg).to.deep.equal({
        event: 'media',
        sequenceNumber: String(i + 2),
        streamSid: caller.streamSid,
        media: { track: 'inbound', chunk: String(i + 1), timestamp: String(t0 + i * 20), payload: msg.media.payload },
      });
      expect(Buffer.from(msg.media.payload, 'base64')).to.have.length(160);
      expect(parseInbound(JSON.stringify(msg), Buffer.alloc(320)).ok).to.equal(true);
    });
    const sent = Buffer.concat(media.map((m) => Buffer.from(m.media.payload, 'base64')));
    expect(sent.subarray(0, 1000).equals(speech)).to.equal(true);
    expect(isSilence(sent.subarray(1000))).to.equal(true);
    expect(caller.framesSent).to.equal(9);
  });

  it('paces frames on the scaled clock', async function () {
    const peer = await dial({ speed: 10 });
    const t0 = performance.now();
    await caller.streamSilence(600); // 30 frames: 600 call-ms, 60 real ms at speed 10
    const elapsed = performance.now() - t0;
    await peer.waitFor((m) => m.event === 'media' && m.media.chunk === '30');
    const media = peer.media();

    // Paced, not sent at once; the upper bound only catches real-time pacing on a loaded machine.
    expect(elapsed).to.be.within(55, 3000);
    expect(caller.now()).to.be.at.least(600);
    expect(Number(media[29]!.media.timestamp) - Number(media[0]!.media.timestamp)).to.equal(580);
  });

  it('at speed Infinity, advances the clock one frame per frame sent', async function () {
    const peer = await dial({ speed: Infinity });
    const t0 = performance.now();
    await caller.streamSilence(10_000);
    const elapsed = performance.now() - t0;
    const last = await peer.waitFor((m) => m.event === 'media' && m.media.chunk === '500');
    const first = peer.media()[0]!;

    expect(Number(last.msg.media.timestamp) - Number(first.media.timestamp)).to.equal(9980);
    expect(elapsed).to.be.below(5000);
    // Frame time, then real time since the frames went out (which includes the wait above).
    const sinceStart = performance.now() - t0;
    expect(caller.now()).to.be.within(10_000, 10_000 + sinceStart);
  });

  it('echoes a mark only once the audio queued before it has played', async function () {
    const peer = await dial({ speed: 10 });
    await peer.waitFor((m) => m.event === 'start');
    for (let i = 0; i < 40; i++) peer.sendAudio(caller.streamSid, tone(160)); // 800 ms
    peer.sendMark(caller.streamSid, 'u1');

    const echo = await caller.waitFor(kind('mark-echoed', 'u1'));
    const firstMedia = caller.events.find(kind('media'))!;
    // Playback starts when the first frame arrives; 6400 bytes take 800 ms (to within a byte).
    // Not before the audio has played; late only by timer delays (call-ms: 10x real ms at this speed).
    expect(echo.at - firstMedia.at).to.be.within(800 - 0.125, 800 + 3000);
    const wire = await peer.waitFor((m) => m.event === 'mark');
    expect(wire.msg).to.deep.equal({ event: 'mark', sequenceNumber: '2', streamSid: caller.streamSid, mark: { name: 'u1' } });

    // With nothing queued, a mark comes straight back.
    peer.sendMark(caller.streamSid, 'u2');
    const sentAt = (await caller.waitFor(kind('mark-sent', 'u2'))).at;
    expect((await caller.waitFor(kind('mark-echoed', 'u2'))).at).to.equal(sentAt);
    expect(caller.marksEchoed).to.deep.equal(['u1', 'u2']);
  });

  it('keeps echoing marks on time while the caller streams, after markEchoDelayMs', async function () {
    const peer = await dial({ speed: 10, markEchoDelayMs: 200 });
    const streaming = caller.streamSilence(1500);
    await peer.waitFor((m) => m.event === 'media');
    peer.sendAudio(caller.streamSid, tone(3200)); // 400 ms
    peer.sendMark(caller.streamSid, 'm');

    const echo = await caller.waitFor(kind('mark-echoed', 'm'));
    const media = caller.events.find(kind('media'))!;
    expect(echo.at - media.at).to.be.within(600 - 0.125, 600 + 3000);
    await streaming;
    // Sent is not yet received: on a loaded machine the last frames may still be in flight.
    await peer.waitFor((m) => m.event === 'mark');
    await peer.waitFor((m) => m.event === 'media' && m.media.chunk === '75');
    // The echo sits among the media frames; sequence numbers stay gapless across both.
    const seqs = peer.frames.slice(1).map((f) => Number(f.msg.sequenceNumber));
    expect(seqs).to.deep.equal(seqs.map((_, i) => i + 1));
    expect(peer.frames.some((f) => f.msg.event === 'mark')).to.equal(true);
  });

  it('on clear, empties the play buffer, echoes pending marks at once and cuts the heard audio', async function () {
    const peer = await dial({ speed: 10 });
    await peer.waitFor((m) => m.event === 'start');
    const reply = tone(32_000); // 4 s
    peer.sendAudio(caller.streamSid, reply);
    peer.sendMark(caller.streamSid, 'long');
    await sleep(40); // about 400 call-ms into the reply
    peer.send({ event: 'clear', streamSid: caller.streamSid });

    const cleared = await caller.waitFor(kind('clear'));
    const echo = await caller.waitFor(kind('mark-echoed', 'long'));
    expect(echo.at).to.equal(cleared.at);
    expect(caller.clears).to.equal(1);
    await sleep(30);

    const heard = caller.heardAudio();
    const start = Math.floor(caller.events.find(kind('media'))!.at * 8);
    const cut = Math.floor(cleared.at * 8);
    expect(cut - start).to.be.within(200 * 8, 3500 * 8);
    expect(firstNonSilence(heard)).to.equal(start);
    expect(heard.subarray(start, cut).equals(reply.subarray(0, cut - start))).to.equal(true);
    expect(isSilence(heard.subarray(cut))).to.equal(true);
    expect(heard.length).to.be.above(cut + 100 * 8); // the call went on in silence
    expect(caller.receivedAudio().equals(reply)).to.equal(true);
  });

  it('places heard audio at its call-clock position and saves it as a WAV', async function () {
    const peer = await dial({ speed: 10 });
    const streaming = caller.streamSilence(1500);
    await peer.waitFor((m) => m.event === 'media' && m.media.timestamp === '200');
    const reply = tone(320);
    peer.sendAudio(caller.streamSid, reply);
    await streaming;
    caller.close(); // freezes the clock so the track stops growing

    const heard = caller.heardAudio();
    const arrived = caller.events.find(kind('media'))!.at;
    const start = Math.floor(arrived * 8);
    expect(arrived).to.be.at.least(200);
    expect(firstNonSilence(heard)).to.equal(start);
    expect(heard.subarray(start, start + 320).equals(reply)).to.equal(true);
    expect(isSilence(heard.subarray(start + 320))).to.equal(true);
    expect(heard.length).to.equal(Math.floor(caller.now() * 8));

    const file = join(tmpdir(), `twilio-caller-test-${process.pid}.wav`);
    await caller.saveHeardWav(file);
    const wav = await readPcmWav(file);
    await rm(file, { force: true });
    expect(wav.sampleRate).to.equal(8000);
    expect(wav.channels).to.equal(1);
    expect(Array.from(wav.samples)).to.deep.equal(Array.from(decodeMulaw(heard)));
  });

  it('records outbound frames that break Twilio’s schema and plays none of them', async function () {
    const peer = await dial({ speed: 10 });
    await peer.waitFor((m) => m.event === 'start');
    const sid = caller.streamSid;
    const frame = tone(160).toString('base64');
    peer.send(Buffer.from('binary'));
    peer.send({ event: 'media', streamSid: sid, media: { track: 'outbound', payload: frame } });
    peer.send({ event: 'media', streamSid: 'MZ' + '0'.repeat(32), media: { payload: frame } });
    peer.send({ event: 'media', streamSid: sid, media: { payload: tone(100).toString('base64') } });
    peer.send('{"event":');
    peer.send({ event: 'dance', streamSid: sid });
    peer.send({ event: 'media', streamSid: sid, media: { payload: 'abc!' } });
    peer.send({ event: 'clear', streamSid: sid, now: true });
    peer.sendMark(sid, 'sync'); // frames arrive in order: once this echoes, all were handled
    await caller.waitFor(kind('mark-echoed', 'sync'));

    const expected = [
      /^binary frame/,
      /^extra field media\.track/,
      /^wrong streamSid "MZ0+"/,
      /^media\.payload is 100 bytes/,
      /^invalid JSON/,
      /^unknown event "dance"/,
      /^media\.payload is not base64/,
      /^extra field now/,
    ];
    expect(caller.invalidFrames).to.have.length(expected.length);
    caller.invalidFrames.forEach((reason, i) => expect(reason).to.match(expected[i]!));
    expect(caller.events.filter(kind('invalid'))).to.have.length(expected.length);
    expect(caller.receivedAudio()).to.have.length(0);
    expect(caller.clears).to.equal(0);
  });

  it('sends dtmf and stop in Twilio’s shape, then waits for the gateway to close', async function () {
    const peer = await dial();
    peer.ws.on('message', (data) => {
      if ((JSON.parse(data.toString()) as Frame).event === 'stop') peer.ws.close(1000, 'bye');
    });
    expect(() => caller.sendDtmf('x')).to.throw(/DTMF/);
    caller.sendDtmf('5');
    await caller.stop();

    expect(await caller.waitForClose()).to.deep.equal({ code: 1000, reason: 'bye' });
    const sid = caller.streamSid;
    expect(peer.frames.slice(2).map((f) => f.msg)).to.deep.equal([
      { event: 'dtmf', sequenceNumber: '2', streamSid: sid, dtmf: { track: 'inbound_track', digit: '5' } },
      { event: 'stop', sequenceNumber: '3', streamSid: sid, stop: { accountSid: caller.accountSid, callSid: caller.callSid } },
    ]);
    expect(caller.events.map((e) => e.kind)).to.deep.equal(['connected', 'sent-dtmf', 'sent-stop', 'closed']);
  });

  it('closes the socket itself when the gateway ignores stop', async function () {
    const peer = await dial();
    const t0 = performance.now();
    await caller.stop(100);

    expect(performance.now() - t0).to.be.within(95, 1000);
    expect(caller.events.some((e) => e.kind === 'error' && /did not close/.test(e.detail ?? ''))).to.equal(true);
    expect(await peer.closed).to.equal(1006);
  });

  it('hangUp drops the line with no stop', async function () {
    const peer = await dial();
    caller.hangUp();

    expect(await peer.closed).to.equal(1006);
    expect(peer.frames.some((f) => f.msg.event === 'stop')).to.equal(false);
    expect((await caller.waitForClose()).code).to.equal(1006);
  });

  it('rejects connect with the HTTP status when the upgrade is refused', async function () {
    gateway = await startGateway({ verifyClient: (_info, done) => done(false, 403, 'Forbidden') });
    caller = new FakeTwilioCaller({ url: gateway.url });
    let error: Error | undefined;
    await caller.connect().catch((err: Error) => (error = err));
    expect(error?.message).to.match(/403/);
  });
});
