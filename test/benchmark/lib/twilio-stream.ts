// What every simulated Twilio caller of a load run shares: the life of one media stream
// (connect, `connected` + `start`, media frames at real time, `stop`, close) with no timers of its
// own (one shared scheduler drives every call) and outbound JSON built by string concatenation.
// Subclasses decide what each frame carries and what to make of what comes back.
import { performance } from 'node:perf_hooks';
import WebSocket, { type RawData } from 'ws';
import { FRAME_MS, SAMPLE_RATE } from '../../../src/twilio/protocol.js';

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

/** Twilio-shaped ids: a two-letter prefix and 32 hex digits, unique per run and call. */
function sid(prefix: string, run: string, index: number): string {
  return `${prefix}${run}${index.toString(16).padStart(32 - run.length, '0')}`;
}

export interface StreamOptions {
  index: number;
  /** Hex digits shared by every call of this run. */
  runId: string;
  url: string;
  /** Media frames to send before `stop`. */
  totalFrames: number;
  /** performance.now() at which to open the stream. */
  startAtMs: number;
  /** `start.customParameters` beside From and To (the bench's mixed gateway routes calls by them). */
  customParameters?: Readonly<Record<string, string>>;
}

export abstract class SimulatedTwilioStream {
  readonly callSid: string;
  readonly streamSid: string;
  state: CallerState = 'pending';
  framesSent = 0;
  readonly errors: string[] = [];
  /** Set when the socket closed, or failed to open, before we sent `stop`. */
  unexpectedClose: string | undefined;
  closeTimedOut = false;

  protected ws: WebSocket | undefined;
  private seq = 0;
  private originMs = 0;
  private stateSinceMs = 0;

  constructor(protected readonly stream: StreamOptions) {
    this.callSid = sid('CA', stream.runId, stream.index);
    this.streamSid = sid('MZ', stream.runId, stream.index);
  }

  get startAtMs(): number {
    return this.stream.startAtMs;
  }

  get allFramesSent(): boolean {
    return this.framesSent >= this.stream.totalFrames;
  }

  connect(now: number): void {
    this.setState('connecting', now);
    const ws = new WebSocket(this.stream.url, { perMessageDeflate: false, skipUTF8Validation: true });
    this.ws = ws;
    ws.on('open', () => this.onOpen());
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('error', (err: Error) => this.errors.push(err.message));
    ws.on('close', (code: number, reason: Buffer) => this.onClose(code, reason.toString()));
  }

  /** Sends every frame due by `now` (frame i is due i × 20 ms after `start`). */
  sendDue(now: number): void {
    const ws = this.ws!;
    const due = Math.min(this.stream.totalFrames, Math.floor((now - this.originMs) / FRAME_MS) + 1);
    while (this.framesSent < due) {
      const i = this.framesSent;
      ws.send(mediaMessage(this.streamSid, this.nextSeq(), i + 1, i * FRAME_MS, this.payloadFor(i)));
      this.framesSent++;
    }
  }

  /** Gives up on a stream stuck opening or closing. */
  service(now: number): void {
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
    this.send(`{"event":"stop","sequenceNumber":"${this.nextSeq()}","streamSid":"${this.streamSid}","stop":{"accountSid":"${this.accountSid()}","callSid":"${this.callSid}"}}`);
    this.ws!.close(1000, 'stop');
  }

  terminate(): void {
    this.ws?.terminate();
    this.state = 'closed';
  }

  /** The base64 payload of frame `index`; called once per frame, just before it is sent. */
  protected abstract payloadFor(index: number): string;

  /** A `media` message from the other end; `at` is performance.now() when it arrived. */
  protected abstract onMedia(payload: string, at: number): void;

  protected onMark(_name: string, _at: number): void {}

  protected onClear(_at: number): void {}

  protected nextSeq(): number {
    return ++this.seq;
  }

  protected send(text: string): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  private accountSid(): string {
    return sid('AC', this.stream.runId, 0);
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
        sequenceNumber: String(this.nextSeq()),
        streamSid: this.streamSid,
        start: {
          streamSid: this.streamSid,
          accountSid: this.accountSid(),
          callSid: this.callSid,
          tracks: ['inbound'],
          customParameters: { from: '+15550100000', to: '+15550199999', ...this.stream.customParameters },
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

  private onClose(code: number, reason: string): void {
    if (this.state !== 'stopping' && this.state !== 'closed') {
      this.unexpectedClose = `closed by the gateway before stop: ${code}${reason ? ` ${reason}` : ''}`;
    }
    this.state = 'closed';
  }
}
