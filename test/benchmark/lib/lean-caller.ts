// A lean simulated Twilio caller for turn-based load runs (the echo agent): it speaks a script,
// times each agent reply from the frame that ended the caller's turn, and plays the gateway's audio
// the way Twilio does only as far as marks need: a play-out clock of queued media, marks echoed
// when their audio has played, and `clear` drops the queue and returns every pending mark at once.
import { performance } from 'node:perf_hooks';
import { SAMPLE_RATE } from '../../../src/twilio/protocol.js';
import type { CallScript } from './call-script.js';
import type { TurnOracle } from './modes.js';
import { SimulatedTwilioStream, type StreamOptions } from './twilio-stream.js';

export { mediaMessage, type CallerState } from './twilio-stream.js';

const BYTES_PER_MS = SAMPLE_RATE / 1000;

/** Decoded length of well-formed base64, without decoding it. */
function base64Bytes(b64: string): number {
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}

export interface LeanCallerOptions extends StreamOptions {
  script: CallScript;
  /** Where in the looping script this call starts, in frames. */
  scriptOffset: number;
  oracle: TurnOracle;
}

interface PendingMark {
  name: string;
  dueMs: number;
}

export class LeanCaller extends SimulatedTwilioStream {
  /** Relay latency samples in ms: first agent media of a reply minus the send time of the frame that ended the turn. */
  readonly latencies: number[] = [];
  /** performance.now() at which each latency sample was taken, to place spikes in time. */
  readonly latencyTimes: number[] = [];
  turns = 0;
  replies = 0;
  /** Replies that started with no caller turn waiting for one. */
  unsolicitedReplies = 0;
  mediaMessages = 0;
  marksReceived = 0;
  marksEchoed = 0;
  clears = 0;

  /** Send times of turn-ending frames whose reply has not begun, oldest first. */
  private readonly awaitingReply: number[] = [];
  /** True between the first media of a reply and the mark that ends it. */
  private inReply = false;
  private playEndMs = 0;
  private marks: PendingMark[] = [];

  constructor(private readonly opts: LeanCallerOptions) {
    super(opts);
  }

  /** Turns whose reply never began (still waiting when the call ended). */
  get unanswered(): number {
    return this.awaitingReply.length;
  }

  /** Echoes marks whose audio has played, then the stream's own housekeeping. */
  override service(now: number): void {
    while (this.marks.length > 0 && this.marks[0]!.dueMs <= now) this.echoMark(this.marks.shift()!.name);
    super.service(now);
  }

  protected override payloadFor(index: number): string {
    const { frames, payloads } = this.opts.script;
    const k = (index + this.opts.scriptOffset) % frames.length;
    // Timed before the send: the gateway cannot act on the frame any earlier.
    if (this.opts.oracle.completesTurn(frames[k]!)) {
      this.awaitingReply.push(performance.now());
      this.turns++;
    }
    return payloads[k]!;
  }

  protected override onMedia(payload: string, at: number): void {
    this.mediaMessages++;
    if (!this.inReply) this.replyStarted(at);
    this.playEndMs = Math.max(at, this.playEndMs) + base64Bytes(payload) / BYTES_PER_MS;
  }

  /** The first media of a reply answers the oldest turn still waiting. */
  private replyStarted(at: number): void {
    this.inReply = true;
    this.replies++;
    const sentAt = this.awaitingReply.shift();
    if (sentAt === undefined) this.unsolicitedReplies++;
    else {
      this.latencies.push(at - sentAt);
      this.latencyTimes.push(at);
    }
  }

  protected override onMark(name: string, at: number): void {
    this.marksReceived++;
    this.inReply = false;
    this.marks.push({ name, dueMs: Math.max(at, this.playEndMs) });
  }

  protected override onClear(at: number): void {
    this.clears++;
    this.inReply = false;
    this.playEndMs = at;
    for (const mark of this.marks) this.echoMark(mark.name);
    this.marks = [];
  }

  private echoMark(name: string): void {
    if (this.state !== 'streaming') return;
    this.send(`{"event":"mark","sequenceNumber":"${this.nextSeq()}","streamSid":"${this.streamSid}","mark":{"name":${JSON.stringify(name)}}}`);
    this.marksEchoed++;
  }
}
