// A fake Twilio for the tests and the call simulator (scripts/simulate-call.ts); it lives in tools/
// so that no script imports from test/. It places a bidirectional <Connect><Stream> call against
// the gateway's media-stream WebSocket, speaks Twilio's side of the wire exactly, and models how
// Twilio plays the gateway's audio (buffering, marks, clear), so a test can assert what a caller
// would really hear and when marks come back.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { type RawData } from 'ws';
import { decodeMulaw } from '../src/audio/mulaw.js';
import { writePcmWav } from '../src/audio/wav-io.js';
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE, SAMPLE_RATE } from '../src/twilio/protocol.js';

const BYTES_PER_MS = SAMPLE_RATE / 1000;
const DTMF_DIGIT = /^[0-9*#]$/;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface FakeCallerOptions {
  /** e.g. ws://127.0.0.1:PORT/twilio/media-stream */
  url: string;
  /** Extra upgrade request headers, e.g. X-Twilio-Signature. */
  headers?: Record<string, string>;
  streamSid?: string;
  callSid?: string;
  accountSid?: string;
  customParameters?: Record<string, string>;
  /** 1 = real time; 10 = ten times faster; Infinity = as fast as the event loop allows. */
  speed?: number;
  /** Extra call-clock delay before a mark is echoed once its audio has played. */
  markEchoDelayMs?: number;
  /** Called synchronously for every event as it is recorded (for live logs). */
  onEvent?: (event: CallerEvent) => void;
}

export type CallerEventKind =
  | 'connected'
  | 'media'
  | 'mark-sent'
  | 'mark-echoed'
  | 'clear'
  | 'closed'
  | 'error'
  | 'sent-dtmf'
  | 'sent-stop'
  | 'invalid';

export interface CallerEvent {
  /** Milliseconds on the caller's call clock. */
  at: number;
  kind: CallerEventKind;
  detail?: string;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

/** Twilio sids are a two-letter prefix and 32 hex digits. */
export function randomSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/**
 * The call clock in ms since the stream opened. Finite speeds scale real time. At Infinity the
 * clock is pinned while frames are being sent and moves by frame time only, so playback sees the
 * same time the outbound frames claim; while idle it follows real time.
 */
class CallClock {
  private t0 = 0;
  private started = false;
  private frozenAt: number | undefined;
  private pinned = false;
  private virtualMs = 0;
  private anchor = 0;

  constructor(private readonly speed: number) {}

  start(): void {
    this.t0 = this.anchor = performance.now();
    this.started = true;
  }

  now(): number {
    if (this.frozenAt !== undefined) return this.frozenAt;
    if (!this.started) return 0;
    const real = performance.now();
    if (Number.isFinite(this.speed)) return (real - this.t0) * this.speed;
    return this.pinned ? this.virtualMs : this.virtualMs + (real - this.anchor);
  }

  pin(): void {
    if (Number.isFinite(this.speed) || this.pinned) return;
    this.virtualMs = this.now();
    this.pinned = true;
  }

  unpin(): void {
    if (!this.pinned) return;
    this.anchor = performance.now();
    this.pinned = false;
  }

  /** Resolves once the clock reads `ms`; a pinned clock jumps there and just yields a turn. */
  async waitUntil(ms: number): Promise<void> {
    if (this.pinned) {
      this.virtualMs = Math.max(this.virtualMs, ms);
      await nextTurn();
      return;
    }
    // Timers can fire a little early, hence the loop.
    for (let left = ms - this.now(); left > 0 && this.frozenAt === undefined; left = ms - this.now()) {
      await sleep(Number.isFinite(this.speed) ? left / this.speed : left);
    }
  }

  freeze(): void {
    this.frozenAt ??= this.now();
  }
}

type Queued = { kind: 'audio'; bytes: Buffer } | { kind: 'mark'; name: string; arrivedMs: number };

/**
 * Twilio's play-out of the gateway's audio on the call clock: one FIFO of audio and marks that
 * plays 8 bytes per ms from the moment audio is queued while idle. It never sends anything; the
 * caller feeds it the time and echoes the marks it returns.
 */
class PlaybackModel {
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private headOffset = 0;
  /** Call-clock byte index where the next played byte lands. */
  private playPos = 0;
  private heard = Buffer.alloc(0);
  private heardEnd = 0;
  private dueEchoes: { name: string; dueMs: number }[] = [];

  constructor(private readonly echoDelayMs: number) {}

  get pending(): boolean {
    return this.queue.length > 0 || this.dueEchoes.length > 0;
  }

  enqueueAudio(bytes: Buffer, nowMs: number): void {
    // Idle until now: playback starts at once rather than where the last audio ended.
    if (this.queuedBytes === 0) this.playPos = Math.max(this.playPos, Math.floor(nowMs * BYTES_PER_MS));
    this.queue.push({ kind: 'audio', bytes });
    this.queuedBytes += bytes.length;
  }

  enqueueMark(name: string, nowMs: number): void {
    this.queue.push({ kind: 'mark', name, arrivedMs: nowMs });
  }

  /** Plays everything due up to `nowMs` and returns the marks to echo now. */
  advance(nowMs: number): string[] {
    const target = Math.floor(nowMs * BYTES_PER_MS);
    for (let head = this.queue[0]; head; head = this.queue[0]) {
      if (head.kind === 'mark') {
        const playedMs = Math.max(this.playPos / BYTES_PER_MS, head.arrivedMs);
        this.dueEchoes.push({ name: head.name, dueMs: playedMs + this.echoDelayMs });
        this.queue.shift();
      } else if (this.playPos < target) {
        this.play(head.bytes, target);
      } else {
        break;
      }
    }
    return this.takeDue(nowMs);
  }

  /** Twilio's `clear`: the buffer empties now and every outstanding mark comes back at once. */
  clear(): string[] {
    const names = this.dueEchoes.map((e) => e.name);
    for (const item of this.queue) if (item.kind === 'mark') names.push(item.name);
    this.drop();
    return names;
  }

  /** The call ended: nothing more plays and no mark will be echoed. */
  drop(): void {
    this.queue = [];
    this.queuedBytes = 0;
    this.headOffset = 0;
    this.dueEchoes = [];
  }

  /** What played from t=0 to `nowMs`, silence where nothing did. */
  heardUntil(nowMs: number): Buffer {
    const out = Buffer.alloc(Math.max(Math.floor(nowMs * BYTES_PER_MS), this.heardEnd), MULAW_SILENCE);
    this.heard.copy(out, 0, 0, Math.min(this.heardEnd, out.length));
    return out;
  }

  private play(bytes: Buffer, target: number): void {
    const n = Math.min(target - this.playPos, bytes.length - this.headOffset);
    this.writeHeard(bytes.subarray(this.headOffset, this.headOffset + n));
    this.headOffset += n;
    this.queuedBytes -= n;
    if (this.headOffset === bytes.length) {
      this.queue.shift();
      this.headOffset = 0;
    }
  }

  private writeHeard(bytes: Buffer): void {
    const end = this.playPos + bytes.length;
    if (end > this.heard.length) {
      // Grow geometrically; new space is silence so gaps need no separate fill.
      const grown = Buffer.alloc(Math.max(end, this.heard.length * 2, 8000), MULAW_SILENCE);
      this.heard.copy(grown, 0, 0, this.heardEnd);
      this.heard = grown;
    }
    bytes.copy(this.heard, this.playPos);
    this.playPos = end;
    this.heardEnd = Math.max(this.heardEnd, end);
  }

  private takeDue(nowMs: number): string[] {
    let n = 0;
    while (n < this.dueEchoes.length && this.dueEchoes[n]!.dueMs <= nowMs) n++;
    return this.dueEchoes.splice(0, n).map((e) => e.name);
  }
}

type GatewayFrame = { event: 'media'; audio: Buffer } | { event: 'mark'; name: string } | { event: 'clear' };
type Json = Record<string, unknown>;

const OUTBOUND_FIELDS = {
  media: ['event', 'streamSid', 'media'],
  mark: ['event', 'streamSid', 'mark'],
  clear: ['event', 'streamSid'],
} as const;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Twilio accepts exactly these fields: an extra one (say `track` on media) is error 31951. */
function fieldProblem(obj: Json, fields: readonly string[], where: string): string | undefined {
  const extra = Object.keys(obj).find((k) => !fields.includes(k));
  if (extra !== undefined) return `extra field ${where}${extra}`;
  const missing = fields.find((k) => !(k in obj));
  return missing === undefined ? undefined : `missing field ${where}${missing}`;
}

function checkMedia(media: unknown): GatewayFrame | string {
  if (!isObject(media)) return 'media is not an object';
  const problem = fieldProblem(media, ['payload'], 'media.');
  if (problem) return problem;
  if (typeof media.payload !== 'string' || !STRICT_BASE64.test(media.payload)) return 'media.payload is not base64';
  const audio = Buffer.from(media.payload, 'base64');
  if (audio.length === 0) return 'media.payload is empty';
  if (audio.length % FRAME_BYTES !== 0) return `media.payload is ${audio.length} bytes, not a multiple of ${FRAME_BYTES}`;
  return { event: 'media', audio };
}

function checkMark(mark: unknown): GatewayFrame | string {
  if (!isObject(mark)) return 'mark is not an object';
  const problem = fieldProblem(mark, ['name'], 'mark.');
  if (problem) return problem;
  if (typeof mark.name !== 'string' || mark.name.length === 0) return 'mark.name is not a non-empty string';
  return { event: 'mark', name: mark.name };
}

/** Checks one gateway frame against Twilio's outbound schema; a string says what is wrong. */
function checkOutbound(text: string, streamSid: string): GatewayFrame | string {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return 'invalid JSON';
  }
  if (!isObject(msg)) return 'not a JSON object';
  const event = msg.event;
  if (event === undefined) return 'missing field event';
  if (event !== 'media' && event !== 'mark' && event !== 'clear') return `unknown event ${JSON.stringify(event)}`;
  const problem = fieldProblem(msg, OUTBOUND_FIELDS[event], '');
  if (problem) return problem;
  if (msg.streamSid !== streamSid) return `wrong streamSid ${JSON.stringify(msg.streamSid)}`;
  if (event === 'media') return checkMedia(msg.media);
  if (event === 'mark') return checkMark(msg.mark);
  return { event };
}

function rawBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function snippet(text: string): string {
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

/** Frame `i` of `mulaw`; a short last frame is padded with silence, as a phone line would be. */
function frameAt(mulaw: Buffer, i: number): Buffer {
  const frame = mulaw.subarray(i * FRAME_BYTES, (i + 1) * FRAME_BYTES);
  if (frame.length === FRAME_BYTES) return frame;
  const padded = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
  frame.copy(padded);
  return padded;
}

export class FakeTwilioCaller {
  readonly streamSid: string;
  readonly callSid: string;
  readonly accountSid: string;
  readonly events: CallerEvent[] = [];
  readonly marksEchoed: string[] = [];
  readonly invalidFrames: string[] = [];

  private readonly opts: FakeCallerOptions;
  private readonly speed: number;
  private readonly clock: CallClock;
  private readonly playback: PlaybackModel;
  private readonly received: Buffer[] = [];
  private readonly waiters = new Set<(e: CallerEvent) => void>();
  private ws: WebSocket | undefined;
  private seq = 0;
  private chunk = 0;
  private sent = 0;
  private clearCount = 0;
  private nextFrameMs = 0;
  /** Set by stop, hang-up, close or the socket closing: no more sending or playing. */
  private ended = false;
  private closeInfo: CloseInfo | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private sendChain: Promise<void> = Promise.resolve();

  constructor(opts: FakeCallerOptions) {
    const speed = opts.speed ?? 1;
    if (!(speed > 0)) throw new Error(`FakeTwilioCaller: speed must be > 0, got ${speed}`);
    this.opts = opts;
    this.speed = speed;
    this.streamSid = opts.streamSid ?? randomSid('MZ');
    this.callSid = opts.callSid ?? randomSid('CA');
    this.accountSid = opts.accountSid ?? randomSid('AC');
    this.clock = new CallClock(speed);
    this.playback = new PlaybackModel(opts.markEchoDelayMs ?? 0);
  }

  get clears(): number {
    return this.clearCount;
  }

  /** Call time where the next streamed frame would go: the end of the last one sent. */
  get streamEndMs(): number {
    return this.nextFrameMs;
  }

  /** Media frames sent so far. */
  get framesSent(): number {
    return this.sent;
  }

  /** The call clock in ms (0 before connect; frozen once the call ends). */
  now(): number {
    return this.clock.now();
  }

  /** Opens the stream and sends `connected` then `start`, as Twilio does. */
  async connect(): Promise<void> {
    if (this.ws) throw new Error('FakeTwilioCaller: connect() can be called only once');
    const ws = new WebSocket(this.opts.url, { headers: this.opts.headers ?? {}, perMessageDeflate: false });
    this.ws = ws;
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
    ws.on('error', (err) => this.record('error', err.message));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      // ws reports a refused upgrade as "Unexpected server response: 403".
      ws.once('error', (err) => reject(new Error(`cannot connect to ${this.opts.url}: ${err.message}`)));
    });
    this.clock.start();
    this.record('connected', this.opts.url, 0);
    this.sendJson({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    this.sendJson({
      event: 'start',
      sequenceNumber: this.nextSeq(),
      streamSid: this.streamSid,
      start: {
        streamSid: this.streamSid,
        accountSid: this.accountSid,
        callSid: this.callSid,
        tracks: ['inbound'],
        customParameters: this.opts.customParameters ?? {},
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: SAMPLE_RATE, channels: 1 },
      },
    });
  }

  /**
   * Sends the caller's mu-law as 20 ms media frames paced by `speed`. Calls queue behind each
   * other; if the call ends meanwhile the rest is skipped and the promise still resolves.
   */
  streamAudio(mulaw: Buffer): Promise<void> {
    const run = this.sendChain.then(() => this.sendFrames(mulaw));
    this.sendChain = run.catch(() => undefined);
    return run;
  }

  streamSilence(ms: number): Promise<void> {
    const frames = Math.ceil(ms / FRAME_MS);
    return this.streamAudio(Buffer.alloc(Math.max(0, frames) * FRAME_BYTES, MULAW_SILENCE));
  }

  sendDtmf(digit: string): void {
    if (!DTMF_DIGIT.test(digit)) throw new Error(`FakeTwilioCaller: "${digit}" is not a DTMF digit`);
    this.sendJson({
      event: 'dtmf',
      sequenceNumber: this.nextSeq(),
      streamSid: this.streamSid,
      dtmf: { track: 'inbound_track', digit },
    });
    this.record('sent-dtmf', digit);
  }

  /**
   * Sends one media frame stamped `timestampMs`, off the caller's own timeline: a jump or a gap
   * as a lossy network or a faulty peer produces. The stream's sequence numbers stay in order.
   */
  sendFrameAt(timestampMs: number, frame: Buffer = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE)): void {
    this.sendMedia(frame, timestampMs);
  }

  /** Sends anything as is (a Buffer goes as a binary frame): for bad-input tests. */
  sendRaw(data: string | Buffer): void {
    this.openSocket().send(data);
  }

  /**
   * Sends `stop` (once, if the call is still up), waits for the gateway to close the socket, and
   * drops the connection itself on timeout.
   */
  async stop(timeoutMs = 2000): Promise<void> {
    const ws = this.ws;
    if (!ws || this.closeInfo) return;
    if (!this.ended && ws.readyState === WebSocket.OPEN) {
      this.sendJson({
        event: 'stop',
        sequenceNumber: this.nextSeq(),
        streamSid: this.streamSid,
        stop: { accountSid: this.accountSid, callSid: this.callSid },
      });
      this.record('sent-stop');
      this.endCall();
    }
    try {
      await this.waitForClose(timeoutMs);
    } catch {
      this.record('error', `the gateway did not close the socket within ${timeoutMs} ms of stop`);
      ws.terminate();
      await this.waitForClose(timeoutMs);
    }
  }

  /** Drops the line: the TCP connection goes away with no `stop` and no close frame. */
  hangUp(): void {
    this.endCall();
    this.ws?.terminate();
  }

  /** Closes the socket politely (code 1000) without a `stop`. */
  close(): void {
    this.endCall();
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.close(1000, 'caller closed');
    else this.ws?.terminate();
  }

  /** Resolves with the first event, past or future, that matches; `timeoutMs` is real time. */
  waitFor(pred: (e: CallerEvent) => boolean, timeoutMs = 5000): Promise<CallerEvent> {
    const past = this.events.find(pred);
    if (past) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const waiter = (e: CallerEvent): void => {
        if (!pred(e)) return;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`FakeTwilioCaller: no matching event within ${timeoutMs} ms; last: ${this.describeRecent()}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  async waitForClose(timeoutMs = 5000): Promise<CloseInfo> {
    if (!this.closeInfo) await this.waitFor((e) => e.kind === 'closed', timeoutMs);
    return this.closeInfo ?? { code: 1006, reason: '' };
  }

  /** Mu-law the caller heard from t=0 to now on the call clock; 0xFF where nothing played. */
  heardAudio(): Buffer {
    this.tick();
    return this.playback.heardUntil(this.clock.now());
  }

  /** Every valid media byte the gateway sent, in order, including audio a `clear` cut. */
  receivedAudio(): Buffer {
    return Buffer.concat(this.received);
  }

  async saveHeardWav(file: string): Promise<void> {
    await mkdir(dirname(file), { recursive: true });
    await writePcmWav(file, { sampleRate: SAMPLE_RATE, channels: 1, samples: decodeMulaw(this.heardAudio()) });
  }

  private async sendFrames(mulaw: Buffer): Promise<void> {
    const frames = Math.ceil(mulaw.length / FRAME_BYTES);
    if (frames === 0 || !this.live()) return;
    this.clock.pin();
    try {
      // Back-to-back calls continue the timeline; after idle time the stream resumes at "now".
      const first = Math.max(this.nextFrameMs, Math.floor(this.clock.now() / FRAME_MS) * FRAME_MS);
      for (let i = 0; i < frames && this.live(); i++) {
        const at = first + i * FRAME_MS;
        await this.clock.waitUntil(at);
        if (!this.live()) break;
        this.tick();
        this.sendMedia(frameAt(mulaw, i), at);
        this.nextFrameMs = at + FRAME_MS;
      }
      // The last frame lasts 20 ms too, so streaming N frames takes N × 20 ms.
      if (this.live()) await this.clock.waitUntil(this.nextFrameMs);
    } finally {
      this.clock.unpin();
    }
    this.tick();
    this.ensureTicker();
  }

  private sendMedia(frame: Buffer, timestampMs: number): void {
    this.chunk++;
    this.sendJson({
      event: 'media',
      sequenceNumber: this.nextSeq(),
      streamSid: this.streamSid,
      media: { track: 'inbound', chunk: String(this.chunk), timestamp: String(timestampMs), payload: frame.toString('base64') },
    });
    this.sent++;
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    // One timestamp for the whole message keeps event times and playback positions identical.
    const at = this.clock.now();
    this.tick(at);
    const bytes = rawBytes(data);
    if (isBinary) return this.invalid(`binary frame (${bytes.length} bytes)`, at);
    const text = bytes.toString('utf8');
    const frame = checkOutbound(text, this.streamSid);
    if (typeof frame === 'string') return this.invalid(`${frame}: ${snippet(text)}`, at);
    this.apply(frame, at);
    this.tick(at);
    this.ensureTicker();
  }

  private apply(frame: GatewayFrame, at: number): void {
    if (frame.event === 'media') {
      this.received.push(frame.audio);
      this.record('media', `${frame.audio.length} bytes`, at);
      if (!this.ended) this.playback.enqueueAudio(frame.audio, at);
    } else if (frame.event === 'mark') {
      this.record('mark-sent', frame.name, at);
      if (!this.ended) this.playback.enqueueMark(frame.name, at);
    } else {
      this.clearCount++;
      this.record('clear', undefined, at);
      for (const name of this.playback.clear()) this.echoMark(name, at);
    }
  }

  private invalid(reason: string, at: number): void {
    this.invalidFrames.push(reason);
    this.record('invalid', reason, at);
  }

  /** Advances playback to `at` and echoes every mark whose audio has finished. */
  private tick(at = this.clock.now()): void {
    for (const name of this.playback.advance(at)) this.echoMark(name, at);
  }

  private echoMark(name: string, at: number): void {
    if (this.ended || this.ws?.readyState !== WebSocket.OPEN) return;
    this.sendJson({ event: 'mark', sequenceNumber: this.nextSeq(), streamSid: this.streamSid, mark: { name } });
    this.marksEchoed.push(name);
    this.record('mark-echoed', name, at);
  }

  /** While audio or marks are pending, tick every 20 call-ms so echoes come on time when silent. */
  private ensureTicker(): void {
    if (this.ticker || this.ended || !this.playback.pending) return;
    const everyMs = Number.isFinite(this.speed) ? Math.max(1, FRAME_MS / this.speed) : FRAME_MS;
    this.ticker = setInterval(() => {
      this.tick();
      if (!this.playback.pending) this.stopTicker();
    }, everyMs);
  }

  private stopTicker(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
  }

  /** The call is over for the caller: what played so far stays heard, nothing else will. */
  private endCall(): void {
    if (this.ended) return;
    this.tick();
    this.ended = true;
    this.stopTicker();
    this.clock.freeze();
    this.playback.drop();
  }

  private onClose(code: number, reason: string): void {
    this.endCall();
    this.closeInfo = { code, reason };
    this.record('closed', reason ? `${code} ${reason}` : String(code));
  }

  private live(): boolean {
    return !this.ended && this.ws?.readyState === WebSocket.OPEN;
  }

  private openSocket(): WebSocket {
    if (this.ws?.readyState !== WebSocket.OPEN) throw new Error('FakeTwilioCaller: the socket is not open');
    return this.ws;
  }

  private sendJson(msg: Json): void {
    this.openSocket().send(JSON.stringify(msg));
  }

  private nextSeq(): string {
    return String(++this.seq);
  }

  private record(kind: CallerEventKind, detail?: string, at = this.clock.now()): void {
    const event: CallerEvent = detail === undefined ? { at, kind } : { at, kind, detail };
    this.events.push(event);
    this.opts.onEvent?.(event);
    for (const waiter of [...this.waiters]) waiter(event);
  }

  private describeRecent(): string {
    const recent = this.events.slice(-5).map((e) => `${e.at.toFixed(0)}ms ${e.kind}${e.detail ? ` ${e.detail}` : ''}`);
    return recent.length ? recent.join('; ') : '(no events)';
  }
}
