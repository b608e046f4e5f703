// A stand-in for Cartesia's streaming text-to-speech socket (`wss://api.cartesia.ai/tts/websocket`)
// on 127.0.0.1, speaking what the LiveKit cartesia plugin sends and reads:
// - in: the upgrade with headers `X-API-Key` and `Cartesia-Version`; per reply (a "context"), JSON
//   messages `{model_id, voice, output_format: {container: 'raw', encoding: 'pcm_s16le',
//   sample_rate}, language, context_id, transcript, continue, add_timestamps, …}`, the last one with
//   `continue: false`; `{context_id, cancel: true}` to stop one.
// - out, per context: `chunk` messages (base64 PCM), a `timestamps` message spreading the words
//   received over the audio when `add_timestamps` was asked, and `done` once the audio is sent and
//   the context was closed with `continue: false` (the plugin ends a reply only on that `done`).
// Each context gets the same real speech (24 kHz, the only rate it makes; another rate is answered
// with an error message), faster than real time as the service sends it. The plugin keeps one
// socket open across replies (a pool), so one connection carries many contexts.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { FaultPlan, cutOf, failsAtOnce, type Cut, type Fault } from './faults.js';
import { Listener, headerRecord, refuseUpgrade } from './listener.js';
import { TTS_SAMPLE_RATE, chunksOf, replySpeechPcm24k } from './speech.js';

export const TTS_PATH = '/tts/websocket';

export interface FakeCartesiaTtsOptions {
  port?: number;
  /** When set, an upgrade without `X-API-Key: <apiKey>` is refused with 401. */
  apiKey?: string;
  /** The speech of every context: PCM s16le 24 kHz. Default: the agent-reply fixture (5.46 s). */
  speechPcm?: Buffer;
  /** Bytes of PCM per chunk message. Default 4800 (100 ms). */
  chunkBytes?: number;
  /** A provider's own delay before the first chunk of each context (for latency figures). Default 0. */
  answerDelayMs?: number;
}

/** The one route the faults apply to: the socket's upgrade. A drop counts chunks sent on that socket. */
export type CartesiaRoute = 'websocket';

export interface TtsContext {
  id: string;
  /** Every message received for it, in order. */
  requests: Record<string, unknown>[];
  /** Its transcript pieces joined. */
  transcript: string;
  /** PCM bytes sent for it. */
  audioBytes: number;
  cancelled: boolean;
  done: boolean;
}

const DEFAULT_DROP_AFTER_CHUNKS = 2;

export class FakeCartesiaTts {
  readonly connections: FakeTtsConnection[] = [];
  readonly faults = new FaultPlan<CartesiaRoute>();
  readonly refused: { status: number; headers: Record<string, string> }[] = [];
  /** Plain HTTP requests (e.g. a synthesis over `POST /tts/bytes`): the stand-in answers them 404. */
  readonly httpRequests: { method: string; path: string }[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });

  private constructor(
    private readonly listener: Listener,
    private readonly opts: FakeCartesiaTtsOptions,
    /** @internal */ readonly speechPcm: Buffer,
  ) {
    listener.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  static async start(options: FakeCartesiaTtsOptions = {}): Promise<FakeCartesiaTts> {
    const speech = options.speechPcm ?? (await replySpeechPcm24k());
    let fake: FakeCartesiaTts | undefined;
    const listener = await Listener.start((req, res) => {
      fake?.httpRequests.push({ method: req.method ?? 'GET', path: req.url ?? '/' });
      res.writeHead(404).end();
    }, options.port);
    fake = new FakeCartesiaTts(listener, options, speech);
    return fake;
  }

  /** http://127.0.0.1:PORT: the plugin's `baseUrl` (it swaps http for ws and appends /tts/websocket). */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.listener.port}`;
  }

  /** Every context of every connection, in the order they began. */
  get contexts(): TtsContext[] {
    return this.connections.flatMap((connection) => [...connection.contexts.values()]);
  }

  async close(): Promise<void> {
    for (const connection of this.connections) connection.drop();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await this.listener.close();
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const headers = headerRecord(req);
    const refuse = (status: number, message: string): void => {
      this.refused.push({ status, headers });
      refuseUpgrade(socket, status, JSON.stringify({ error: message }));
    };
    if (url.pathname !== TTS_PATH) return refuse(404, `no socket at ${url.pathname}`);
    if (this.opts.apiKey !== undefined && headers['x-api-key'] !== this.opts.apiKey) return refuse(401, 'Invalid API key');
    const fault = this.faults.take('websocket');
    if (failsAtOnce(fault)) {
      if (fault.kind === 'status') return refuse(fault.status, fault.message ?? 'The fake provider failed on demand.');
      return this.listener.hold(socket);
    }
    this.listener.hold(socket);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.connections.push(new FakeTtsConnection(ws, url, headers, this.opts, this.speechPcm, fault));
    });
  }
}

export class FakeTtsConnection {
  readonly contexts = new Map<string, TtsContext>();
  readonly closed: Promise<{ code: number }>;
  private chunksSent = 0;
  private readonly cut: Cut | undefined;
  private readonly inputDone = new Set<string>();
  private readonly audioDone = new Set<string>();

  constructor(
    private readonly ws: WebSocket,
    readonly url: URL,
    /** `x-api-key`, `cartesia-version`, … */
    readonly headers: Record<string, string>,
    private readonly opts: FakeCartesiaTtsOptions,
    private readonly speechPcm: Buffer,
    readonly fault: Fault | undefined,
  ) {
    this.cut = cutOf(fault, 'afterChunks', DEFAULT_DROP_AFTER_CHUNKS);
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve({ code })));
    ws.on('error', () => {});
    ws.on('message', (data) => this.onMessage(data));
  }

  drop(): void {
    this.ws.terminate();
  }

  private onMessage(data: RawData): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(data.toString()) as Record<string, unknown>;
    } catch {
      return this.send({ type: 'error', context_id: '', status_code: 400, done: true, error: 'messages must be JSON' });
    }
    const id = typeof message.context_id === 'string' ? message.context_id : '';
    const known = this.contexts.get(id);
    if (message.cancel === true) {
      if (known !== undefined) known.cancelled = true;
      return;
    }
    const problem = invalidRequest(message);
    if (problem !== undefined) return this.send({ type: 'error', context_id: id, status_code: 400, done: true, error: problem });
    const context = known ?? { id, requests: [], transcript: '', audioBytes: 0, cancelled: false, done: false };
    context.requests.push(message);
    context.transcript += message.transcript as string;
    if (message.continue === false) this.inputDone.add(id);
    if (known === undefined) {
      this.contexts.set(id, context);
      void this.speak(context, message.add_timestamps === true);
    } else {
      this.finishIfComplete(context, message.add_timestamps === true);
    }
  }

  /** Streams the speech for a context, faster than real time, yielding between chunks. */
  private async speak(context: TtsContext, timestamps: boolean): Promise<void> {
    if (this.opts.answerDelayMs) await sleep(this.opts.answerDelayMs);
    for (const chunk of chunksOf(this.speechPcm, this.opts.chunkBytes ?? 4800)) {
      if (context.cancelled || this.ws.readyState !== WebSocket.OPEN) return;
      if (this.chunksSent === this.cut?.after) return this.cut.how === 'drop' ? this.drop() : undefined; // a hang: silence
      this.send({ type: 'chunk', data: chunk.toString('base64'), done: false, status_code: 206, step_time: 1, context_id: context.id });
      this.chunksSent += 1;
      context.audioBytes += chunk.length;
      await nextTurn();
    }
    this.audioDone.add(context.id);
    this.finishIfComplete(context, timestamps);
  }

  /** `done` needs both: all audio sent, and the client's `continue: false`. */
  private finishIfComplete(context: TtsContext, timestamps: boolean): void {
    if (context.done || context.cancelled || !this.audioDone.has(context.id) || !this.inputDone.has(context.id)) return;
    context.done = true;
    if (timestamps) {
      const words = context.transcript.split(/\s+/).filter(Boolean);
      const span = this.speechPcm.length / 2 / TTS_SAMPLE_RATE / Math.max(words.length, 1);
      this.send({
        type: 'timestamps',
        done: false,
        status_code: 206,
        context_id: context.id,
        word_timestamps: { words, start: words.map((_, i) => i * span), end: words.map((_, i) => (i + 1) * span) },
      });
    }
    this.send({ type: 'done', done: true, status_code: 200, context_id: context.id });
  }

  private send(json: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(json));
  }
}

/** Why the stand-in cannot answer a generation request, if it cannot. */
function invalidRequest(message: Record<string, unknown>): string | undefined {
  if (typeof message.context_id !== 'string' || message.context_id === '') return 'context_id is required';
  if (typeof message.transcript !== 'string') return 'transcript is required';
  if (typeof message.model_id !== 'string') return 'model_id is required';
  const format = message.output_format as { container?: unknown; encoding?: unknown; sample_rate?: unknown } | undefined;
  if (format?.container !== 'raw' || format.encoding !== 'pcm_s16le' || format.sample_rate !== TTS_SAMPLE_RATE) {
    return `the fake makes only raw pcm_s16le at ${TTS_SAMPLE_RATE} Hz, not ${JSON.stringify(format)}`;
  }
  return undefined;
}
