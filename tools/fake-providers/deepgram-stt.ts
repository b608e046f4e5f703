// A stand-in for Deepgram's streaming speech-to-text socket (`wss://api.deepgram.com/v1/listen`)
// on 127.0.0.1, speaking what the LiveKit deepgram plugin sends and reads:
// - in: the upgrade `GET /v1/listen?model=…&encoding=linear16&sample_rate=…&channels=1&vad_events=true…`
//   with `Authorization: Token <key>`; binary linear16 audio (the plugin sends 100 ms pieces, and
//   stops sending after 1 s of quiet: its AudioEnergyFilter); JSON `KeepAlive` (every 5 s),
//   `Finalize` (when its input is flushed) and `CloseStream` (when its input ends).
// - out: `SpeechStarted` when the caller starts speaking (the plugin's START_OF_SPEECH), one interim
//   `Results` (`is_final: false`) half a second in, and when they stop a final `Results` with
//   `is_final` and `speech_final` true (FINAL_TRANSCRIPT, then END_OF_SPEECH); `Metadata` before it
//   closes after CloseStream. The plugin reads `metadata.request_id` of every Results: it is always there.
// Turns are found by an energy detector counted in received-audio time, not wall time, so a client
// that streams faster than real time still gets real turns. The detector's end silence must stay
// under the plugin's 1 s energy-filter cooldown, or the quiet that ends a turn is never sent.
// Transcripts are scripted per utterance, in order. Choices where the real service differs: a
// `Finalize` closes the current utterance with `speech_final: true` too (the service may leave that
// to a later UtteranceEnd), and only linear16 mono is accepted.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { FaultPlan, cutOf, failsAtOnce, type Cut, type Fault } from './faults.js';
import { Listener, headerRecord, refuseUpgrade } from './listener.js';
import { rmsOfPcm16 } from './speech.js';

export const LISTEN_PATH = '/v1/listen';

export interface FakeDeepgramSttOptions {
  port?: number;
  /** When set, an upgrade without `Authorization: Token <apiKey>` is refused with 401. */
  apiKey?: string;
  /** The transcript of an utterance when none is queued. Default: "hello". */
  defaultTranscript?: string;
  /** Keep every session's audio for `session.audio()`. Default true; a load test may not want it. */
  keepAudio?: boolean;
  /** Energy detector over the received audio (20 ms windows). */
  detector?: {
    /** RMS on a 0..1 scale above which a window is speech. Default 0.02. */
    threshold?: number;
    /** Speech needed to open an utterance. Default 100 ms. */
    minSpeechMs?: number;
    /** Quiet that closes it. Default 500 ms; keep it under 1000 (see the header). */
    endSilenceMs?: number;
  };
}

/** The one route the faults apply to: the socket's upgrade. */
export type DeepgramRoute = 'listen';

/** A message the stand-in sent, with the received-audio time it was sent at. */
export interface SentMessage {
  atAudioMs: number;
  json: Record<string, unknown>;
}

const WINDOW_MS = 20;
const INTERIM_AFTER_MS = 500;
const DEFAULT_DROP_AFTER_MS = 500;

export class FakeDeepgramStt {
  readonly sessions: FakeSttSession[] = [];
  readonly faults = new FaultPlan<DeepgramRoute>();
  /** Upgrades refused by a fault or a bad request, with their status. */
  readonly refused: { status: number; headers: Record<string, string> }[] = [];
  private readonly transcripts: string[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });

  private constructor(
    private readonly listener: Listener,
    private readonly opts: FakeDeepgramSttOptions,
  ) {
    listener.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  static async start(options: FakeDeepgramSttOptions = {}): Promise<FakeDeepgramStt> {
    const listener = await Listener.start((_req, res) => res.writeHead(404).end(), options.port);
    return new FakeDeepgramStt(listener, options);
  }

  /** ws://127.0.0.1:PORT: the plugin's `baseUrl` (it appends /v1/listen). */
  get baseUrl(): string {
    return `ws://127.0.0.1:${this.listener.port}`;
  }

  /** Queues transcripts, one per utterance across sessions, in order; then `defaultTranscript`. */
  transcribeWith(...texts: string[]): void {
    this.transcripts.push(...texts);
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.drop();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await this.listener.close();
  }

  /** @internal the next scripted transcript. */
  nextTranscript(): string {
    return this.transcripts.shift() ?? this.opts.defaultTranscript ?? 'hello';
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const headers = headerRecord(req);
    const refuse = (status: number, message: string): void => {
      this.refused.push({ status, headers });
      refuseUpgrade(socket, status, JSON.stringify({ err_code: 'FAKE_ERROR', err_msg: message, request_id: randomUUID() }));
    };
    if (url.pathname !== LISTEN_PATH) return refuse(404, `no socket at ${url.pathname}`);
    if (this.opts.apiKey !== undefined && headers.authorization !== `Token ${this.opts.apiKey}`) {
      return refuse(401, 'Invalid credentials.');
    }
    const fault = this.faults.take('listen');
    if (failsAtOnce(fault)) {
      if (fault.kind === 'status') return refuse(fault.status, fault.message ?? 'The fake provider failed on demand.');
      return this.listener.hold(socket);
    }
    const sampleRate = Number(url.searchParams.get('sample_rate'));
    if (url.searchParams.get('encoding') !== 'linear16' || !(sampleRate > 0) || (url.searchParams.get('channels') ?? '1') !== '1') {
      return refuse(400, 'the fake takes only linear16 mono audio with a sample_rate');
    }
    this.listener.hold(socket);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.sessions.push(new FakeSttSession(this, ws, url, headers, sampleRate, this.opts.detector ?? {}, fault, this.opts.keepAudio ?? true));
    });
  }
}

export class FakeSttSession {
  readonly requestId = randomUUID();
  /** Binary audio received, in bytes and in milliseconds at the session's sample rate. */
  audioBytes = 0;
  /** The audio itself, as received (unless the stand-in was started with `keepAudio: false`). */
  private readonly audioChunks: Buffer[] = [];
  /** JSON control messages received (KeepAlive, Finalize, CloseStream, …), in order. */
  readonly controlMessages: Record<string, unknown>[] = [];
  readonly sent: SentMessage[] = [];
  readonly closed: Promise<{ code: number }>;
  private readonly windowBytes: number;
  private readonly threshold: number;
  private readonly minSpeechMs: number;
  private readonly endSilenceMs: number;
  private readonly cut: Cut | undefined;
  private voicedMs = 0;
  private quietMs = 0;
  private utterance: { startMs: number; transcript: string; interimSent: boolean } | undefined;

  constructor(
    private readonly service: FakeDeepgramStt,
    private readonly ws: WebSocket,
    /** The upgrade URL: `query.get('sample_rate')`, `query.get('model')`, … */
    readonly url: URL,
    readonly headers: Record<string, string>,
    readonly sampleRate: number,
    detector: NonNullable<FakeDeepgramSttOptions['detector']>,
    readonly fault: Fault | undefined,
    private readonly keepAudio: boolean,
  ) {
    this.windowBytes = (sampleRate * WINDOW_MS * 2) / 1000;
    this.threshold = detector.threshold ?? 0.02;
    this.minSpeechMs = detector.minSpeechMs ?? 100;
    this.endSilenceMs = detector.endSilenceMs ?? 500;
    this.cut = cutOf(fault, 'afterMs', DEFAULT_DROP_AFTER_MS);
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve({ code })));
    ws.on('error', () => {}); // a client that vanishes is normal for a stand-in; 'close' follows
    ws.on('message', (data, isBinary) => (isBinary ? this.onAudio(toBuffer(data)) : this.onControl(data)));
  }

  get query(): URLSearchParams {
    return this.url.searchParams;
  }

  get audioMs(): number {
    return (this.audioBytes / 2 / this.sampleRate) * 1000;
  }

  /** The final transcripts sent, in order. */
  get finals(): string[] {
    return this.sent.filter((m) => m.json.type === 'Results' && m.json.is_final === true).map((m) => transcriptOf(m.json));
  }

  /** Cuts the socket without a close frame. */
  drop(): void {
    this.ws.terminate();
  }

  /** The linear16 audio received so far, concatenated. */
  audio(): Buffer {
    return Buffer.concat(this.audioChunks);
  }

  private onAudio(bytes: Buffer): void {
    if (this.keepAudio) this.audioChunks.push(bytes);
    for (let at = 0; at < bytes.length; at += this.windowBytes) {
      const window = bytes.subarray(at, Math.min(at + this.windowBytes, bytes.length));
      this.audioBytes += window.length;
      this.detect(rmsOfPcm16(window), (window.length / 2 / this.sampleRate) * 1000);
      if (this.cut?.how === 'drop' && this.audioMs >= this.cut.after) return this.drop();
    }
  }

  private detect(level: number, ms: number): void {
    const now = this.audioMs;
    if (level > this.threshold) {
      this.quietMs = 0;
      if (this.utterance === undefined) {
        this.voicedMs += ms;
        if (this.voicedMs >= this.minSpeechMs) this.open(now - this.voicedMs);
      } else if (!this.utterance.interimSent && now - this.utterance.startMs >= INTERIM_AFTER_MS) {
        this.utterance.interimSent = true;
        this.sendResults(this.utterance, now, { isFinal: false, speechFinal: false });
      }
      return;
    }
    this.voicedMs = 0;
    if (this.utterance === undefined) return;
    this.quietMs += ms;
    if (this.quietMs >= this.endSilenceMs) this.close(now - this.quietMs, false);
  }

  private open(startMs: number): void {
    this.utterance = { startMs, transcript: this.service.nextTranscript(), interimSent: false };
    this.send({ type: 'SpeechStarted', channel: [0, 1], timestamp: startMs / 1000 });
  }

  private close(endMs: number, fromFinalize: boolean): void {
    const utterance = this.utterance;
    if (utterance === undefined) return;
    this.utterance = undefined;
    this.quietMs = 0;
    this.sendResults(utterance, endMs, { isFinal: true, speechFinal: true, fromFinalize });
  }

  private onControl(data: RawData): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(toBuffer(data).toString()) as Record<string, unknown>;
    } catch {
      return void this.ws.close(1003, 'expected JSON control messages');
    }
    this.controlMessages.push(message);
    if (message.type === 'Finalize') this.close(this.audioMs - this.quietMs, true);
    if (message.type === 'CloseStream') {
      this.close(this.audioMs - this.quietMs, true);
      this.send({
        type: 'Metadata',
        transaction_key: 'deprecated',
        request_id: this.requestId,
        sha256: '',
        created: new Date().toISOString(),
        duration: this.audioMs / 1000,
        channels: 1,
      });
      this.ws.close(1000);
    }
  }

  private sendResults(
    utterance: { startMs: number; transcript: string },
    endMs: number,
    flags: { isFinal: boolean; speechFinal: boolean; fromFinalize?: boolean },
  ): void {
    const words = flags.isFinal ? utterance.transcript.split(/\s+/).filter(Boolean) : utterance.transcript.split(/\s+/).slice(0, 1);
    const start = utterance.startMs / 1000;
    const span = Math.max(endMs / 1000 - start, 0.01) / Math.max(words.length, 1);
    this.send({
      type: 'Results',
      channel_index: [0, 1],
      duration: span * words.length,
      start,
      is_final: flags.isFinal,
      speech_final: flags.speechFinal,
      from_finalize: flags.fromFinalize ?? false,
      channel: {
        alternatives: [
          {
            transcript: words.join(' '),
            confidence: 0.98,
            words: words.map((word, i) => ({
              word: word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''),
              start: start + i * span,
              end: start + (i + 1) * span,
              confidence: 0.98,
              punctuated_word: word,
            })),
          },
        ],
      },
      metadata: { request_id: this.requestId, model_info: { name: this.query.get('model') ?? 'nova-3', version: 'fake', arch: 'fake' }, model_uuid: 'fake' },
    });
  }

  private send(json: Record<string, unknown>): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.cut?.how === 'hang' && this.audioMs >= this.cut.after) return; // stalled: it listens, says nothing
    this.sent.push({ atAudioMs: this.audioMs, json });
    this.ws.send(JSON.stringify(json));
  }
}

function transcriptOf(results: Record<string, unknown>): string {
  const channel = results.channel as { alternatives: { transcript: string }[] };
  return channel.alternatives[0]?.transcript ?? '';
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
