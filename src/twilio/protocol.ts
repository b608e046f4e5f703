// Twilio Media Streams wire format: parse inbound text frames into typed events, build outbound
// frames. Pure functions and types only (plus InboundParser, which holds one call's buffers);
// nothing else in the code touches Twilio JSON.
import { isPlainObject } from '../util/plain-object.js';
import { MediaScanCache, scanMediaFrame } from './media-scan.js';

/** 20 ms of 8 kHz mu-law: 160 samples, one byte each. */
export const FRAME_BYTES = 160;
export const FRAME_MS = 20;
export const SAMPLE_RATE = 8000;
/** Mu-law encodes digital silence as 0xFF. */
export const MULAW_SILENCE = 0xff;
/** Inbound text frames larger than this are refused (a real media frame is about 400 bytes). */
export const MAX_INBOUND_FRAME_BYTES = 64 * 1024;

export interface ConnectedEvent {
  type: 'connected';
  protocol: string;
  version: string;
}

export interface StartEvent {
  type: 'start';
  sequenceNumber: number;
  streamSid: string;
  accountSid: string;
  callSid: string;
  tracks: string[];
  customParameters: Record<string, string>;
  mediaFormat: { encoding: string; sampleRate: number; channels: number };
}

export interface MediaEvent {
  type: 'media';
  sequenceNumber: number;
  streamSid: string;
  track: string;
  chunk: number;
  /** Milliseconds since the stream started (presentation time of the frame's first sample). */
  timestampMs: number;
  /** Decoded mu-law bytes. A view of the caller's scratch buffer: copy it to keep it past this call. */
  audio: Buffer;
}

export interface DtmfEvent {
  type: 'dtmf';
  sequenceNumber: number;
  streamSid: string;
  digit: string;
}

export interface MarkEvent {
  type: 'mark';
  sequenceNumber: number;
  streamSid: string;
  name: string;
}

export interface StopEvent {
  type: 'stop';
  sequenceNumber: number;
  streamSid: string;
  callSid: string | undefined;
}

export type InboundEvent = ConnectedEvent | StartEvent | MediaEvent | DtmfEvent | MarkEvent | StopEvent;

export type ProtocolErrorKind =
  | 'invalid_json'
  | 'not_an_object'
  | 'unknown_event'
  | 'missing_field'
  | 'bad_field'
  | 'bad_base64'
  | 'frame_too_large'
  | 'binary_frame';

export interface ProtocolError {
  kind: ProtocolErrorKind;
  detail: string;
}

export type ParseResult = { ok: true; event: InboundEvent } | { ok: false; error: ProtocolError };

const fail = (kind: ProtocolErrorKind, detail: string): ParseResult => ({ ok: false, error: { kind, detail } });

type Json = Record<string, unknown>;

/** The largest number decimal() takes: 15 digits are exact in a double, and far beyond any real count or time. */
const MAX_DECIMAL = 999_999_999_999_999;
const DIGIT_0 = 48;
const DIGIT_9 = 57;

/**
 * Twilio sends sequence numbers, chunks and timestamps as strings of decimal digits; a JSON
 * integer is taken too. Anything Number() would also read (" ", "0x10", "1e3", "-1", "1.5") is
 * refused: a field Twilio never sends that way is a broken or forged frame, not a number.
 */
function decimal(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= MAX_DECIMAL ? v + 0 /* -0 is 0 */ : undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 15) return undefined;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) return undefined;
    n = n * 10 + (c - DIGIT_0);
  }
  return n;
}

/** A required field missing or malformed: thrown inside parseEvent, turned into a bad frame by parseInbound. */
class ProtocolFieldError extends Error {
  constructor(
    readonly kind: 'missing_field' | 'bad_field',
    field: string,
  ) {
    super(field);
  }
}

function str(obj: Json, key: string, where: string): string {
  const v = obj[key];
  if (v === undefined || v === null) throw new ProtocolFieldError('missing_field', `${where}${key}`);
  if (typeof v !== 'string' || v.length === 0) throw new ProtocolFieldError('bad_field', `${where}${key}`);
  return v;
}

function num(obj: Json, key: string, where: string): number {
  const v = obj[key];
  if (v === undefined || v === null) throw new ProtocolFieldError('missing_field', `${where}${key}`);
  const n = decimal(v);
  if (n === undefined) throw new ProtocolFieldError('bad_field', `${where}${key}`);
  return n;
}

function obj(parent: Json, key: string, where = ''): Json {
  const v = parent[key];
  if (v === undefined || v === null) throw new ProtocolFieldError('missing_field', `${where}${key}`);
  if (!isPlainObject(v)) throw new ProtocolFieldError('bad_field', `${where}${key}`);
  return v;
}

/** The number of bytes a base64 string of this length (and padding) decodes to, if it is well formed. */
function base64DecodedLength(b64: string): number {
  const len = b64.length;
  let pad = 0;
  if (b64.charCodeAt(len - 1) === 61 /* = */) pad++;
  if (len > 1 && b64.charCodeAt(len - 2) === 61) pad++;
  return (len / 4) * 3 - pad;
}

/**
 * Decodes standard base64 into `scratch` (no allocation when it fits); undefined for anything
 * else. Node's decoder skips characters outside its alphabets, so a short write shows junk,
 * spaces and misplaced padding; it also takes base64url's '-' and '_', which Twilio never sends
 * and which are refused here first (two native scans, cheaper than a loop over the characters).
 */
function decodePayload(b64: string, scratch: Buffer): Buffer | undefined {
  if (b64.length % 4 !== 0 || b64.indexOf('-') >= 0 || b64.indexOf('_') >= 0) return undefined;
  const expected = base64DecodedLength(b64);
  const target = expected <= scratch.length ? scratch : Buffer.allocUnsafe(expected);
  const written = target.write(b64, 0, 'base64');
  return written === expected ? target.subarray(0, written) : undefined;
}

/**
 * Parses one inbound text frame, as a string or as the UTF-8 bytes the socket delivered. Bytes
 * holding a plain media frame skip JSON.parse (see media-scan.ts); every other frame, and any
 * media frame the scanner does not fully recognise, goes through JSON.parse with the same result.
 * `scratch` receives decoded media bytes; the returned event's `audio` is a view of it, valid
 * until the next call with the same scratch buffer. `cache` carries strings from frame to frame:
 * give each stream its own (InboundParser does) so they stay hits.
 */
export function parseInbound(data: string | Buffer, scratch: Buffer, cache?: MediaScanCache): ParseResult {
  if (data.length > MAX_INBOUND_FRAME_BYTES) return fail('frame_too_large', `${data.length} bytes`);
  if (typeof data !== 'string') {
    const media = scanMediaFrame(data, scratch, cache);
    if (media) return { ok: true, event: media };
  }
  let msg: unknown;
  try {
    msg = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return fail('invalid_json', 'frame is not JSON');
  }
  if (!isPlainObject(msg)) return fail('not_an_object', 'frame is not a JSON object');
  try {
    return parseEvent(msg, scratch);
  } catch (err) {
    if (err instanceof ProtocolFieldError) return fail(err.kind, err.message);
    throw err;
  }
}

/** One stream's inbound parsing: its scratch buffer for media and its scan cache. */
export class InboundParser {
  private readonly cache = new MediaScanCache();

  constructor(private readonly scratch: Buffer) {}

  parse(data: Buffer | string): ParseResult {
    return parseInbound(data, this.scratch, this.cache);
  }
}

function parseEvent(msg: Json, scratch: Buffer): ParseResult {
  switch (msg.event) {
    case 'media': {
      const media = obj(msg, 'media');
      const payload = str(media, 'payload', 'media.');
      const audio = decodePayload(payload, scratch);
      if (!audio) return fail('bad_base64', 'media.payload is not valid base64');
      return {
        ok: true,
        event: {
          type: 'media',
          sequenceNumber: num(msg, 'sequenceNumber', ''),
          streamSid: str(msg, 'streamSid', ''),
          track: typeof media.track === 'string' ? media.track : 'inbound',
          chunk: num(media, 'chunk', 'media.'),
          timestampMs: num(media, 'timestamp', 'media.'),
          audio,
        },
      };
    }
    case 'start': {
      const start = obj(msg, 'start');
      const format = obj(start, 'mediaFormat', 'start.');
      const params = start.customParameters;
      return {
        ok: true,
        event: {
          type: 'start',
          sequenceNumber: num(msg, 'sequenceNumber', ''),
          streamSid: str(msg, 'streamSid', ''),
          accountSid: str(start, 'accountSid', 'start.'),
          callSid: str(start, 'callSid', 'start.'),
          tracks: Array.isArray(start.tracks) ? start.tracks.filter((t): t is string => typeof t === 'string') : [],
          customParameters: isPlainObject(params) ? stringValues(params) : {},
          mediaFormat: {
            encoding: str(format, 'encoding', 'start.mediaFormat.'),
            sampleRate: num(format, 'sampleRate', 'start.mediaFormat.'),
            channels: num(format, 'channels', 'start.mediaFormat.'),
          },
        },
      };
    }
    case 'mark':
      return {
        ok: true,
        event: {
          type: 'mark',
          sequenceNumber: num(msg, 'sequenceNumber', ''),
          streamSid: str(msg, 'streamSid', ''),
          name: str(obj(msg, 'mark'), 'name', 'mark.'),
        },
      };
    case 'dtmf':
      return {
        ok: true,
        event: {
          type: 'dtmf',
          sequenceNumber: num(msg, 'sequenceNumber', ''),
          streamSid: str(msg, 'streamSid', ''),
          digit: str(obj(msg, 'dtmf'), 'digit', 'dtmf.'),
        },
      };
    case 'stop': {
      const stop = isPlainObject(msg.stop) ? msg.stop : {};
      return {
        ok: true,
        event: {
          type: 'stop',
          sequenceNumber: num(msg, 'sequenceNumber', ''),
          streamSid: str(msg, 'streamSid', ''),
          callSid: typeof stop.callSid === 'string' ? stop.callSid : undefined,
        },
      };
    }
    case 'connected':
      return {
        ok: true,
        event: {
          type: 'connected',
          protocol: typeof msg.protocol === 'string' ? msg.protocol : '',
          version: typeof msg.version === 'string' ? msg.version : '',
        },
      };
    case undefined:
      return fail('missing_field', 'event');
    default:
      return fail('unknown_event', `event "${String(msg.event).slice(0, 40)}"`);
  }
}

function stringValues(params: Json): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) {
    if (typeof value === 'string') out[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') out[key] = String(value);
  }
  return out;
}

/**
 * Outbound frames for one stream. The JSON around the payload is fixed per stream, so it is
 * escaped once and each media frame costs one base64 encode and one string concatenation.
 */
export interface OutboundFrames {
  media(audio: Buffer): string;
  mark(name: string): string;
  clear(): string;
}

export function outboundFrames(streamSid: string): OutboundFrames {
  const sid = JSON.stringify(streamSid);
  const mediaPrefix = `{"event":"media","streamSid":${sid},"media":{"payload":"`;
  const clearFrame = `{"event":"clear","streamSid":${sid}}`;
  return {
    media: (audio) => `${mediaPrefix}${audio.toString('base64')}"}}`,
    mark: (name) => `{"event":"mark","streamSid":${sid},"mark":{"name":${JSON.stringify(name)}}}`,
    clear: () => clearFrame,
  };
}

/** The formats this gateway can carry: 8 kHz mono mu-law, as Twilio documents it. */
export function isSupportedMediaFormat(format: StartEvent['mediaFormat']): boolean {
  return format.encoding === 'audio/x-mulaw' && format.sampleRate === SAMPLE_RATE && format.channels === 1;
}
