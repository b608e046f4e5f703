// A stand-in for an OpenAI-compatible HTTP API (OpenAI itself, or Grok/OpenRouter-style gateways
// reached through the same client) on 127.0.0.1, speaking the wire format the `openai` SDK and the
// LiveKit openai plugin expect:
// - GET  /v1/models: the model list (openai.LLM asks for it when prewarmed, as a session start does);
// - POST /v1/chat/completions: scripted replies, streamed as SSE chunks the way OpenAI streams them
//   (text deltas; a tool call as a first delta with id and name, then its arguments in pieces;
//   finish_reason; a usage chunk when asked; `[DONE]`), or as one JSON completion without `stream`;
// - POST /v1/audio/transcriptions: multipart upload in, a scripted transcript out;
// - POST /v1/audio/speech: raw PCM s16le at 24 kHz (`response_format: 'pcm'`, the only format it
//   makes) of real speech, whatever the text.
// Every request is recorded (headers, JSON body or form fields, uploaded audio's format) and any
// route can be made to fail (faults.ts).
import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pcmFromWav } from '../../src/audio/wav-io.js';
import { FaultPlan, cutOf, failsAtOnce, type Cut, type Fault } from './faults.js';
import { Listener, dropResponse, headerRecord, readBody } from './listener.js';
import { chunksOf, replySpeechPcm24k } from './speech.js';

export type OpenAiRoute = 'models' | 'chat' | 'transcriptions' | 'speech';

export interface ScriptedToolCall {
  name: string;
  /** An object is sent as its JSON; a string is sent as is (e.g. to test malformed arguments). */
  arguments: Record<string, unknown> | string;
}

/** One assistant reply: text, tool calls, or both (text first, as models do). */
export interface ChatReply {
  text?: string;
  toolCalls?: ScriptedToolCall[];
}

export interface ChatRequest {
  model: string;
  messages: { role: string; content?: unknown; [field: string]: unknown }[];
  tools?: { type: string; function: { name: string; [field: string]: unknown } }[];
  stream: boolean;
}

/** A fixed reply, or one computed from the request (e.g. from the last user message). */
export type ChatScript = ChatReply | ((request: ChatRequest) => ChatReply);

export interface ReceivedRequest {
  route: OpenAiRoute;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** The JSON body (chat, speech). */
  json?: Record<string, unknown>;
  /** The text fields of a multipart body (transcriptions): model, language, response_format, … */
  form?: Record<string, string>;
  /** The audio file of a transcription, as its WAV header describes it, and its bytes. */
  audio?: { sampleRate: number; channels: number; durationMs: number };
  wav?: Buffer;
  /** The fault this request met instead of an answer, if any. */
  fault?: Fault;
  /** performance.now() when its body had arrived (tests measure how long a caller waited after it). */
  atMs: number;
}

export interface FakeOpenAiOptions {
  port?: number;
  /** When set, a request without `Authorization: Bearer <apiKey>` gets 401. */
  apiKey?: string;
  /** Listed by GET /v1/models. */
  models?: string[];
  /** The chat reply when no scripted one is queued. Default: a short sentence of text. */
  defaultReply?: ChatScript;
  /** The transcript when none is queued. Default: "hello". */
  defaultTranscript?: string;
  /** What /v1/audio/speech returns: PCM s16le 24 kHz. Default: the agent-reply fixture (5.46 s). */
  speechPcm?: Buffer;
  /** Bytes per written piece of a speech body. Default 4800 (100 ms). */
  speechChunkBytes?: number;
  /** A provider's own delay before it answers any request (for latency figures). Default 0. */
  answerDelayMs?: number;
}

const DEFAULT_MODELS = ['gpt-4.1-mini', 'whisper-1', 'tts-1'];
const DEFAULT_REPLY: ChatReply = { text: 'This is the fake model speaking.' };
/** Pieces a drop fault lets through before it cuts the socket, when it does not say. */
const DEFAULT_DROP_AFTER_CHUNKS = 2;

export class FakeOpenAi {
  readonly received: ReceivedRequest[] = [];
  readonly faults = new FaultPlan<OpenAiRoute>();
  private readonly replies: ChatScript[] = [];
  private readonly transcripts: string[] = [];
  private completions = 0;

  private constructor(
    private readonly listener: Listener,
    private readonly opts: FakeOpenAiOptions,
    private readonly speechPcm: Buffer,
  ) {}

  static async start(options: FakeOpenAiOptions = {}): Promise<FakeOpenAi> {
    const speech = options.speechPcm ?? (await replySpeechPcm24k());
    let fake: FakeOpenAi | undefined;
    const listener = await Listener.start((req, res) => void fake?.handle(req, res), options.port);
    fake = new FakeOpenAi(listener, options, speech);
    return fake;
  }

  /** e.g. http://127.0.0.1:PORT/v1: the `baseURL` of an OpenAI client. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.listener.port}/v1`;
  }

  /** Queues chat replies, used one per chat completion in order; then `defaultReply`. */
  replyWith(...replies: ChatScript[]): void {
    this.replies.push(...replies);
  }

  /** Queues transcripts, used one per transcription in order; then `defaultTranscript`. */
  transcribeWith(...texts: string[]): void {
    this.transcripts.push(...texts);
  }

  /** The requests received on one route, in order. */
  requestsTo(route: OpenAiRoute): ReceivedRequest[] {
    return this.received.filter((request) => request.route === route);
  }

  close(): Promise<void> {
    return this.listener.close();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', 'http://fake').pathname;
      const route = routeOf(req.method ?? 'GET', path);
      const body = await readBody(req);
      const atMs = performance.now();
      if (route === undefined) return sendError(res, 404, `no route for ${req.method} ${path}`, 'invalid_request_error');
      const received: ReceivedRequest = { route, method: req.method ?? 'GET', path, headers: headerRecord(req), atMs };
      this.received.push(received);
      if (this.opts.apiKey !== undefined && received.headers.authorization !== `Bearer ${this.opts.apiKey}`) {
        return sendError(res, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
      }
      if (route === 'transcriptions') {
        const parts = parseMultipart(body, received.headers['content-type'] ?? '');
        received.form = Object.fromEntries(parts.filter((p) => p.filename === undefined).map((p) => [p.name, p.data.toString()]));
        const file = parts.find((p) => p.name === 'file');
        if (file !== undefined) {
          received.wav = file.data;
          received.audio = wavFormat(file.data);
        }
      } else if (body.length > 0) {
        received.json = JSON.parse(body.toString()) as Record<string, unknown>;
      }

      const fault = this.faults.take(route);
      if (fault !== undefined) received.fault = fault;
      if (failsAtOnce(fault)) {
        if (fault.kind === 'status') return sendError(res, fault.status, fault.message ?? 'The fake provider failed on demand.', 'server_error');
        return this.listener.hold(req.socket);
      }
      if (this.opts.answerDelayMs) await sleep(this.opts.answerDelayMs);
      const cut = cutOf(fault, 'afterChunks', DEFAULT_DROP_AFTER_CHUNKS);
      // A reply sent whole (the model list, a transcript, a completion without `stream`) is cut before it starts.
      const streamed = route === 'speech' || (route === 'chat' && received.json?.stream === true);
      if (cut !== undefined && !streamed) return this.cutOff(res, cut);

      switch (route) {
        case 'models':
          return sendJson(res, 200, {
            object: 'list',
            data: (this.opts.models ?? DEFAULT_MODELS).map((id) => ({ id, object: 'model', created: 0, owned_by: 'fake' })),
          });
        case 'chat':
          return await this.answerChat(res, received.json ?? {}, cut);
        case 'transcriptions':
          return this.answerTranscription(res, received.form ?? {});
        case 'speech':
          return await this.answerSpeech(res, received.json ?? {}, cut);
      }
    } catch (error) {
      if (!res.headersSent) sendError(res, 400, (error as Error).message, 'invalid_request_error');
      else res.destroy();
    }
  }

  /** Ends a reply that has started: the socket destroyed, or left open with nothing more. */
  private cutOff(res: http.ServerResponse, cut: Cut): void {
    if (cut.how === 'drop') return dropResponse(res);
    if (res.socket) this.listener.hold(res.socket);
  }

  private async answerChat(res: http.ServerResponse, body: Record<string, unknown>, cut: Cut | undefined): Promise<void> {
    const request: ChatRequest = {
      model: String(body.model ?? ''),
      messages: Array.isArray(body.messages) ? (body.messages as ChatRequest['messages']) : [],
      stream: body.stream === true,
      ...(Array.isArray(body.tools) ? { tools: body.tools as ChatRequest['tools'] } : {}),
    };
    const script = this.replies.shift() ?? this.opts.defaultReply ?? DEFAULT_REPLY;
    const reply = typeof script === 'function' ? script(request) : script;
    const id = `chatcmpl-fake-${++this.completions}`;
    const calls = (reply.toolCalls ?? []).map((call, index) => ({
      id: `call_fake_${this.completions}_${index}`,
      name: call.name,
      arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
    }));
    if (!request.stream) {
      return sendJson(res, 200, completion(id, request.model, reply.text, calls));
    }
    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    const chunks = streamedChunks(id, request.model, reply.text, calls, includeUsage);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let sent = 0;
    for (const chunk of chunks) {
      if (sent === cut?.after) return this.cutOff(res, cut);
      await write(res, `data: ${JSON.stringify(chunk)}\n\n`);
      sent += 1;
    }
    if (sent === cut?.after) return this.cutOff(res, cut);
    res.end('data: [DONE]\n\n');
  }

  private answerTranscription(res: http.ServerResponse, form: Record<string, string>): void {
    const text = this.transcripts.shift() ?? this.opts.defaultTranscript ?? 'hello';
    if (form.response_format === 'text') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(text);
      return;
    }
    sendJson(res, 200, { text });
  }

  private async answerSpeech(res: http.ServerResponse, body: Record<string, unknown>, cut: Cut | undefined): Promise<void> {
    if (body.response_format !== 'pcm') {
      return sendError(res, 400, `the fake makes only response_format "pcm", not ${JSON.stringify(body.response_format)}`, 'invalid_request_error');
    }
    if (typeof body.input !== 'string' || body.input.length === 0) {
      return sendError(res, 400, 'input is required', 'invalid_request_error');
    }
    res.writeHead(200, { 'content-type': 'audio/pcm' });
    let sent = 0;
    for (const chunk of chunksOf(this.speechPcm, this.opts.speechChunkBytes ?? 4800)) {
      if (sent === cut?.after) return this.cutOff(res, cut);
      await write(res, chunk);
      sent += 1;
    }
    res.end();
  }
}

function routeOf(method: string, path: string): OpenAiRoute | undefined {
  if (method === 'GET' && path === '/v1/models') return 'models';
  if (method !== 'POST') return undefined;
  if (path === '/v1/chat/completions') return 'chat';
  if (path === '/v1/audio/transcriptions') return 'transcriptions';
  if (path === '/v1/audio/speech') return 'speech';
  return undefined;
}

interface StreamedCall {
  id: string;
  name: string;
  arguments: string;
}

/** A non-streamed chat completion. */
function completion(id: string, model: string, text: string | undefined, calls: StreamedCall[]) {
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        finish_reason: calls.length > 0 ? 'tool_calls' : 'stop',
        message: {
          role: 'assistant',
          content: text ?? null,
          ...(calls.length > 0
            ? { tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) }
            : {}),
        },
      },
    ],
    usage: usage(text, calls),
  };
}

/**
 * The chunks of a streamed reply, as OpenAI sends them: a role delta; the text word by word; each
 * tool call opened by a delta with its index, id and name (arguments ''), then its arguments in
 * three pieces without id or name; a last delta with the finish reason; usage, when asked, in a
 * chunk with no choices.
 */
function streamedChunks(id: string, model: string, text: string | undefined, calls: StreamedCall[], includeUsage: boolean) {
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  });
  const chunks: Record<string, unknown>[] = [chunk({ role: 'assistant', content: '' })];
  for (const word of text?.match(/\S+\s*/g) ?? []) chunks.push(chunk({ content: word }));
  calls.forEach((call, index) => {
    chunks.push(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }));
    for (const piece of thirds(call.arguments)) chunks.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
  });
  chunks.push(chunk({}, calls.length > 0 ? 'tool_calls' : 'stop'));
  if (includeUsage) chunks.push({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: usage(text, calls) });
  return chunks;
}

function thirds(text: string): string[] {
  const step = Math.ceil(text.length / 3);
  const out: string[] = [];
  for (let at = 0; at < text.length; at += step) out.push(text.slice(at, at + step));
  return out;
}

function usage(text: string | undefined, calls: StreamedCall[]) {
  const completionTokens = (text?.split(/\s+/).filter(Boolean).length ?? 0) + calls.length * 10;
  return { prompt_tokens: 10, completion_tokens: completionTokens, total_tokens: 10 + completionTokens };
}

interface Part {
  name: string;
  filename?: string;
  data: Buffer;
}

/** Splits a multipart/form-data body into its parts (enough for the OpenAI SDK's uploads). */
function parseMultipart(body: Buffer, contentType: string): Part[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (boundary === null) throw new Error(`expected multipart/form-data with a boundary, got "${contentType}"`);
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const parts: Part[] = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    const raw = body.subarray(start + 2, next - 2); // past the CRLF after the delimiter; before the CRLF ahead of the next
    const split = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, split).toString();
    const name = /name="([^"]*)"/i.exec(head)?.[1];
    const filename = /filename="([^"]*)"/i.exec(head)?.[1];
    if (name !== undefined) parts.push({ name, ...(filename !== undefined ? { filename } : {}), data: raw.subarray(split + 4) });
    at = next;
  }
  return parts;
}

function wavFormat(bytes: Buffer): ReceivedRequest['audio'] {
  const wav = pcmFromWav(bytes, 'uploaded audio');
  return {
    sampleRate: wav.sampleRate,
    channels: wav.channels,
    durationMs: Math.round((wav.samples.length / wav.channels / wav.sampleRate) * 1000),
  };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** An error in OpenAI's shape, which the SDK turns into an APIError with this status. */
function sendError(res: http.ServerResponse, status: number, message: string, type: string, code: string | null = null): void {
  sendJson(res, status, { error: { message, type, param: null, code } });
}

/** Writes and waits until the piece is handed to the socket, so a later drop cuts after it. */
function write(res: http.ServerResponse, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => res.write(data, (error) => (error ? reject(error) : resolve())));
}
