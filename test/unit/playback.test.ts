import { expect } from 'chai';
import { Playback, type PlaybackObserver } from '../../src/call/playback.js';
import { FRAME_BYTES, MULAW_SILENCE, outboundFrames } from '../../src/twilio/protocol.js';
import type { UtterancePlayed } from '../../src/agents/bridge.js';

const SID = 'MZplayback';

interface Sent {
  event: string;
  media?: { payload: string };
  mark?: { name: string };
}

function harness() {
  const sent: Sent[] = [];
  let now = 0;
  const scheduled: { bytes: number; atMs: number }[] = [];
  const cuts: number[] = [];
  const started: number[] = [];
  const played: UtterancePlayed[] = [];
  const observer: PlaybackObserver = {
    scheduled: (audio, atMs) => scheduled.push({ bytes: audio.length, atMs }),
    cut: (atMs) => cuts.push(atMs),
    utteranceStarted: (_id, sentAtMs) => started.push(sentAtMs),
    played: (p) => played.push(p),
  };
  const playback = new Playback(outboundFrames(SID), (text) => sent.push(JSON.parse(text) as Sent), () => now, observer, {
    maxFramesPerMessage: 4,
  });
  return {
    playback,
    sent,
    scheduled,
    cuts,
    started,
    played,
    setNow: (ms: number) => (now = ms),
    media: () => sent.filter((m) => m.event === 'media').map((m) => Buffer.from(m.media!.payload, 'base64')),
    marks: () => sent.filter((m) => m.event === 'mark').map((m) => m.mark!.name),
  };
}

const audio = (bytes: number, fill = 0x10) => Buffer.alloc(bytes, fill);

describe('call/Playback', () => {
  it('re-chunks odd-sized agent audio into whole 20 ms frames, at most maxFramesPerMessage per message', () => {
    const h = harness();
    h.playback.push(audio(100));
    expect(h.media()).to.have.length(0);
    h.playback.push(audio(1000));
    const sizes = h.media().map((b) => b.length);
    expect(sizes.every((n) => n % FRAME_BYTES === 0 && n <= 4 * FRAME_BYTES)).to.equal(true);
    expect(sizes.reduce((a, b) => a + b, 0)).to.equal(960);
  });

  it('pads the last frame of an utterance with mu-law silence and marks it', () => {
    const h = harness();
    h.playback.push(audio(200, 0x22));
    h.playback.endUtterance();
    const frames = h.media();
    const all = Buffer.concat(frames);
    expect(all.length).to.equal(2 * FRAME_BYTES);
    expect(all.subarray(0, 200).every((b) => b === 0x22)).to.equal(true);
    expect(all.subarray(200).every((b) => b === MULAW_SILENCE)).to.equal(true);
    expect(h.sent.at(-1)!.event).to.equal('mark');
    expect(h.marks()).to.have.length(1);
  });

  it('reports an utterance as played in full when Twilio echoes its mark', () => {
    const h = harness();
    h.playback.push(audio(FRAME_BYTES * 10));
    h.playback.endUtterance();
    h.playback.onMark(h.marks()[0]!);
    expect(h.played).to.deep.equal([{ utteranceId: 1, playedMs: 200, totalMs: 200, interrupted: false }]);
  });

  it('schedules agent audio back to back on the call clock, as Twilio plays its buffer', () => {
    const h = harness();
    h.setNow(1000);
    h.playback.push(audio(FRAME_BYTES * 4));
    h.playback.push(audio(FRAME_BYTES * 4));
    expect(h.scheduled).to.deep.equal([
      { bytes: 640, atMs: 1000 },
      { bytes: 640, atMs: 1080 },
    ]);
    expect(h.started).to.deep.equal([1000]);
  });

  it('on barge-in sends clear, reports the part actually heard, and cuts the recording there', () => {
    const h = harness();
    h.setNow(1000);
    h.playback.push(audio(FRAME_BYTES * 50)); // 1 s of audio playing from 1000 ms
    h.playback.endUtterance();
    h.setNow(1300);
    h.playback.interrupt();
    expect(h.sent.at(-1)).to.deep.equal({ event: 'clear', streamSid: SID });
    expect(h.cuts).to.deep.equal([1300]);
    expect(h.played).to.deep.equal([{ utteranceId: 1, playedMs: 300, totalMs: 1000, interrupted: true }]);
  });

  it('drops late audio of the interrupted turn until the next turn begins', () => {
    const h = harness();
    h.playback.push(audio(FRAME_BYTES * 5));
    h.playback.interrupt();
    const before = h.media().length;
    h.playback.push(audio(FRAME_BYTES * 5));
    h.playback.endUtterance();
    expect(h.media().length).to.equal(before);
    expect(h.marks()).to.have.length(0);
    expect(h.playback.stats.droppedBytes).to.equal(FRAME_BYTES * 5);
    h.playback.beginTurn();
    h.playback.push(audio(FRAME_BYTES * 2));
    expect(h.media().length).to.equal(before + 1);
  });

  it('ignores marks of an interrupted turn that Twilio echoes after the clear', () => {
    const h = harness();
    h.playback.push(audio(FRAME_BYTES * 5));
    h.playback.endUtterance();
    const oldMark = h.marks()[0]!;
    h.playback.interrupt();
    const reported = h.played.length;
    h.playback.onMark(oldMark);
    expect(h.played.length).to.equal(reported);
    expect(h.playback.stats.staleMarks).to.equal(1);
  });

  it('names marks with the generation, so a new turn never matches an old mark', () => {
    const h = harness();
    h.playback.push(audio(FRAME_BYTES));
    h.playback.endUtterance();
    h.playback.interrupt();
    h.playback.beginTurn();
    h.playback.push(audio(FRAME_BYTES));
    h.playback.endUtterance();
    const [first, second] = h.marks();
    expect(first!.split('.')[0]).to.not.equal(second!.split('.')[0]);
  });

  it('sends no clear when nothing is playing', () => {
    const h = harness();
    h.playback.interrupt();
    expect(h.sent).to.have.length(0);
    expect(h.playback.stats.clears).to.equal(0);
  });

  it('counts time the agent fell behind real time as not played', () => {
    const h = harness();
    h.setNow(0);
    h.playback.push(audio(FRAME_BYTES * 5)); // plays 0..100
    h.setNow(500);
    h.playback.push(audio(FRAME_BYTES * 5)); // Twilio's buffer ran dry: plays 500..600
    h.setNow(550);
    h.playback.interrupt();
    expect(h.played[0]).to.include({ playedMs: 150, totalMs: 200, interrupted: true });
  });
});

describe('call/Playback and the mark echo', () => {
  it('is idle once the last mark echoes, even if the call clock lags behind Twilio', () => {
    const h = harness();
    h.setNow(0);
    h.playback.push(audio(FRAME_BYTES * 50)); // 1 s, scheduled until 1000 ms
    h.playback.endUtterance();
    h.setNow(100); // our clock lags (no caller media arrived), but Twilio says it played
    expect(h.playback.isActive).to.equal(true);
    h.playback.onMark(h.marks()[0]!);
    expect(h.playback.isActive).to.equal(false);
  });
});

describe('call/Playback.waitForPlayout', () => {
  /** The wait's result, or 'pending' if it has not settled once queued callbacks have run. */
  async function settled(wait: Promise<string>): Promise<string> {
    return Promise.race([wait, new Promise<string>((resolve) => setImmediate(() => resolve('pending')))]);
  }

  /** A playback with one 200 ms utterance sent and ended, and a wait for the caller to hear it. */
  function waitingForOneUtterance() {
    const h = harness();
    h.playback.push(audio(FRAME_BYTES * 10));
    h.playback.endUtterance();
    return { h, wait: h.playback.waitForPlayout() };
  }

  it('resolves at once when nothing was sent', async () => {
    const h = harness();
    expect(await settled(h.playback.waitForPlayout())).to.equal('heard');
  });

  it('resolves only when the mark of the last utterance is echoed, not when the audio is sent', async () => {
    const h = harness();
    h.playback.push(audio(FRAME_BYTES * 10));
    h.playback.endUtterance();
    h.playback.push(audio(FRAME_BYTES * 10));
    h.playback.endUtterance();
    const wait = h.playback.waitForPlayout();
    h.setNow(10_000); // our clock says it has played: only Twilio's echo counts
    expect(await settled(wait)).to.equal('pending');
    const [first, second] = h.marks();
    h.playback.onMark(first!);
    expect(await settled(wait)).to.equal('pending');
    h.playback.onMark(second!);
    expect(await settled(wait)).to.equal('heard');
  });

  it('waits for an utterance still open to be ended and its mark echoed', async () => {
    const h = harness();
    h.playback.push(audio(FRAME_BYTES * 3));
    const wait = h.playback.waitForPlayout();
    h.playback.push(audio(FRAME_BYTES * 3));
    h.playback.endUtterance();
    expect(await settled(wait)).to.equal('pending');
    h.playback.onMark(h.marks()[0]!);
    expect(await settled(wait)).to.equal('heard');
  });

  it('resolves as cleared when a barge-in discards what was queued', async () => {
    const { h, wait } = waitingForOneUtterance();
    h.playback.interrupt();
    expect(await settled(wait)).to.equal('cleared');
  });

  it('resolves as stopped when the call ends first, and at once after that', async () => {
    const { h, wait } = waitingForOneUtterance();
    h.playback.stop();
    expect(await settled(wait)).to.equal('stopped');
    expect(await settled(h.playback.waitForPlayout())).to.equal('stopped');
  });
});
