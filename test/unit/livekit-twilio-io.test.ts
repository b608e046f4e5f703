// The Twilio IO of a LiveKit AgentSession against the call's real Playback (on a test clock):
// what reaches the wire for the framework's irregular PCM frames, and the segment handshake the
// framework relies on (mark, clear, one playback-finished per segment, the heard text).
import { voice } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import { expect } from 'chai';
import type { AgentSink } from '../../src/agents/bridge.js';
import { TwilioAudioInput, TwilioAudioOutput, TwilioTranscriptOutput } from '../../src/agents/livekit/twilio-io.js';
import { decodeMulaw, encodeMulawSample } from '../../src/audio/mulaw.js';
import { Playback } from '../../src/call/playback.js';
import { FRAME_BYTES, MULAW_SILENCE, outboundFrames } from '../../src/twilio/protocol.js';
import { quietLivekitLogger } from '../integration/lib/livekit-plugins.js';

interface Sent {
  event: 'media' | 'mark' | 'clear';
  media?: { payload: string };
  mark?: { name: string };
}

const SAMPLE = 1000;

/** A framework frame: `samples` of one value at 8 kHz. */
function pcm(samples: number, value = SAMPLE): AudioFrame {
  return new AudioFrame(new Int16Array(samples).fill(value), 8000, 1, samples);
}

/**
 * An output wired to a real Playback the way a call wires its agent, with a clock the test moves.
 * `deferred`: every call between them arrives a turn of the event loop later, in order, as it
 * would from a bridge in another thread.
 */
function harness({ deferred = false } = {}) {
  const run = deferred ? (fn: () => void) => void setImmediate(fn) : (fn: () => void) => fn();
  let now = 0;
  const wire: Sent[] = [];
  const sinkCalls: string[] = [];
  const chunkSizes: number[] = [];
  const finished: voice.PlaybackFinishedEvent[] = [];
  const transcript = new TwilioTranscriptOutput();
  let output: TwilioAudioOutput | undefined;
  const playback = new Playback(outboundFrames('MZio'), (text) => wire.push(JSON.parse(text) as Sent), () => now, {
    scheduled: () => {},
    cut: () => {},
    utteranceStarted: () => {},
    played: (played) => run(() => output!.utterancePlayed(played)),
  });
  const sink: AgentSink = {
    audio: (chunk) => {
      chunkSizes.push(chunk.length);
      run(() => playback.push(chunk));
    },
    turnStarted: () => (sinkCalls.push('turnStarted'), run(() => playback.beginTurn())),
    utteranceDone: () => (sinkCalls.push('utteranceDone'), run(() => playback.endUtterance())),
    bargeIn: () => (sinkCalls.push('bargeIn'), run(() => playback.interrupt())),
    transcript: () => {},
    latency: () => {},
    action: () => {},
    error: () => {},
  };
  output = new TwilioAudioOutput(sink, transcript);
  output.on(voice.AudioOutput.EVENT_PLAYBACK_FINISHED, (ev: voice.PlaybackFinishedEvent) => finished.push(ev));
  return {
    output,
    transcript,
    playback,
    wire,
    sinkCalls,
    chunkSizes,
    finished,
    setNow: (ms: number) => (now = ms),
    media: () => Buffer.concat(wire.filter((m) => m.event === 'media').map((m) => Buffer.from(m.media!.payload, 'base64'))),
    marks: () => wire.filter((m) => m.event === 'mark').map((m) => m.mark!.name),
    clears: () => wire.filter((m) => m.event === 'clear').length,
    /** Captures frames of these sizes as one segment, and flushes it unless told not to. */
    async segment(sizes: number[], flush = true) {
      for (const n of sizes) await output!.captureFrame(pcm(n));
      if (flush) output!.flush();
    },
  };
}

/** Lets deferred calls (and the calls they make in turn) arrive. */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('LiveKit Twilio IO', () => {
  before(quietLivekitLogger);

  describe('TwilioAudioOutput', () => {
    it('re-chunks irregular PCM frames into whole 20 ms mu-law frames, pads the last with silence and marks the segment', async () => {
      const h = harness();
      await h.segment([322, 1051, 122, 500]); // 1995 samples: 12 whole frames and 75 samples
      expect(h.chunkSizes.every((n) => n > 0 && n % FRAME_BYTES === 0)).to.equal(true, `chunks ${h.chunkSizes.join(',')}`);
      const media = h.media();
      expect(media.length).to.equal(13 * FRAME_BYTES);
      const voiced = encodeMulawSample(SAMPLE);
      expect(media.subarray(0, 1995).every((b) => b === voiced)).to.equal(true, 'the samples, mu-law encoded');
      expect(media.subarray(1995).every((b) => b === MULAW_SILENCE)).to.equal(true, 'the last frame padded with silence');
      expect(h.marks()).to.have.length(1);
      expect(h.sinkCalls).to.deep.equal(['utteranceDone']);
      expect(h.finished).to.have.length(0, 'not finished before the mark echoes');
    });

    it('finishes a segment once, not interrupted, at its full length, when its mark echoes; a second segment gets its own mark', async () => {
      const h = harness();
      await h.segment([800, 800]); // 200 ms
      h.playback.onMark(h.marks()[0]!);
      expect(h.finished).to.deep.equal([{ playbackPosition: 0.2, interrupted: false, synchronizedTranscript: undefined }]);
      await h.output.waitForPlayout();
      await h.segment([160]);
      expect(h.marks()).to.have.length(2);
      h.playback.onMark(h.marks()[1]!);
      h.playback.onMark(h.marks()[1]!); // a repeated echo is stale
      expect(h.finished.map((f) => f.playbackPosition)).to.deep.equal([0.2, 0.02]);
    });

    it('on a clear while the reply plays: sends clear, finishes the segment once as interrupted at the position heard, ignores the late mark', async () => {
      const h = harness();
      h.transcript.captureText('one two three four five six seven eight nine ten');
      h.transcript.flush();
      await h.segment([5000, 5000, 6000]); // 2 s
      h.setNow(1000);
      h.output.clearBuffer();
      expect(h.clears()).to.equal(1);
      expect(h.finished).to.deep.equal([{ playbackPosition: 1, interrupted: true, synchronizedTranscript: 'one two three four five' }]);
      h.output.clearBuffer(); // the framework clears twice on an interruption
      h.playback.onMark(h.marks()[0]!);
      expect(h.clears()).to.equal(1);
      expect(h.finished).to.have.length(1);
      expect(h.playback.stats.staleMarks).to.equal(1);
    });

    it('after a clear, starts a new turn with the next segment so the call plays it', async () => {
      const h = harness();
      await h.segment([1600]);
      h.setNow(100);
      h.output.clearBuffer();
      const before = h.media().length;
      await h.segment([1600]);
      expect(h.sinkCalls).to.deep.equal(['utteranceDone', 'bargeIn', 'turnStarted', 'utteranceDone']);
      expect(h.media().length - before).to.equal(1600);
      expect(h.playback.stats.droppedBytes).to.equal(0);
      h.playback.onMark(h.marks()[1]!);
      expect(h.finished.map((f) => [f.playbackPosition, f.interrupted])).to.deep.equal([
        [0.1, true],
        [0.2, false],
      ]);
    });

    it('on a clear while a segment is still open: finishes it once at the position heard; its flush afterwards adds nothing', async () => {
      const h = harness();
      await h.segment([4000], false); // 500 ms sent, TTS still going
      h.setNow(300);
      h.output.clearBuffer();
      h.output.flush();
      expect(h.clears()).to.equal(1);
      expect(h.marks()).to.have.length(0);
      expect(h.finished.map((f) => [f.playbackPosition, f.interrupted])).to.deep.equal([[0.3, true]]);
      await h.output.waitForPlayout();
    });

    it('ignores a report when none of its segments is playing (a late or foreign report)', async () => {
      const h = harness();
      await h.segment([1600]);
      h.playback.onMark(h.marks()[0]!);
      h.output.utterancePlayed({ utteranceId: 1, playedMs: 200, totalMs: 200, interrupted: false });
      expect(h.finished).to.have.length(1);
    });

    it('matches reports that come back later to their segments, as from a bridge in another thread', async () => {
      const h = harness({ deferred: true });
      await h.segment([1600]);
      await settle();
      h.playback.onMark(h.marks()[0]!); // played in full; the report is on its way
      h.output.clearBuffer(); // the framework interrupts before it is back
      await settle();
      expect(h.clears()).to.equal(0, 'nothing was left playing');
      expect(h.finished.map((f) => [f.playbackPosition, f.interrupted])).to.deep.equal([[0.2, false]]);
      await h.segment([800]);
      await settle();
      expect(h.playback.stats.droppedBytes).to.equal(0, 'the next segment plays');
      h.playback.onMark(h.marks()[1]!);
      await settle();
      expect(h.finished.map((f) => [f.playbackPosition, f.interrupted])).to.deep.equal([
        [0.2, false],
        [0.1, false],
      ]);
    });

    it('finishes at once, at 0, a segment cleared before any of its audio reached the call', async () => {
      const h = harness();
      await h.segment([100], false); // less than a frame
      h.output.clearBuffer();
      expect(h.finished).to.deep.equal([{ playbackPosition: 0, interrupted: true, synchronizedTranscript: undefined }]);
      expect(h.sinkCalls).to.deep.equal([], 'nothing was playing: no barge-in, no clear');
      expect(h.clears()).to.equal(0);
      h.output.flush(); // the framework's flush after the clear ends nothing more
      expect(h.finished).to.have.length(1);
      await h.output.waitForPlayout();
    });

    it('cuts a reply interrupted mid-synthesis by the length of its words, not by the audio it had sent', async () => {
      const h = harness();
      const words = Array.from({ length: 20 }, (_, i) => `w${i + 1}`);
      h.transcript.captureText(words.join(' '));
      await h.segment([8000], false); // 1 s sent of about 7.4 s of words
      h.setNow(500);
      h.output.flush(); // the framework's abort: flush, then clear, in one go
      h.output.clearBuffer();
      expect(h.finished).to.have.length(1);
      expect(h.finished[0]!.interrupted).to.equal(true);
      expect(h.finished[0]!.playbackPosition).to.equal(0.5);
      expect(h.finished[0]!.synchronizedTranscript).to.equal('w1');
    });

    it('cuts by the TTS word timings when it gives them', async () => {
      const h = harness();
      const timed = [
        ['Hello', 0, 0.4],
        [' there,', 0.4, 0.9],
        [' how', 1.0, 1.3],
        [' are you?', 1.3, 1.9],
      ] as const;
      for (const [text, startTime, endTime] of timed) await h.transcript.captureText(voice.createTimedString({ text, startTime, endTime }));
      h.transcript.flush();
      await h.segment([16000]);
      h.setNow(1100);
      h.output.clearBuffer();
      expect(h.finished[0]!.synchronizedTranscript).to.equal('Hello there,');
    });

    it('gives each segment its own text, in full when it played in full', async () => {
      const h = harness();
      await h.transcript.captureText('First part.');
      h.transcript.flush();
      await h.segment([1600]);
      h.playback.onMark(h.marks()[0]!);
      await h.transcript.captureText('Second part.');
      h.transcript.flush();
      await h.segment([1600]);
      h.playback.onMark(h.marks()[1]!);
      expect(h.finished.map((f) => f.synchronizedTranscript)).to.deep.equal(['First part.', 'Second part.']);
    });

    it('on close, finishes every segment still waiting, so no wait for playout hangs', async () => {
      const h = harness();
      await h.segment([1600]);
      await h.segment([800], false);
      const playout = h.output.waitForPlayout();
      h.output.close();
      await playout;
      expect(h.finished.map((f) => [f.playbackPosition, f.interrupted])).to.deep.equal([
        [0.2, true],
        [0.1, true],
      ]);
      await h.segment([1600]); // the framework may still be forwarding: nothing more reaches the call
      expect(h.media().length).to.equal(1600 + 800);
      expect(h.finished).to.have.length(3);
    });
  });

  describe('TwilioAudioInput', () => {
    it('gathers five mu-law frames into one 100 ms PCM16 frame of its own: the framework works per frame, a fifth as often', async () => {
      const input = new TwilioAudioInput();
      const frame = Buffer.alloc(FRAME_BYTES);
      const sent: Buffer[] = [];
      for (let i = 0; i < 11; i++) {
        for (let j = 0; j < FRAME_BYTES; j++) frame[j] = (i * 37 + j) & 0xff;
        sent.push(Buffer.from(frame));
        input.pushMulaw(frame); // the same buffer each time, as a call reuses it
      }
      const reader = input.stream.getReader();
      for (const batch of [sent.slice(0, 5), sent.slice(5, 10)]) {
        const { value } = await reader.read();
        expect([value!.sampleRate, value!.channels, value!.samplesPerChannel]).to.deep.equal([8000, 1, 800]);
        expect(value!.data.buffer.byteLength).to.equal(1600, 'its own buffer, of its own length');
        expect(Array.from(value!.data)).to.deep.equal(Array.from(decodeMulaw(Buffer.concat(batch))));
      }
      // The eleventh frame waits for the four after it.
      const next = reader.read();
      expect(await Promise.race([next.then(() => 'read'), new Promise((resolve) => setImmediate(() => resolve('waiting')))])).to.equal('waiting');
      reader.releaseLock();
      await input.close();
    });

    it('sends a frame that would overflow the one being filled after it, in a frame of its own length', async () => {
      const input = new TwilioAudioInput();
      for (let i = 0; i < 4; i++) input.pushMulaw(Buffer.alloc(FRAME_BYTES, 0xff));
      input.pushMulaw(Buffer.alloc(2 * FRAME_BYTES, 0x7f)); // does not fit the 160 samples left
      const reader = input.stream.getReader();
      const { value } = await reader.read();
      expect(value!.samplesPerChannel).to.equal(4 * FRAME_BYTES);
      expect(value!.data.buffer.byteLength).to.equal(4 * FRAME_BYTES * 2);
      reader.releaseLock();
      await input.close();
    });

    it('queues nothing while the session has its audio input turned off', async () => {
      const input = new TwilioAudioInput({ maxQueuedMs: 200 });
      input.pushMulaw(Buffer.alloc(FRAME_BYTES, 0xff)); // a frame being filled when the input is turned off is dropped
      input.setAttached(false); // what session.input.setAudioEnabled(false) does
      for (let i = 0; i < 25; i++) input.pushMulaw(Buffer.alloc(FRAME_BYTES, 0xff));
      input.setAttached(true);
      for (let i = 0; i < 5; i++) input.pushMulaw(Buffer.alloc(FRAME_BYTES, 0x7f));
      const reader = input.stream.getReader();
      const { value } = await reader.read();
      expect(value!.data[0]).to.equal(decodeMulaw(Buffer.from([0x7f]))[0]);
      expect(input.droppedFrames).to.equal(0);
      reader.releaseLock();
      await input.close();
    });

    it('drops and counts frames beyond its queue when the pipeline does not read them', async () => {
      const input = new TwilioAudioInput({ maxQueuedMs: 200 });
      for (let i = 0; i < 50; i++) input.pushMulaw(Buffer.alloc(FRAME_BYTES, 0xff));
      // Two 100 ms frames queued; the framework's stream takes one or two more off the queue before
      // it waits for a reader; every Twilio frame after that is counted.
      expect(input.droppedFrames).to.be.within(30, 40);
      await input.close();
    });
  });
});
