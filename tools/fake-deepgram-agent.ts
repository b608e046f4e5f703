// A fake Deepgram Voice Agent server speaking the converse protocol over a real `ws` socket, so the
// gateway (and the real @deepgram/sdk) can be tested without the network. It validates Settings
// strictly, detects the caller's turns with an energy VAD counted in received-audio time (not wall
// time, so a client streaming faster than real time still gets real turns), and answers each turn
// with fixture speech in random chunk sizes, faster than real time, as the service does.
//
// Choices where the real service is undocumented (see the protocol notes):
// - After every `Error` the fake closes with 1011. The service's close code is undocumented; 1011
//   is the harsh choice: a client that left the SDK's auto-reconnect on would silently open a new
//   session, and a test sees a second session.
// - Audio, or any message but KeepAlive, before SettingsApplied is an `UNPARSABLE_CLIENT_MESSAGE`
//   Error. With `settingsAppliedDelayMs` > 0 this catches a client that streams before it is told.
// - Messages that arrive before Welcome is sent are held and handled after it.
// - Stricter than the service where the gateway has a policy: `agent.listen`, `think` and `speak`
//   are required (the service would default speak to Flux TTS), and so is `think.endpoint.headers`.
// - An interrupted reply gets no AgentAudioDone (reportedly the service may skip it too).
// - No AgentThinking (the service sends it only for models that think aloud), unless a function
//   call's `reply.thinkingAfterMs` asks for one.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { MULAW_TO_PCM16 } from '../src/audio/mulaw.js';
import { readMulawWav } from '../src/audio/wav-io.js';
import { seededRandom } from './seeded-random.js';

export interface FakeAgentOptions {
  /** Mu-law 8 kHz replies, used in turn order (cycled). Default: the agent-reply fixture. */
  replyAudio?: Buffer[];
  /** Played after SettingsApplied when Settings has `agent.greeting`. Default: the agent-greeting fixture. */
  greetingAudio?: Buffer;
  /** `echo`: every binary frame received is sent straight back (relay benchmarks); no VAD, no turns, no greeting. */
  mode?: 'converse' | 'echo';
  /** Random reply chunk sizes in bytes, inclusive. Default [100, 1500]. */
  chunkBytes?: [min: number, max: number];
  /** Delay between reply chunks. Default 2 ms: far faster than real time, as the service sends. */
  replyPaceMs?: number;
  /** Energy VAD on the caller's mu-law, in received-audio time (bytes counted, not wall time). */
  vad?: { thresholdDb?: number; minSpeechMs?: number; endSilenceMs?: number };
  /** Fault mode: a slow Welcome. */
  welcomeDelayMs?: number;
  /** Delay between a valid Settings and SettingsApplied (audio in between is an Error). Default 0. */
  settingsAppliedDelayMs?: number;
  /** No audio and no KeepAlive for this long → Error CLIENT_MESSAGE_TIMEOUT, close 1011. Default 10000. */
  clientMessageTimeoutMs?: number;
  /**
   * On the Nth user turn (1-based), send a client-side FunctionCallRequest instead of speaking; the
   * agent speaks after the response (not after end_call). With `reply`, it speaks `afterMs` after
   * the response, after end_call too (a goodbye), optionally sending AgentThinking first.
   */
  functionCallOnTurn?: FunctionCallOnTurn[];
  /** Expected Authorization header, e.g. 'Token test-key'; anything else gets 401 on upgrade. */
  requireAuth?: string;
  /** Seed of the chunk-size generator, so a run is reproducible. Default 1. */
  seed?: number;
  /** Port to listen on (127.0.0.1). Default 0: any free port. */
  port?: number;
}

export interface FunctionCallOnTurn {
  turn: number;
  name: string;
  arguments: Record<string, unknown>;
  reply?: { afterMs: number; thinkingAfterMs?: number };
}

export interface FakeAgentFaults {
  /** Terminate the next session's socket (no close frame) this long after it connects. */
  dropNextSessionAfterMs?: number;
  /** Send this Error to the next session this long after it connects, then close. */
  errorNextSessionAfterMs?: { ms: number; code: string; description: string };
  /**
   * Terminate the next session's socket in the middle of its first utterance (the greeting, or
   * the first reply), once `afterBytes` of its audio were sent; then refuse every upgrade with
   * 503 for `refuseForMs`, as a service in a short outage would.
   */
  dropNextSessionMidUtterance?: { afterBytes: number; refuseForMs?: number };
}

/** A JSON message the fake sends: any fields besides `type`. */
export interface ServerJson {
  type: string;
  [field: string]: unknown;
}

/** A message the client sent, as the fake received it. */
export interface ClientMessage {
  type: string;
  [field: string]: unknown;
}

export interface FakeAgentSession {
  readonly headers: Record<string, string | string[] | undefined>;
  /** The parsed Settings, once a valid one arrived. */
  readonly settings: unknown | undefined;
  readonly received: { json: unknown[]; audioBytes: number; keepAlives: number; functionResponses: unknown[] };
  /** JSON messages sent: type and wall time (ms). */
  readonly sent: { type: string; at: number }[];
  readonly sentAudioBytes: number;
  readonly userTurns: number;
  sendJson(msg: ServerJson): void;
  sendAudio(bytes: Buffer): void;
  /** Terminates the socket abruptly, without a close frame. */
  drop(): void;
  /** Sends Error, then closes with 1011. */
  error(code: string, description: string): void;
  /** Terminates the socket once `afterBytes` of the next utterance's audio were sent, then calls `then`. */
  dropDuringNextUtterance(afterBytes: number, then?: () => void): void;
  /** Resolves with the first message SENT BY THE CLIENT (already received or future) that matches. */
  waitFor(pred: (m: ClientMessage) => boolean, timeoutMs?: number): Promise<ClientMessage>;
  readonly closed: Promise<{ code: number }>;
}

export const CONVERSE_PATH = '/v1/agent/converse';
/** The close code the fake uses after an Error (see the header comment). */
export const ERROR_CLOSE_CODE = 1011;
/** What the agent-reply fixture says; the fake's assistant ConversationText for every reply. */
export const REPLY_TEXT = 'Sure. I have booked your flight to Paris for Friday morning. Is there anything else?';

const FIXTURES = fileURLToPath(new URL('../fixtures/speech/', import.meta.url));
const VAD_WINDOW_BYTES = 160; // 20 ms of 8 kHz mu-law
const VAD_WINDOW_MS = 20;

// ---------------------------------------------------------------- Settings schema

type Schema =
  | { kind: 'string' }
  | { kind: 'number' }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'array'; items: Schema }
  | { kind: 'headers' }
  | { kind: 'jsonObject' }
  | { kind: 'object'; fields: Record<string, Field> }
  | { kind: 'tagged'; tag: string; variants: Record<string, Schema> }
  | { kind: 'oneOrMany'; item: Schema }
  | { kind: 'anyOf'; options: Schema[] };

interface Field {
  schema: Schema;
  required: boolean;
}

const str: Schema = { kind: 'string' };
const num: Schema = { kind: 'number' };
const bool: Schema = { kind: 'boolean' };
const headers: Schema = { kind: 'headers' };
const jsonObject: Schema = { kind: 'jsonObject' };
const lit = (...values: string[]): Schema => ({ kind: 'enum', values });
const arr = (items: Schema): Schema => ({ kind: 'array', items });
const obj = (fields: Record<string, Field>): Schema => ({ kind: 'object', fields });
const tagged = (tag: string, variants: Record<string, Schema>): Schema => ({ kind: 'tagged', tag, variants });
const oneOrMany = (item: Schema): Schema => ({ kind: 'oneOrMany', item });
const anyOf = (...options: Schema[]): Schema => ({ kind: 'anyOf', options });
const req = (schema: Schema): Field => ({ schema, required: true });
const opt = (schema: Schema): Field => ({ schema, required: false });

const LISTEN_PROVIDER = tagged('version', {
  v1: obj({
    type: req(lit('deepgram')),
    version: req(lit('v1')),
    model: opt(str),
    language: opt(str),
    keyterms: opt(arr(str)),
    smart_format: opt(bool),
  }),
  v2: obj({
    type: req(lit('deepgram')),
    version: req(lit('v2')),
    model: req(str),
    language_hints: opt(arr(str)),
    language_hint: opt(anyOf(str, arr(str))),
    eot_threshold: opt(num),
    eager_eot_threshold: opt(num),
    eot_timeout_ms: opt(num),
    keyterms: opt(arr(str)),
  }),
});

const llm = (type: string, extra: Record<string, Field> = {}): Schema =>
  obj({ type: req(lit(type)), version: opt(str), model: req(str), temperature: opt(num), ...extra });

const AWS_CREDENTIALS = obj({
  type: req(lit('sts', 'iam')),
  region: req(str),
  access_key_id: req(str),
  secret_access_key: req(str),
  session_token: opt(str),
});

const THINK_PROVIDER = tagged('type', {
  open_ai: llm('open_ai', { reasoning_mode: opt(str) }),
  anthropic: llm('anthropic'),
  google: llm('google'),
  groq: llm('groq', { reasoning_mode: opt(str) }),
  aws_bedrock: obj({ type: req(lit('aws_bedrock')), model: req(str), temperature: opt(num), credentials: opt(AWS_CREDENTIALS) }),
});

const ENDPOINT = obj({ url: req(str), headers: req(headers) });

const FUNCTION = obj({
  name: req(str),
  description: opt(str),
  parameters: opt(jsonObject),
  defer_until_eot: opt(bool),
  endpoint: opt(obj({ url: req(str), method: opt(str), headers: opt(headers) })),
});

const THINK = obj({
  provider: req(THINK_PROVIDER),
  endpoint: opt(ENDPOINT),
  prompt: opt(str),
  functions: opt(arr(FUNCTION)),
  context_length: opt(anyOf(lit('max'), num)),
});

const SPEAK_PROVIDER = tagged('type', {
  deepgram: obj({ type: req(lit('deepgram')), version: opt(str), model: req(str), speed: opt(num), expressivity: opt(num) }),
  eleven_labs: obj({ type: req(lit('eleven_labs')), version: opt(str), model_id: req(str), language: opt(str), language_code: opt(str) }),
  cartesia: obj({
    type: req(lit('cartesia')),
    version: opt(str),
    model_id: req(str),
    voice: req(obj({ mode: req(str), id: req(str) })),
    language: opt(str),
    volume: opt(num),
  }),
  open_ai: obj({ type: req(lit('open_ai')), version: opt(str), model: req(str), voice: req(str) }),
  aws_polly: obj({
    type: req(lit('aws_polly')),
    voice: req(str),
    language: req(str),
    language_code: opt(str),
    engine: req(str),
    credentials: req(AWS_CREDENTIALS),
  }),
});

const SPEAK = obj({ provider: req(SPEAK_PROVIDER), endpoint: opt(ENDPOINT) });

const HISTORY_ITEM = anyOf(
  obj({ type: req(lit('History')), role: req(lit('user', 'assistant')), content: req(str) }),
  obj({
    type: req(lit('History')),
    function_calls: req(
      arr(
        obj({
          id: req(str),
          name: req(str),
          client_side: req(bool),
          arguments: req(str),
          response: req(str),
          thought_signature: opt(str),
        }),
      ),
    ),
  }),
);

const LISTEN = obj({ provider: req(LISTEN_PROVIDER) });

const SETTINGS = obj({
  type: req(lit('Settings')),
  tags: opt(arr(str)),
  experimental: opt(bool),
  mip_opt_out: opt(bool),
  flags: opt(obj({ history: opt(bool) })),
  audio: opt(
    obj({
      input: opt(
        obj({
          encoding: req(lit('linear16', 'linear32', 'flac', 'alaw', 'mulaw', 'amr-nb', 'amr-wb', 'opus', 'ogg-opus', 'speex', 'g729')),
          sample_rate: req(num),
        }),
      ),
      output: opt(
        obj({
          encoding: opt(lit('linear16', 'mulaw', 'alaw', 'mp3', 'opus', 'flac', 'aac')),
          sample_rate: opt(num),
          bitrate: opt(num),
          container: opt(lit('none', 'wav', 'ogg')),
        }),
      ),
    }),
  ),
  agent: req(
    obj({
      language: opt(str),
      listen: req(LISTEN),
      think: req(oneOrMany(THINK)),
      speak: req(oneOrMany(SPEAK)),
      greeting: opt(str),
      context: opt(obj({ messages: opt(arr(HISTORY_ITEM)) })),
    }),
  ),
});

/** Schemas of the other client messages, each including its `type`. */
const CLIENT_MESSAGES: Record<string, Schema> = {
  KeepAlive: obj({ type: req(lit('KeepAlive')) }),
  FunctionCallResponse: obj({ type: req(lit('FunctionCallResponse')), id: req(str), name: req(str), content: req(str) }),
  UpdatePrompt: obj({ type: req(lit('UpdatePrompt')), prompt: req(str) }),
  UpdateSpeak: obj({ type: req(lit('UpdateSpeak')), speak: req(oneOrMany(SPEAK)) }),
  UpdateThink: obj({ type: req(lit('UpdateThink')), think: req(oneOrMany(THINK)) }),
  UpdateListen: obj({ type: req(lit('UpdateListen')), listen: req(LISTEN) }),
  InjectAgentMessage: obj({
    type: req(lit('InjectAgentMessage')),
    message: req(str),
    behavior: opt(lit('default', 'queue', 'interrupt')),
  }),
  InjectUserMessage: obj({ type: req(lit('InjectUserMessage')), content: req(str) }),
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validateObject(value: unknown, fields: Record<string, Field>, at: string): string | undefined {
  if (!isPlainObject(value)) return `${at}: expected an object`;
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(fields, key)) return `${at}.${key}: unknown field`;
  }
  for (const [key, field] of Object.entries(fields)) {
    const child = value[key];
    if (child === undefined) {
      if (field.required) return `${at}.${key}: missing required field`;
      continue;
    }
    const problem = validate(child, field.schema, `${at}.${key}`);
    if (problem) return problem;
  }
  return undefined;
}

function validateTagged(value: unknown, tag: string, variants: Record<string, Schema>, at: string): string | undefined {
  if (!isPlainObject(value)) return `${at}: expected an object`;
  const variant = value[tag];
  if (variant === undefined) return `${at}.${tag}: missing required field`;
  if (typeof variant !== 'string' || !Object.hasOwn(variants, variant)) {
    return `${at}.${tag}: expected one of ${Object.keys(variants).join(', ')}`;
  }
  return validate(value, variants[variant]!, at);
}

/** Checks a Settings message as the fake does: the first problem as `path: what is wrong`, or undefined. */
export function validateSettings(settings: unknown): string | undefined {
  return validate(settings, SETTINGS, 'Settings');
}

/** The first problem found in `value`, as `path: what is wrong`; undefined when it conforms. */
function validate(value: unknown, schema: Schema, at: string): string | undefined {
  switch (schema.kind) {
    case 'string':
      return typeof value === 'string' ? undefined : `${at}: expected a string`;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : `${at}: expected a number`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${at}: expected a boolean`;
    case 'enum':
      return typeof value === 'string' && schema.values.includes(value)
        ? undefined
        : `${at}: expected one of ${schema.values.join(', ')}`;
    case 'array':
      if (!Array.isArray(value)) return `${at}: expected an array`;
      for (const [i, item] of value.entries()) {
        const problem = validate(item, schema.items, `${at}[${i}]`);
        if (problem) return problem;
      }
      return undefined;
    case 'headers':
      return isPlainObject(value) && Object.values(value).every((v) => typeof v === 'string')
        ? undefined
        : `${at}: expected an object of string values`;
    case 'jsonObject':
      return isPlainObject(value) ? undefined : `${at}: expected an object`;
    case 'object':
      return validateObject(value, schema.fields, at);
    case 'tagged':
      return validateTagged(value, schema.tag, schema.variants, at);
    case 'oneOrMany':
      return Array.isArray(value) && value.length > 0 ? validate(value, arr(schema.item), at) : validate(value, schema.item, at);
    case 'anyOf': {
      const problems = schema.options.map((option) => validate(value, option, at));
      return problems.some((p) => p === undefined) ? undefined : problems[0];
    }
  }
}

// ---------------------------------------------------------------- helpers

/** Turn detection on mu-law by mean energy over 20 ms windows, counted in received bytes. */
class EnergyVad {
  private readonly thresholdDb: number;
  private readonly startWindows: number;
  private readonly endWindows: number;
  private isSpeaking = false;
  private run = 0;
  private sumSquares = 0;
  private samples = 0;

  constructor(opts: FakeAgentOptions['vad'] = {}) {
    this.thresholdDb = opts.thresholdDb ?? -35;
    this.startWindows = Math.max(1, Math.ceil((opts.minSpeechMs ?? 100) / VAD_WINDOW_MS));
    this.endWindows = Math.max(1, Math.ceil((opts.endSilenceMs ?? 500) / VAD_WINDOW_MS));
  }

  get speaking(): boolean {
    return this.isSpeaking;
  }

  /** Feeds received bytes (any size); returns the transitions they caused, in order. */
  push(bytes: Buffer): ('start' | 'end')[] {
    const events: ('start' | 'end')[] = [];
    for (const byte of bytes) {
      const sample = MULAW_TO_PCM16[byte]!;
      this.sumSquares += sample * sample;
      if (++this.samples < VAD_WINDOW_BYTES) continue;
      const event = this.window(this.sumSquares / this.samples);
      if (event) events.push(event);
      this.sumSquares = 0;
      this.samples = 0;
    }
    return events;
  }

  private window(meanSquare: number): 'start' | 'end' | undefined {
    const db = 10 * Math.log10(meanSquare / (32768 * 32768) + 1e-12);
    const loud = db > this.thresholdDb;
    // A run counts windows that argue for leaving the current state; any other window resets it.
    this.run = loud !== this.isSpeaking ? this.run + 1 : 0;
    if (this.run < (this.isSpeaking ? this.endWindows : this.startWindows)) return undefined;
    this.isSpeaking = !this.isSpeaking;
    this.run = 0;
    return this.isSpeaking ? 'start' : 'end';
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

let defaultAudio: Promise<{ reply: Buffer; greeting: Buffer }> | undefined;

function loadDefaultAudio(): Promise<{ reply: Buffer; greeting: Buffer }> {
  defaultAudio ??= Promise.all([
    readMulawWav(`${FIXTURES}agent-reply-8k-mulaw.wav`),
    readMulawWav(`${FIXTURES}agent-greeting-8k-mulaw.wav`),
  ]).then(([reply, greeting]) => ({ reply, greeting }));
  return defaultAudio;
}

interface ResolvedOptions {
  replyAudio: Buffer[];
  greetingAudio: Buffer;
  mode: 'converse' | 'echo';
  chunkBytes: [number, number];
  replyPaceMs: number;
  vad: FakeAgentOptions['vad'];
  welcomeDelayMs: number;
  settingsAppliedDelayMs: number;
  clientMessageTimeoutMs: number;
  functionCallOnTurn: NonNullable<FakeAgentOptions['functionCallOnTurn']>;
  seed: number;
}

// ---------------------------------------------------------------- one session

/**
 * Where a session is in the handshake: held messages wait for Welcome; only Settings is accepted
 * before SettingsApplied is sent.
 */
type Phase = 'before-welcome' | 'awaiting-settings' | 'applying' | 'active' | 'closed';

/** One agent utterance in flight; barge-in flips `cancelled` and the sender stops. */
interface Utterance {
  cancelled: boolean;
}

interface Waiter {
  pred: (m: ClientMessage) => boolean;
  resolve: (m: ClientMessage) => void;
}

class Session implements FakeAgentSession {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly received = { json: [] as unknown[], audioBytes: 0, keepAlives: 0, functionResponses: [] as unknown[] };
  readonly sent: { type: string; at: number }[] = [];
  readonly closed: Promise<{ code: number }>;
  settings: unknown | undefined = undefined;
  sentAudioBytes = 0;
  userTurns = 0;

  private phase: Phase = 'before-welcome';
  private readonly held: { data: RawData; isBinary: boolean }[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly vad: EnergyVad;
  private readonly random: () => number;
  private lastClientAudioAt = Date.now();
  private utterance: Utterance | undefined;
  private replies = 0;
  /** Client-side calls awaiting a FunctionCallResponse, by id. */
  private readonly pendingCalls = new Map<string, { name: string; arguments: string; reply: FunctionCallOnTurn['reply'] }>();
  /** After end_call the agent says nothing more. */
  private hungUp = false;
  private dropPlan: { afterBytes: number; then: (() => void) | undefined } | undefined;

  constructor(
    private readonly ws: WebSocket,
    req: http.IncomingMessage,
    private readonly opts: ResolvedOptions,
  ) {
    this.headers = { ...req.headers };
    this.vad = new EnergyVad(opts.vad);
    this.random = seededRandom(opts.seed);
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve({ code })));
    ws.once('close', () => this.shutDown());
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('error', () => {}); // a dropped client is a normal event for a fake; 'close' follows
    this.later(opts.welcomeDelayMs, () => this.welcome());
    this.watchIdle();
  }

  // ---- public API

  sendJson(msg: ServerJson): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.sent.push({ type: msg.type, at: Date.now() });
    this.ws.send(JSON.stringify(msg));
  }

  sendAudio(bytes: Buffer): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.sentAudioBytes += bytes.length;
    this.ws.send(bytes, { binary: true });
  }

  drop(): void {
    this.shutDown();
    this.ws.terminate();
  }

  error(code: string, description: string): void {
    this.sendJson({ type: 'Error', code, description });
    this.shutDown();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(ERROR_CLOSE_CODE, code);
  }

  dropDuringNextUtterance(afterBytes: number, then?: () => void): void {
    this.dropPlan = { afterBytes, then };
  }

  waitFor(pred: (m: ClientMessage) => boolean, timeoutMs = 2000): Promise<ClientMessage> {
    const seen = this.received.json.find((m): m is ClientMessage => isClientMessage(m) && pred(m));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const settle = (m: ClientMessage): void => {
        clearTimeout(timer);
        resolve(m);
      };
      const waiter: Waiter = { pred, resolve: settle };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`fake agent: no matching client message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  // ---- timers

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }

  /** One timer re-armed for the remaining time, instead of a new timer per audio frame. */
  private watchIdle(): void {
    const remaining = this.lastClientAudioAt + this.opts.clientMessageTimeoutMs - Date.now();
    if (remaining > 0) return this.later(remaining, () => this.watchIdle());
    this.error('CLIENT_MESSAGE_TIMEOUT', `No audio or KeepAlive received for ${this.opts.clientMessageTimeoutMs} ms`);
  }

  private shutDown(): void {
    this.phase = 'closed';
    this.cancelSpeech();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  // ---- handshake

  private welcome(): void {
    this.sendJson({ type: 'Welcome', request_id: randomUUID() });
    this.phase = 'awaiting-settings';
    for (const { data, isBinary } of this.held.splice(0)) this.onFrame(data, isBinary);
  }

  private onSettings(msg: Record<string, unknown>): void {
    const problem = validateSettings(msg);
    if (problem) return this.error('UNPARSABLE_CLIENT_MESSAGE', problem);
    this.settings = msg;
    this.phase = 'applying';
    // With no delay, apply at once: a timer would make "audio right after Settings" a race.
    if (this.opts.settingsAppliedDelayMs > 0) this.later(this.opts.settingsAppliedDelayMs, () => this.applySettings());
    else this.applySettings();
  }

  private applySettings(): void {
    this.phase = 'active';
    this.sendJson({ type: 'SettingsApplied' });
    const greeting = this.greetingText();
    if (greeting !== undefined && this.opts.mode === 'converse') void this.speak(greeting, this.opts.greetingAudio);
  }

  private greetingText(): string | undefined {
    const agent = (this.settings as { agent?: { greeting?: unknown } }).agent;
    return typeof agent?.greeting === 'string' ? agent.greeting : undefined;
  }

  private historyOn(): boolean {
    return (this.settings as { flags?: { history?: unknown } }).flags?.history === true;
  }

  // ---- inbound frames

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.phase === 'closed') return;
    if (this.phase === 'before-welcome') {
      this.held.push({ data, isBinary });
      return;
    }
    if (isBinary) this.onAudio(toBuffer(data));
    else this.onText(toBuffer(data).toString('utf8'));
  }

  private onAudio(bytes: Buffer): void {
    if (this.phase !== 'active') {
      return this.error('UNPARSABLE_CLIENT_MESSAGE', 'Binary audio received before SettingsApplied');
    }
    this.received.audioBytes += bytes.length;
    this.lastClientAudioAt = Date.now();
    if (this.opts.mode === 'echo') return this.sendAudio(bytes);
    for (const event of this.vad.push(bytes)) {
      if (event === 'start') this.onUserStartedSpeaking();
      else this.onUserTurn(`<turn ${this.userTurns + 1}>`);
    }
  }

  private onText(text: string): void {
    const msg = parseJson(text);
    if (msg !== undefined) this.received.json.push(msg);
    if (!isClientMessage(msg)) return this.error('UNPARSABLE_CLIENT_MESSAGE', 'Expected a JSON object with a string "type"');
    this.notifyWaiters(msg);
    if (this.phase === 'awaiting-settings') {
      if (msg.type === 'Settings') return this.onSettings(msg);
      return this.error('UNPARSABLE_CLIENT_MESSAGE', `Expected Settings as the first message, got ${msg.type}`);
    }
    if (msg.type === 'Settings') return this.error('UNPARSABLE_CLIENT_MESSAGE', 'Settings may only be sent once');
    const schema = CLIENT_MESSAGES[msg.type];
    if (!schema) return this.error('UNPARSABLE_CLIENT_MESSAGE', `Unknown message type ${msg.type}`);
    const problem = validate(msg, schema, msg.type);
    if (problem) return this.error('UNPARSABLE_CLIENT_MESSAGE', problem);
    if (this.phase === 'applying' && msg.type !== 'KeepAlive') {
      return this.error('UNPARSABLE_CLIENT_MESSAGE', `${msg.type} received before SettingsApplied`);
    }
    this.onClientMessage(msg);
  }

  private notifyWaiters(msg: ClientMessage): void {
    for (const waiter of this.waiters) {
      if (!waiter.pred(msg)) continue;
      this.waiters.delete(waiter);
      waiter.resolve(msg);
    }
  }

  /** A valid message after SettingsApplied. */
  private onClientMessage(msg: ClientMessage): void {
    switch (msg.type) {
      case 'KeepAlive':
        this.received.keepAlives++;
        this.lastClientAudioAt = Date.now();
        return;
      case 'FunctionCallResponse':
        return this.onFunctionCallResponse(msg as ClientMessage & { id: string; name: string; content: string });
      case 'UpdatePrompt':
        return this.sendJson({ type: 'PromptUpdated' });
      case 'UpdateSpeak':
        return this.sendJson({ type: 'SpeakUpdated' });
      case 'UpdateThink':
        return this.sendJson({ type: 'ThinkUpdated' });
      case 'UpdateListen':
        return this.sendJson({ type: 'ListenUpdated' });
      case 'InjectAgentMessage':
        return this.onInjectAgentMessage(String(msg.message), msg.behavior);
      case 'InjectUserMessage':
        return this.onUserTurn(String(msg.content));
    }
  }

  // ---- conversation

  private conversationText(role: 'user' | 'assistant', content: string): void {
    this.sendJson({ type: 'ConversationText', role, content });
    if (this.historyOn()) this.sendJson({ type: 'History', role, content });
  }

  private onUserStartedSpeaking(): void {
    this.sendJson({ type: 'UserStartedSpeaking' });
    this.cancelSpeech(); // barge-in: the rest of the reply is never sent
  }

  private onUserTurn(content: string): void {
    this.userTurns++;
    this.conversationText('user', content);
    const calls = this.opts.functionCallOnTurn.filter((c) => c.turn === this.userTurns);
    if (calls.length > 0) return this.requestFunctionCalls(calls);
    this.reply();
  }

  private requestFunctionCalls(calls: ResolvedOptions['functionCallOnTurn']): void {
    const functions = calls.map(({ name, arguments: args, reply }) => {
      const call = { id: randomUUID(), name, arguments: JSON.stringify(args), client_side: true };
      this.pendingCalls.set(call.id, { name, arguments: call.arguments, reply });
      return call;
    });
    this.sendJson({ type: 'FunctionCallRequest', functions });
  }

  private onFunctionCallResponse(msg: { id: string; name: string; content: string }): void {
    this.received.functionResponses.push(msg);
    const call = this.pendingCalls.get(msg.id);
    if (!call) return; // an unknown id: recorded, otherwise ignored (the service's answer is undocumented)
    this.pendingCalls.delete(msg.id);
    if (this.historyOn()) {
      const record = { id: msg.id, name: call.name, client_side: true, arguments: call.arguments, response: msg.content };
      this.sendJson({ type: 'History', function_calls: [record] });
    }
    if (call.name === 'end_call') this.hungUp = true;
    if (this.pendingCalls.size > 0) return;
    if (!call.reply) return this.reply();
    const { afterMs, thinkingAfterMs } = call.reply;
    if (thinkingAfterMs !== undefined) this.later(thinkingAfterMs, () => this.sendJson({ type: 'AgentThinking', content: '' }));
    this.later(afterMs, () => this.reply(true));
  }

  private onInjectAgentMessage(message: string, behavior: unknown): void {
    if (this.vad.speaking || (this.utterance && behavior !== 'interrupt')) {
      this.sendJson({ type: 'InjectionRefused', message: 'The user or the agent is speaking' });
      return;
    }
    void this.speak(message, this.nextReplyAudio());
  }

  /** Answers a turn with the next reply; after end_call only when `afterHangUp` (a goodbye). */
  private reply(afterHangUp = false): void {
    if ((this.hungUp && !afterHangUp) || this.opts.mode !== 'converse') return;
    void this.speak(REPLY_TEXT, this.nextReplyAudio()).then((finished) => {
      if (finished) this.sendLatencyReport();
    });
  }

  private nextReplyAudio(): Buffer {
    return this.opts.replyAudio[this.replies++ % this.opts.replyAudio.length]!;
  }

  /** Speaks one utterance; resolves true when it was sent in full, false when cut or closed. */
  private async speak(text: string, audio: Buffer): Promise<boolean> {
    this.cancelSpeech(); // one voice at a time: a new utterance replaces one still in flight
    const utterance: Utterance = { cancelled: false };
    this.utterance = utterance;
    this.conversationText('assistant', text);
    this.sendJson({ type: 'AgentStartedSpeaking', total_latency: 0.8, tts_latency: 0.2, ttt_latency: 0.6 });
    let sentBytes = 0;
    for (const chunk of this.chunks(audio)) {
      if (utterance.cancelled) return false;
      this.sendAudio(chunk);
      sentBytes += chunk.length;
      if (this.dropPlan && sentBytes >= this.dropPlan.afterBytes) return this.dropMidUtterance(this.dropPlan);
      await this.sleep(this.opts.replyPaceMs);
    }
    if (utterance.cancelled) return false;
    this.utterance = undefined;
    this.sendJson({ type: 'AgentAudioDone' });
    return true;
  }

  private dropMidUtterance(plan: NonNullable<Session['dropPlan']>): false {
    this.dropPlan = undefined;
    this.drop();
    plan.then?.();
    return false;
  }

  private cancelSpeech(): void {
    if (this.utterance) this.utterance.cancelled = true;
    this.utterance = undefined;
  }

  private *chunks(audio: Buffer): Generator<Buffer> {
    const [min, max] = this.opts.chunkBytes;
    for (let offset = 0; offset < audio.length; ) {
      const size = min + Math.floor(this.random() * (max - min + 1));
      yield audio.subarray(offset, offset + size);
      offset += size;
    }
  }

  private sendLatencyReport(): void {
    this.sendJson({
      type: 'LatencyReport',
      stt_latency: 0.1,
      ttt_token_latency: 0.4,
      ttt_text_latency: 0.5,
      tts_latency: 0.2,
      total_latency: 0.8,
    });
  }
}

function isClientMessage(value: unknown): value is ClientMessage {
  return isPlainObject(value) && typeof value.type === 'string';
}

// ---------------------------------------------------------------- the server

export class FakeDeepgramAgent {
  readonly sessions: FakeAgentSession[] = [];
  /** Mutable; each fault is consumed by the next session that connects. */
  faults: FakeAgentFaults = {};
  /** Upgrades refused (503) while a fault made the service unavailable. */
  refusedUpgrades = 0;
  private refuseUntil = 0;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sessionWaiters = new Set<() => void>();

  private constructor(
    private readonly server: http.Server,
    private readonly opts: ResolvedOptions,
    private readonly requireAuth: string | undefined,
  ) {
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.wss.on('connection', (ws, req) => this.onConnection(ws, req));
  }

  static async start(options: FakeAgentOptions = {}): Promise<FakeDeepgramAgent> {
    const opts = await resolveOptions(options);
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    const agent = new FakeDeepgramAgent(server, opts, options.requireAuth);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    return agent;
  }

  /** ws://127.0.0.1:PORT: the base URL for `new DeepgramClient({ baseUrl })`; the socket path is CONVERSE_PATH. */
  get url(): string {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('fake agent is not listening');
    return `ws://127.0.0.1:${address.port}`;
  }

  /** The `index`th session (0: the first ever), waiting for it to connect. */
  waitForSession(index = 0, timeoutMs = 2000): Promise<FakeAgentSession> {
    const existing = this.sessions[index];
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const session = this.sessions[index];
        if (!session) return;
        this.sessionWaiters.delete(check);
        clearTimeout(timer);
        resolve(session);
      };
      const timer = setTimeout(() => {
        this.sessionWaiters.delete(check);
        reject(new Error(`fake agent: session ${index} did not connect within ${timeoutMs} ms`));
      }, timeoutMs);
      this.sessionWaiters.add(check);
    });
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.drop();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    if (path !== CONVERSE_PATH) return rejectUpgrade(socket, 404, 'Not Found');
    if (Date.now() < this.refuseUntil) {
      this.refusedUpgrades++;
      return rejectUpgrade(socket, 503, 'Service Unavailable');
    }
    if (this.requireAuth !== undefined && req.headers.authorization !== this.requireAuth) {
      return rejectUpgrade(socket, 401, 'Unauthorized');
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    const session = new Session(ws, req, this.opts);
    this.applyFaults(session);
    this.sessions.push(session);
    for (const check of [...this.sessionWaiters]) check();
  }

  private applyFaults(session: Session): void {
    const { dropNextSessionAfterMs: dropMs, errorNextSessionAfterMs: err, dropNextSessionMidUtterance: mid } = this.faults;
    this.faults = {};
    if (mid !== undefined) session.dropDuringNextUtterance(mid.afterBytes, () => (this.refuseUntil = Date.now() + (mid.refuseForMs ?? 0)));
    // Session timers are cleared when it closes; these are too, through the closed promise.
    if (dropMs !== undefined) cancelOnClose(session, setTimeout(() => session.drop(), dropMs));
    if (err !== undefined) cancelOnClose(session, setTimeout(() => session.error(err.code, err.description), err.ms));
  }
}

function cancelOnClose(session: FakeAgentSession, timer: NodeJS.Timeout): void {
  void session.closed.then(() => clearTimeout(timer));
}

function rejectUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

async function resolveOptions(options: FakeAgentOptions): Promise<ResolvedOptions> {
  const needsFixtures = options.replyAudio === undefined || options.greetingAudio === undefined;
  const fixtures = needsFixtures ? await loadDefaultAudio() : undefined;
  const replyAudio = options.replyAudio ?? [fixtures!.reply];
  if (replyAudio.length === 0) throw new Error('fake agent: replyAudio must hold at least one buffer');
  const chunkBytes = options.chunkBytes ?? [100, 1500];
  if (chunkBytes[0] < 1 || chunkBytes[1] < chunkBytes[0]) throw new Error('fake agent: chunkBytes must be [min >= 1, max >= min]');
  return {
    replyAudio,
    greetingAudio: options.greetingAudio ?? fixtures!.greeting,
    mode: options.mode ?? 'converse',
    chunkBytes,
    replyPaceMs: options.replyPaceMs ?? 2,
    vad: options.vad,
    welcomeDelayMs: options.welcomeDelayMs ?? 0,
    settingsAppliedDelayMs: options.settingsAppliedDelayMs ?? 0,
    clientMessageTimeoutMs: options.clientMessageTimeoutMs ?? 10_000,
    functionCallOnTurn: options.functionCallOnTurn ?? [],
    seed: options.seed ?? 1,
  };
}
