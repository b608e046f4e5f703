// A lean simulated Twilio caller for load runs: no timers of its own (one shared scheduler drives
// every call), no validation beyond what the counts need, and the outbound JSON built by string
// concatenation from precomputed base64. It plays the gateway's audio the way Twilio does only as
// far as marks need: a play-out clock of queued media, marks echoed when their audio has played,
// and `clear` drops the queue and returns every pending mark at once.
import { performance } from 'node:perf_hooks';
import WebSocket, { type RawData } from 'ws';
import { FRAME_MS, SAMPLE_RATE } from '../../../src/twilio/protocol.js';
import type { CallScript } from './call-script.js';
import type { TurnOracle } from './modes.js';

const BYTES_PER_MS = SAMPLE_RATE / 1000;
const CONNECT_TIMEOUT_MS = 5000;
const CLOSE_TIMEOUT_MS = 5000;

export type CallerState = 'pending' | 'connecting' | 'streaming' | 'stopping' | 'closed';

/** A Twilio `media` message; Twilio sends its numbers as decimal strings. */
export function mediaMessage(streamSid: string, seq: number, chunk: number, timestampMs: number, payload: string): string {
  return (
    `{"event":"media","sequenceNumber":"${seq}","media":{"track":"inbound","chunk":"${chunk}",` +
    `"timestamp":"${timestampMs}","payload":"${payload}"},"streamSid":"${streamSid}"}`
  );
}

/** Decoded length of well-formed base64, without decoding it. */
function base64Bytes(b64: string): number {
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}

/** Twilio-shaped ids: a two-letter prefix and 32 hex digits, unique per run and call. */
function sid(prefix: string, run: string, index: number): string {
  return `${prefix}${run}${index.toString(16).padStart(32 - run.length, '0')}`;
}

export interface LeanCallerOptions {
  index: number;
  /** Hex digits shared by every call of this run. */
  runId: string;
  url: string;
  script: CallScript;
  /** Where in the looping script this call starts, in frames. */
  scriptOffset: number;
  /** Media frames to send before `stop`. */
  totalFrames: number;
  /** performance.now() at which to open the stream. */
  startAtMs: number;
  oracle: TurnOracle;
}

interface PendingMark {
  name: string;
  dueMs: number;
}

export class LeanCaller {
  readonly callSid: string;
  readonly streamSid: string;
  state: CallerState = 'pending';
  framesSent = 0;
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
  readonly errors: string[] = [];
  /** Set when the socket closed, or failed to open, before we sent `stop`. */
  unexpectedClose: string | undefined;
  closeTimedOut = false;

  private ws: WebSocket | undefined;
  private seq = 0;
  private originMs = 0;
  private stateSinceMs = 0;
  /** Send times of turn-ending frames whose reply has not begun, oldest first. */
  private readonly awaitingReply: number[] = [];
  /** True between the first media of a reply and the mark that ends it. */
  private inReply = false;
  private playEndMs = 0;
  private marks: PendingMark[] = [];

  constructor(private readonly opts: LeanCallerOptions) {
    this.callSid = sid('CA', opts.runId, opts.index);
    this.streamSid = sid('MZ', opts.runId, opts.index);
  }

  get startAtMs(): number {
    return this.opts.startAtMs;
  }

  get allFramesSent(): boolean {
    return this.framesSent >= this.opts.totalFrames;
  }

  /** Turns whose reply never began (still waiting when the call ended). */
  get unanswered(): number {
    return this.awaitingReply.length;
  }

  connect(now: number): void {
    this.setState('connecting', now);
    const ws = new WebSocket(this.opts.url, { perMessageDeflate: false, skipUTF8Validation: true });
    this.ws = ws;
    ws.on('open', () => this.onOpen());
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('error', (err: Error) => this.errors.push(err.message));
    ws.on('close', (code: number, reason: Buffer) => this.onClose(code, reason.toString()));
  }

  /** Sends every frame due by `now` (frame i is due i × 20 ms after `start`). */
  sendDue(now: number): void {
    const ws = this.ws!;
    const { frames, payloads } = this.opts.script;
    const due = Math.min(this.opts.totalFrames, Math.floor((now - this.originMs) / FRAME_MS) + 1);
    while (this.framesSent < due) {
      const i = this.framesSent;
      const k = (i + this.opts.scriptOffset) % frames.length;
      // Timed before the send: the gateway cannot act on the frame any earlier.
      if (this.opts.oracle.completesTurn(frames[k]!)) {
        this.awaitingReply.push(performance.now());
        this.turns++;
      }
      ws.send(mediaMessage(this.streamSid, ++this.seq, i + 1, i * FRAME_MS, payloads[k]!));
      this.framesSent++;
    }
  }

  /** Echoes marks whose audio has played, and gives up on a stream stuck opening or closing. */
  service(now: number): void {
    while (this.marks.length > 0 && this.marks[0]!.dueMs <= now) this.echoMark(this.marks.shift()!.name);
    if (this.state === 'connecting' && now - this.stateSinceMs > CONNECT_TIMEOUT_MS) {
      this.unexpectedClose = `no connection within ${CONNECT_TIMEOUT_MS} ms`;
      this.terminate();
    } else if (this.state === 'stopping' && now - this.stateSinceMs > CLOSE_TIMEOUT_MS) {
      this.closeTimedOut = true;
      this.terminate();
    }
  }

  /** Twilio's end of a stream: `stop`, then the socket closes. */
  stop(now: number): void {
    this.setState('stopping', now);
    this.send(`{"event":"stop","sequenceNumber":"${++this.seq}","streamSid":"${this.streamSid}","stop":{"accountSid":"${this.accountSid()}","callSid":"${this.callSid}"}}`);
    this.ws!.close(1000, 'stop');
  }

  terminate(): void {
    this.ws?.terminate();
    this.state = 'closed';
  }

  private accountSid(): string {
    return sid('AC', this.opts.runId, 0);
  }

  private setState(state: CallerState, now: number): void {
    this.state = state;
    this.stateSinceMs = now;
  }

  private onOpen(): void {
    const now = performance.now();
    this.setState('streaming', now);
    this.originMs = now;
    this.send('{"event":"connected","protocol":"Call","version":"1.0.0"}');
    this.send(
      JSON.stringify({
        event: 'start',
        sequenceNumber: String(++this.seq),
        streamSid: this.streamSid,
        start: {
          streamSid: this.streamSid,
          accountSid: this.accountSid(),
          callSid: this.callSid,
          tracks: ['inbound'],
          customParameters: { from: '+15550100000', to: '+15550199999' },
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: SAMPLE_RATE, channels: 1 },
        },
      }),
    );
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    const at = performance.now();
    if (isBinary) return void this.errors.push('binary frame from the gateway');
    let msg: { event?: string; media?: { payload?: string }; mark?: { name?: string } };
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return void this.errors.push('invalid JSON from the gateway');
    }
    if (msg.event === 'media') this.onMedia(msg.media?.payload ?? '', at);
    else if (msg.event === 'mark') this.onMark(msg.mark?.name ?? '', at);
    else if (msg.event === 'clear') this.onClear(at);
  }

  private onMedia(payload: string, at: number): void {
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

  private onMark(name: string, at: number): void {
    this.marksReceived++;
    this.inReply = false;
    this.marks.push({ name, dueMs: Math.max(at, this.playEndMs) });
  }

  private onClear(at: number): void {
    this.clears++;
    this.inReply = false;
    this.playEndMs = at;
    for (const mark of this.marks) this.echoMark(mark.name);
    this.marks = [];
  }

  private echoMark(name: string): void {
    if (this.state !== 'streaming') return;
    this.send(`{"event":"mark","sequenceNumber":"${++this.seq}","streamSid":"${this.streamSid}","mark":{"name":${JSON.stringify(name)}}}`);
    this.marksEchoed++;
  }

  private send(text: string): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  private onClose(code: number, reason: string): void {
    if (this.state !== 'stopping' && this.state !== 'closed') {
      this.unexpectedClose = `closed by the gateway before stop: ${code}${reason ? ` ${reason}` : ''}`;
    }
    this.state = 'closed';
  }
}
