// A phone call as the audio IO of a room-less LiveKit `voice.AgentSession`. Caller audio comes in
// as Twilio's 20 ms mu-law frames and goes to the framework as PCM16 frames at 8 kHz. The agent's
// voice comes out of the framework as PCM frames of any size, faster than real time, and goes to
// the call's Playback as whole 20 ms mu-law frames, one Playback utterance per framework segment:
// `flush()` ends the utterance (Playback marks it), `clearBuffer()` is a barge-in (Playback sends
// `clear`), and Playback's report on the utterance (the mark's echo, or what had played at the
// clear) is the segment's playback-finished event, with the position the caller heard and the
// text cut to it. The framework waits for that event after every segment: each gets exactly one.
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import { voice } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import { MULAW_TO_PCM16, encodeMulawSample } from '../../audio/mulaw.js';
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE } from '../../twilio/protocol.js';
import type { AgentSink, UtterancePlayed } from '../bridge.js';
import { SegmentText } from './heard-text.js';

export const PHONE_SAMPLE_RATE = 8000;
/**
 * Caller audio reaches the framework 100 ms at a time: five Twilio frames in one PCM frame.
 * Everything the framework does per frame (its web streams, the tee to the VAD and the STT, the
 * VAD's resampling call, the Deepgram plugin re-chunking to the 100 ms it sends) then runs a fifth
 * as often; per 20 ms, that plumbing was most of a pipeline call's CPU. The cost: the VAD hears the
 * end of speech, and a barge-in, up to 80 ms later (40 ms on average). The STT loses nothing: the
 * Deepgram plugin sends 100 ms chunks anyway, and OpenAI's hears whole utterances.
 */
export const CALLER_FRAME_MS = 100;
/** Caller audio queued for a pipeline that is not reading it, at most: 5 s. Newer audio is dropped. */
const DEFAULT_MAX_QUEUED_MS = 5000;

/** The framework's transcription output type (its class is not exported, only its slot). */
type TextOutput = NonNullable<voice.AgentSession['output']['transcription']>;

/** The caller's side: Twilio frames in, PCM16 frames of CALLER_FRAME_MS out to the framework. */
export class TwilioAudioInput extends voice.AudioInput {
  private controller: ReadableStreamDefaultController<AudioFrame> | undefined;
  /** False while the session has turned its audio input off: the caller's audio is not queued. */
  private attached = true;
  /** Samples per frame handed to the framework. */
  private readonly frameSamples: number;
  /** The frame being filled; its own buffer, as the framework holds frames for the STT and VAD. */
  private pcm: Int16Array | undefined;
  private pcmLen = 0;
  /** Twilio frames dropped because the pipeline fell more than the queue limit behind. */
  droppedFrames = 0;

  constructor({ maxQueuedMs = DEFAULT_MAX_QUEUED_MS, frameMs = CALLER_FRAME_MS } = {}) {
    super();
    this.frameSamples = (PHONE_SAMPLE_RATE * frameMs) / 1000;
    const source = new ReadableStream<AudioFrame>(
      { start: (controller) => void (this.controller = controller) },
      { highWaterMark: Math.max(1, Math.floor(maxQueuedMs / frameMs)) },
    );
    this.multiStream.addInputStream(source);
  }

  /**
   * One caller frame of mu-law (Twilio's 160 bytes). The buffer is only valid during the call:
   * it is decoded into the frame being filled, which goes to the framework once full.
   */
  pushMulaw(frame: Buffer): void {
    const controller = this.controller;
    if (!controller || !this.attached) return;
    if (this.pcm === undefined) {
      // A frame is only started when the queue has room for it: a pipeline this far behind loses the newest audio.
      if ((controller.desiredSize ?? 0) <= 0) {
        this.droppedFrames++;
        return;
      }
      this.pcm = new Int16Array(Math.max(this.frameSamples, frame.length));
    } else if (this.pcmLen + frame.length > this.pcm.length) {
      this.enqueue(controller);
      return this.pushMulaw(frame);
    }
    const pcm = this.pcm;
    let at = this.pcmLen;
    for (let i = 0; i < frame.length; i++) pcm[at++] = MULAW_TO_PCM16[frame[i]!]!;
    this.pcmLen = at;
    if (at >= this.frameSamples) this.enqueue(controller);
  }

  /** The frame being filled to the framework. A short one is copied: plugins send a frame's whole ArrayBuffer. */
  private enqueue(controller: ReadableStreamDefaultController<AudioFrame>): void {
    const pcm = this.pcmLen === this.pcm!.length ? this.pcm! : this.pcm!.slice(0, this.pcmLen);
    controller.enqueue(new AudioFrame(pcm, PHONE_SAMPLE_RATE, 1, this.pcmLen));
    this.pcm = undefined;
    this.pcmLen = 0;
  }

  override setAttached(attached: boolean): void {
    this.attached = attached;
    if (attached) return;
    // Audio from before the input was turned off is not joined to audio from after it.
    this.pcm = undefined;
    this.pcmLen = 0;
  }

  override async close(): Promise<void> {
    const controller = this.controller;
    this.controller = undefined;
    try {
      controller?.close();
    } catch {
      // already closed by the reader going away
    }
    await super.close();
  }
}

/** One framework segment on its way to the caller. */
interface Segment {
  /** Audio handed to the call, in ms: whole 20 ms frames. */
  sentMs: number;
  /** Every word's audio was sent; false when the reply was cut while still being synthesized. */
  complete: boolean;
  text: SegmentText | undefined;
}

/**
 * The transcription output: collects each segment's text so the audio output can tell the
 * framework what the caller heard of it. Set it as `session.output.transcription` through
 * `asTextOutput()`.
 */
export class TwilioTranscriptOutput {
  /** The text segment being received, or the last one. */
  private current: SegmentText | undefined;

  async captureText(text: string | voice.TimedString): Promise<void> {
    if (!this.current || this.current.ended) this.current = new SegmentText();
    this.current.add(text);
  }

  flush(): void {
    if (this.current) this.current.ended = true;
  }

  onAttached(): void {}
  onDetached(): void {}

  /** The unclaimed text of the segment being voiced, if any. */
  claim(): SegmentText | undefined {
    const text = this.current;
    if (!text || text.claimed) return undefined;
    text.claimed = true;
    return text;
  }

  /**
   * This object as the framework's TextOutput. The class is not exported and has a protected
   * member, so no class of ours can name it; the framework only calls the methods above.
   */
  asTextOutput(): TextOutput {
    return this as unknown as TextOutput;
  }
}

/** The agent's side: framework PCM frames out to the call's Playback, through the AgentSink. */
export class TwilioAudioOutput extends voice.AudioOutput {
  /** Encoded samples not yet a whole frame. */
  private readonly partial = Buffer.alloc(FRAME_BYTES);
  private partialLen = 0;
  /** The segment being captured; undefined between segments. */
  private current: Segment | undefined;
  /** Segments whose audio reached the call and that Playback has not reported yet, oldest first. */
  private readonly unreported: Segment[] = [];
  /** The segment flushed in this very tick: a clear right after it means it was cut mid-synthesis. */
  private justFlushed: Segment | undefined;
  /** After a clear Playback drops audio until a new turn starts: the next segment starts one. */
  private cleared = false;
  private closed = false;

  constructor(
    private readonly sink: AgentSink,
    private readonly transcript?: TwilioTranscriptOutput,
  ) {
    super(PHONE_SAMPLE_RATE, undefined, { pause: false });
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    await super.captureFrame(frame);
    const segment = (this.current ??= this.openSegment());
    if (this.closed) return;
    const { data, channels } = frame;
    const samples = Math.floor(data.length / channels);
    const wholeFrames = Math.floor((this.partialLen + samples) / FRAME_BYTES);
    // One buffer per captured frame for all the whole 20 ms frames it completes: the sink may keep
    // it (Playback copies; a bridge in another thread may transfer it).
    const out = wholeFrames > 0 ? Buffer.allocUnsafe(wholeFrames * FRAME_BYTES) : undefined;
    let outLen = 0;
    // The framework resamples to our rate but not our channel count: take the first channel.
    for (let i = 0; i < samples; i++) {
      this.partial[this.partialLen++] = encodeMulawSample(data[i * channels]!);
      if (this.partialLen === FRAME_BYTES) {
        outLen += this.partial.copy(out!, outLen);
        this.partialLen = 0;
      }
    }
    if (out) this.send(segment, out);
  }

  /** The segment's audio is all captured: pad the last frame and let Playback mark it. */
  override flush(): void {
    super.flush();
    const segment = this.current;
    this.current = undefined;
    if (!segment) return;
    if (this.partialLen > 0) {
      this.partial.fill(MULAW_SILENCE, this.partialLen);
      this.partialLen = 0;
      this.send(segment, Buffer.from(this.partial));
    }
    if (segment.sentMs === 0) return this.finish(segment, 0, false);
    segment.complete = true;
    this.sink.utteranceDone();
    this.justFlushed = segment;
    queueMicrotask(() => {
      if (this.justFlushed === segment) this.justFlushed = undefined;
    });
  }

  /**
   * Barge-in: Playback clears Twilio's buffer and reports what each pending utterance played,
   * which finishes its segment. A segment none of whose audio reached the call finishes here.
   */
  override clearBuffer(): void {
    const open = this.dropOpenSegment();
    // The framework flushes an aborted segment, then clears it, in one go.
    if (this.justFlushed) this.justFlushed.complete = false;
    if (this.unreported.length > 0) {
      this.cleared = true;
      this.sink.bargeIn();
    }
    if (open?.sentMs === 0) this.finish(open, 0, true);
  }

  /** Playback's report on the oldest utterance still playing: that segment is over. */
  utterancePlayed(played: UtterancePlayed): void {
    const segment = this.unreported.shift();
    if (!segment) return; // nothing of ours is playing: a late report
    // Cut while still open (a barge-in from elsewhere): later frames form a new segment.
    if (segment === this.current) this.dropOpenSegment();
    this.finish(segment, played.playedMs, played.interrupted);
  }

  /**
   * The call is over: nothing more will play or be reported. Every segment still waiting is
   * finished as interrupted at the audio sent, so no wait for playout hangs.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const open = this.dropOpenSegment();
    if (open?.sentMs === 0) this.finish(open, 0, true);
    for (const segment of this.unreported.splice(0)) this.finish(segment, segment.sentMs, true);
  }

  private openSegment(): Segment {
    this.onPlaybackStarted(Date.now());
    return { sentMs: 0, complete: false, text: this.transcript?.claim() };
  }

  /** Whole frames of `segment` to the call; its first audio starts a turn after a clear. */
  private send(segment: Segment, frames: Buffer): void {
    if (segment.sentMs === 0) {
      if (this.cleared) this.sink.turnStarted();
      this.cleared = false;
      this.unreported.push(segment);
    }
    segment.sentMs += (frames.length / FRAME_BYTES) * FRAME_MS;
    this.sink.audio(frames);
  }

  /** Ends the open segment without sending its unfinished frame. */
  private dropOpenSegment(): Segment | undefined {
    const segment = this.current;
    if (!segment) return undefined;
    super.flush();
    this.current = undefined;
    this.partialLen = 0;
    return segment;
  }

  private finish(segment: Segment, playedMs: number, interrupted: boolean): void {
    segment.text ??= this.transcript?.claim();
    const text = segment.text;
    const synchronizedTranscript = !text ? undefined : interrupted ? text.heard(playedMs, segment.sentMs, segment.complete) : text.full;
    this.onPlaybackFinished({ playbackPosition: playedMs / 1000, interrupted, synchronizedTranscript });
  }
}
