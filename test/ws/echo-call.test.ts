// Whole calls over real sockets: a fake Twilio caller streams the speech fixtures through the
// gateway with the echo agent, and we check what the caller hears and what the WAV holds.
import { expect } from 'chai';
import WebSocket from 'ws';
import { FakeTwilioCaller, randomSid } from '../../tools/twilio-caller.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { inboundStream } from '../helpers/twilio-stream.js';
import { readMulawWav, readPcmWav } from '../../src/audio/wav-io.js';
import { decodeMulaw } from '../../src/audio/mulaw.js';
import { FRAME_BYTES, MULAW_SILENCE } from '../../src/twilio/protocol.js';

const SPEED = 8;
const speech1 = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const speech2 = await readMulawWav('fixtures/speech/caller-2-8k-mulaw.wav');
const BYTES_PER_MS = 8;

/** Index of `needle` in `haystack`, or -1: the echo agent returns the caller's own bytes. */
const find = (haystack: Buffer, needle: Buffer) => haystack.indexOf(needle);
const middle = (audio: Buffer, bytes = 1600) => audio.subarray(Math.floor(audio.length / 2), Math.floor(audio.length / 2) + bytes);
const isSilent = (audio: Buffer) => audio.every((b) => b === MULAW_SILENCE);

function stereo(samples: Int16Array, channel: 0 | 1): Int16Array {
  const out = new Int16Array(samples.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = samples[i * 2 + channel]!;
  return out;
}

const samplesOf = (a: Int16Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const sameSamples = (a: Int16Array, b: Int16Array) => a.length === b.length && a.every((v, i) => v === b[i]);

describe('media stream with the echo agent', function () {
  this.timeout(30_000);
  let t: TestGateway;
  let caller: FakeTwilioCaller | undefined;

  beforeEach(async () => (t = await startTestGateway()));
  afterEach(async () => {
    caller?.close();
    caller = undefined;
    await t.close();
  });

  const newCaller = (extra: Partial<ConstructorParameters<typeof FakeTwilioCaller>[0]> = {}) =>
    (caller = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED, customParameters: { taskId: 'task_1', from: '+15550001111' }, ...extra }));

  it('plays the caller their own words back after they stop speaking, then marks the utterance', async () => {
    const c = newCaller();
    await c.connect();
    await c.streamSilence(300);
    await c.streamAudio(speech1);
    await c.streamSilence(800);
    await c.waitFor((e) => e.kind === 'mark-echoed', 8000);
    await c.streamSilence(200);

    expect(find(c.receivedAudio(), middle(speech1))).to.be.greaterThan(-1);
    expect(find(c.heardAudio(), middle(speech1))).to.be.greaterThan(-1);
    expect(c.marksEchoed).to.have.length(1);
    expect(c.invalidFrames).to.deep.equal([]);

    await c.stop();
    const summary = await t.nextEnded();
    expect(summary.reason).to.equal('twilio_stop');
    expect(summary.taskId).to.equal('task_1');
    expect(summary.stats.playback.marksSent).to.equal(1);
  });

  it('writes a stereo WAV with the caller on the left at their timestamps and the echo on the right after it', async () => {
    const c = newCaller();
    await c.connect();
    await c.streamSilence(200);
    await c.streamAudio(speech1);
    await c.streamSilence(800);
    await c.waitFor((e) => e.kind === 'mark-echoed', 8000);
    await c.streamSilence(200);
    await c.stop();
    const summary = await t.nextEnded();
    const wav = await readPcmWav(summary.recording!.path);
    expect(wav.sampleRate).to.equal(8000);
    expect(wav.channels).to.equal(2);
    const left = stereo(wav.samples, 0);
    const right = stereo(wav.samples, 1);

    // Left: the caller's speech, whole and frame-aligned where its timestamps put it: 200 ms in,
    // or a frame or two later when a loaded machine made the fake caller resume late.
    const speechPcm = decodeMulaw(speech1);
    const speechAt = samplesOf(left).indexOf(samplesOf(speechPcm.subarray(0, 800))) / 2;
    expect(speechAt).to.be.at.least(1600);
    expect(speechAt % FRAME_BYTES).to.equal(0);
    expect(sameSamples(left.subarray(speechAt, speechAt + speechPcm.length), speechPcm)).to.equal(true);
    // Right: nothing while the caller speaks; the echo of their words after they stopped.
    const speechEnd = speechAt + speechPcm.length;
    expect(right.subarray(0, speechEnd).every((v) => v === 0)).to.equal(true);
    const probe = decodeMulaw(middle(speech1, 800));
    const at = samplesOf(right).indexOf(samplesOf(probe)) / 2;
    expect(at).to.be.greaterThan(speechEnd);
    // The whole call is there: about 200 + speech + 1000 ms + the echo's tail.
    expect(summary.recording!.durationMs).to.be.greaterThan(200 + speech1.length / BYTES_PER_MS + 800);
    // It went to disk in blocks, each a timed telemetry event.
    const saves = t.telemetry.recent({ component: 'recorder', action: 'save_audio_chunk' });
    expect(saves.length).to.be.at.least(3);
    expect(saves.reduce((sum, e) => sum + (e.bytes as number), 0)).to.be.at.most(summary.recording!.bytes);
  });

  it('on barge-in sends clear, drops the interrupted echo and answers the new utterance', async () => {
    const c = newCaller();
    await c.connect();
    await c.streamAudio(speech1);
    await c.streamSilence(700);
    await c.waitFor((e) => e.kind === 'media', 8000);
    await c.streamSilence(400); // the caller hears part of the first echo...
    const receivedBeforeBargeIn = c.receivedAudio().length;
    await c.streamAudio(speech2); // ...and talks over it
    await c.waitFor((e) => e.kind === 'clear', 8000);
    await c.streamSilence(800);
    await c.waitFor((e) => e.kind === 'mark-echoed' && c.marksEchoed.length >= 2, 10_000);
    await c.streamSilence(200);

    expect(c.clears).to.equal(1);
    const clearAt = c.events.find((e) => e.kind === 'clear')!.at;
    const afterClear = c.receivedAudio().subarray(receivedBeforeBargeIn);
    // Nothing of the first echo arrives after the clear; the second echo does.
    expect(find(afterClear, middle(speech1, 800))).to.equal(-1);
    expect(find(afterClear, middle(speech2))).to.be.greaterThan(-1);
    // The caller heard only the start of the first echo.
    const heard = c.heardAudio();
    expect(find(heard, speech1.subarray(speech1.length - 1600))).to.equal(-1);
    expect(clearAt).to.be.greaterThan(0);

    await c.stop();
    const summary = await t.nextEnded();
    expect(summary.stats.playback.clears).to.equal(1);
    // Twilio echoes the interrupted utterance's mark at once on clear; it must count as stale.
    expect(summary.stats.playback.staleMarks).to.equal(1);
  });

  it('cuts the agent channel of the WAV at the clear', async () => {
    const c = newCaller();
    await c.connect();
    await c.streamAudio(speech1);
    await c.streamSilence(700);
    await c.waitFor((e) => e.kind === 'media', 8000);
    await c.streamSilence(600);
    await c.streamAudio(speech2);
    await c.waitFor((e) => e.kind === 'clear', 8000);
    await c.stop();
    const summary = await t.nextEnded();
    const right = stereo((await readPcmWav(summary.recording!.path)).samples, 1);
    let lastSound = right.length - 1;
    while (lastSound > 0 && right[lastSound] === 0) lastSound--;
    const echoedSamples = lastSound - right.findIndex((v) => v !== 0);
    // Only part of the first echo was played before the caller interrupted it.
    expect(echoedSamples).to.be.greaterThan(0);
    expect(echoedSamples).to.be.lessThan(speech1.length * 0.6);
  });

  it('skips bad frames, counts them, and the call goes on', async () => {
    const c = newCaller();
    await c.connect();
    const sid = c.streamSid;
    const bad = [
      Buffer.from([1, 2, 3]), // binary
      '{"event":"media",', // invalid JSON
      JSON.stringify({ event: 'teleport', streamSid: sid }),
      JSON.stringify({ event: 'media', sequenceNumber: '3', streamSid: sid, media: { chunk: '1', timestamp: '0' } }),
      JSON.stringify({ event: 'media', sequenceNumber: '3', streamSid: sid, media: { chunk: '1', timestamp: '0', payload: '@@@@' } }),
      JSON.stringify({ event: 'media', sequenceNumber: '3', streamSid: 'MZother', media: { chunk: '1', timestamp: '0', payload: 'AAAA' } }),
      // Over the 64 KiB frame limit but under the socket's maxPayload: skipped, the socket stays.
      JSON.stringify({ event: 'media', sequenceNumber: '3', streamSid: sid, media: { chunk: '1', timestamp: '0', payload: 'A'.repeat(66_000) } }),
    ];
    for (const frame of bad) c.sendRaw(frame);
    await c.streamAudio(speech1);
    await c.streamSilence(800);
    await c.waitFor((e) => e.kind === 'mark-echoed', 8000);
    expect(find(c.receivedAudio(), middle(speech1))).to.be.greaterThan(-1);
    await c.stop();
    const summary = await t.nextEnded();
    expect(summary.reason).to.equal('twilio_stop');
    expect(summary.stats.badFrames).to.deep.equal({
      binary_frame: 1,
      invalid_json: 1,
      unknown_event: 1,
      missing_field: 1,
      bad_base64: 1,
      wrong_stream_sid: 1,
      frame_too_large: 1,
    });
  });

  it('skips media before start, and closes a stream that never starts', async () => {
    await t.close();
    t = await startTestGateway({ STREAM_START_TIMEOUT_S: '0.3' });
    const ws = new WebSocket(t.wsUrl);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ event: 'media', sequenceNumber: '1', streamSid: 'MZ1', media: { chunk: '1', timestamp: '0', payload: 'AAAA' } }));
    const code = await new Promise<number>((resolve) => ws.once('close', resolve));
    expect(code).to.equal(1008);
    const summary = await t.nextEnded();
    expect(summary.reason).to.equal('start_timeout');
    expect(summary.stats.badFrames).to.deep.equal({ media_before_start: 1 });
  });

  it('pads missing caller frames with silence for the agent', async () => {
    const c = newCaller();
    await c.connect();
    await c.streamSilence(100);
    // Jump the caller's timestamps forward by 200 ms, as if Twilio lost ten frames. Relative to
    // where the stream is: on a loaded machine the first silence frame may start after 0.
    c.sendFrameAt(c.streamEndMs + 200);
    c.hangUp();
    const summary = await t.nextEnded();
    expect(summary.reason).to.equal('socket_closed');
    expect(summary.stats.framesPadded).to.equal(10);
  });

  it('surfaces DTMF to the call hooks', async () => {
    const digits: string[] = [];
    await t.close();
    t = await startTestGateway({}, { hooks: { dtmf: (_call, digit) => digits.push(digit) } });
    const c = newCaller();
    await c.connect();
    c.sendDtmf('5');
    c.sendDtmf('#');
    await c.streamSilence(100);
    await c.stop();
    await t.nextEnded();
    expect(digits).to.deep.equal(['5', '#']);
  });

  it('reports turn latency from the end of speech to the first echoed frame', async () => {
    const c = newCaller();
    await c.connect();
    await c.streamAudio(speech1);
    await c.streamSilence(900);
    await c.waitFor((e) => e.kind === 'media', 8000);
    await c.stop();
    await t.nextEnded();
    const rows = t.telemetry.summary().filter((r) => r.component === 'agent' && r.action === 'turn_latency');
    expect(rows).to.have.length(1);
    // The echo agent answers once the VAD's silence window (600 ms) has passed. The upper bound
    // leaves room for a loaded machine (the clock runs on wall time between frames) and is still
    // well under the speech's own length, which a latency measured from its start would show.
    expect(rows[0]!.p50_ms).to.be.within(500, 2000);
  });

  it('ends the call when the caller hangs up without stop, with the recording finalized', async () => {
    const c = newCaller();
    await c.connect();
    await c.streamAudio(speech1.subarray(0, 8000));
    c.hangUp();
    const summary = await t.nextEnded();
    expect(summary.reason).to.equal('socket_closed');
    expect(summary.recording!.path).to.match(/\.wav$/);
    expect(summary.recording!.durationMs).to.be.at.least(900);
    expect(t.gateway.calls.size).to.equal(0);
  });

  it('is silent before the caller speaks', async () => {
    const c = newCaller();
    await c.connect();
    await c.streamSilence(1000);
    expect(c.receivedAudio().length).to.equal(0);
    expect(isSilent(c.heardAudio())).to.equal(true);
    await c.stop();
  });
});

describe('media stream upgrade checks', function () {
  this.timeout(15_000);
  const TOKEN = 'ws-token';
  const PUBLIC = 'https://gw.example.com';

  it('refuses an unsigned upgrade with 403 and accepts a signed one', async () => {
    const t = await startTestGateway({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: PUBLIC });
    try {
      const unsigned = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED });
      const err = await unsigned.connect().then(() => undefined, (e: Error) => e);
      expect(err?.message).to.contain('403');
      unsigned.close();
      const callSid = randomSid('CA');
      const stream = await inboundStream(t, TOKEN, callSid);
      const signed = new FakeTwilioCaller({ url: stream.url, speed: SPEED, headers: stream.headers, callSid });
      await signed.connect();
      await signed.streamSilence(100);
      await signed.stop();
      expect((await t.nextEnded()).reason).to.equal('twilio_stop');
    } finally {
      await t.close();
    }
  });

  it('refuses upgrades on other paths with 404', async () => {
    const t = await startTestGateway();
    try {
      const ws = new WebSocket(t.wsUrl.replace('/twilio/media-stream', '/elsewhere'));
      const status = await new Promise<number | undefined>((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
        ws.once('open', () => resolve(undefined));
        ws.once('error', () => resolve(undefined));
      });
      expect(status).to.equal(404);
    } finally {
      await t.close();
    }
  });

  it('drains: refuses new streams with 503, lets the active call go on, then ends it with its recording', async () => {
    const t = await startTestGateway();
    try {
      const active = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED });
      await active.connect();
      await active.streamSilence(200);
      const draining = t.gateway.drain(600);
      const late = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED });
      const err = await late.connect().then(() => undefined, (e: Error) => e);
      expect(err?.message).to.contain('503');
      late.close();
      await active.streamSilence(200);
      expect(t.gateway.calls.size).to.equal(1);
      const { endedEarly } = await draining;
      expect(endedEarly).to.equal(1);
      const summary = await t.nextEnded();
      expect(summary.reason).to.equal('shutdown');
      expect(summary.recording!.durationMs).to.be.at.least(300);
      active.close();
    } finally {
      await t.close();
    }
  });
});

describe('call listeners', function () {
  this.timeout(15_000);

  it('a listener that throws never breaks the call', async () => {
    const t = await startTestGateway({}, {
      hooks: {
        started: () => {
          throw new Error('listener down');
        },
        dtmf: () => {
          throw new Error('listener down');
        },
      },
    });
    try {
      const c = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED });
      await c.connect();
      c.sendDtmf('1');
      await c.streamAudio(speech1);
      await c.streamSilence(800);
      await c.waitFor((e) => e.kind === 'mark-echoed', 8000);
      await c.stop();
      expect((await t.nextEnded()).reason).to.equal('twilio_stop');
    } finally {
      await t.close();
    }
  });
});
