// Fast path for the one frame that matters for CPU: Twilio `media`, 50 a second per call. A tiny
// tokenizer walks the UTF-8 bytes and decodes the base64 payload straight into the scratch
// buffer: no string for the frame, no JSON.parse, no string for the payload. It accepts a strict
// subset of JSON on which it agrees with parseInbound's JSON path; for anything else (escapes,
// non-ASCII, other events, numbers or base64 outside the plain form, other shapes) it returns
// undefined and the caller parses the frame with JSON.parse, which gives the result or the exact
// error. Both follow the same strict rules: decimal digits for numbers, standard base64 payloads.
import type { MediaEvent } from './protocol.js';

/**
 * Per-caller memory between frames: a stream's sid and track repeat on every frame, so their
 * strings are reused while the bytes match, and so is the audio view while its length does.
 * Written only by scanMediaFrame, which relies on the strings being ones it validated.
 */
export class MediaScanCache {
  streamSid = '';
  track = 'inbound';
  /** The scratch buffer `audio` views, and the view itself. */
  audioScratch: Buffer | undefined;
  audio: Buffer | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const EQUALS = 0x3d;
const ZERO = 0x30;
const NINE = 0x39;
/** decimal() takes strings of up to 15 digits; as many in a JSON integer are exact too. */
const MAX_DIGITS = 15;

// Keys, one bit each. The bits record which were seen: JSON.parse keeps the last of duplicates,
// which this does not try to mirror, so a duplicate sends the frame to the JSON path.
const EVENT = 1;
const SEQUENCE = 2;
const STREAM_SID = 4;
const MEDIA = 8;
const TRACK = 16;
const CHUNK = 32;
const TIMESTAMP = 64;
const PAYLOAD = 128;
const OUTER_KEYS = EVENT | SEQUENCE | STREAM_SID | MEDIA;
const MEDIA_KEYS = TRACK | CHUNK | TIMESTAMP | PAYLOAD;
const MEDIA_REQUIRED = CHUNK | TIMESTAMP | PAYLOAD;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Base64 value of each byte; 255 outside the standard alphabet ('=' and non-ASCII included). */
const B64 = new Uint8Array(256).fill(255);
/**
 * The 12 bits of each pair of base64 characters, indexed by first byte << 8 | second; 0xffff
 * when either is outside the alphabet. Two lookups per group of four instead of four.
 */
const B64_PAIR = new Uint16Array(65536).fill(0xffff);
for (let i = 0; i < 64; i++) {
  B64[ALPHABET.charCodeAt(i)] = i;
  for (let j = 0; j < 64; j++) B64_PAIR[(ALPHABET.charCodeAt(i) << 8) | ALPHABET.charCodeAt(j)] = (i << 6) | j;
}

const SHARED = new MediaScanCache();

// What the current scan found. Module state is safe: a scan runs to completion without yielding.
let sequenceAt = 0;
let chunkAt = 0;
let timestampAt = 0;
let hasTrack = false;
let audioBytes = 0;

/**
 * The media event in `bytes` (UTF-8 JSON), or undefined when this is not a media frame in the
 * plain layout Twilio sends. The audio is decoded into `scratch` and returned as a view of it.
 * Without a cache of the caller's own a shared one is used: correct, but fewer hits.
 */
export function scanMediaFrame(bytes: Buffer, scratch: Buffer, cache: MediaScanCache = SHARED): MediaEvent | undefined {
  const len = bytes.length;
  let p = skipSpace(bytes, 0);
  if (p >= len || bytes[p] !== OPEN) return undefined;
  let seen = 0;
  hasTrack = false;
  p = skipSpace(bytes, p + 1);
  for (;;) {
    // A top-level `{}` is no media frame either, so a key is required here.
    const k = keyAt(bytes, p);
    if (k < 0) return undefined;
    const key = k & OUTER_KEYS;
    if (key & seen) return undefined;
    seen |= key;
    p = skipSpace(bytes, k >> 8);
    if (bytes[p] !== COLON) return undefined;
    p = skipSpace(bytes, p + 1);
    switch (key) {
      case EVENT:
        // Every other event is rare: leave it to JSON.parse as soon as it shows.
        if (!isWord(bytes, p, 'media')) return undefined;
        p += 7;
        break;
      case SEQUENCE:
        sequenceAt = p;
        p = scanDecimal(bytes, p);
        break;
      case STREAM_SID: {
        const sid = stringAt(bytes, p, cache.streamSid);
        // The JSON path refuses an empty sid.
        if (!sid) return undefined;
        cache.streamSid = sid;
        p += sid.length + 2;
        break;
      }
      case MEDIA:
        p = scanMediaObject(bytes, p, scratch, cache);
        break;
      default:
        // A key parseInbound ignores. Only a plain string value, so skipping it is exact.
        p = scanString(bytes, p);
    }
    if (p < 0) return undefined;
    p = skipSpace(bytes, p);
    if (bytes[p] === COMMA) {
      p = skipSpace(bytes, p + 1);
      continue;
    }
    if (bytes[p] !== CLOSE) return undefined;
    break;
  }
  if (seen !== OUTER_KEYS || skipSpace(bytes, p + 1) !== len) return undefined;

  let audio = cache.audio;
  if (cache.audioScratch !== scratch || audio === undefined || audio.length !== audioBytes) {
    audio = scratch.subarray(0, audioBytes);
    cache.audio = audio;
    cache.audioScratch = scratch;
  }
  return {
    type: 'media',
    sequenceNumber: decimalAt(bytes, sequenceAt),
    streamSid: cache.streamSid,
    track: hasTrack ? cache.track : 'inbound',
    chunk: decimalAt(bytes, chunkAt),
    timestampMs: decimalAt(bytes, timestampAt),
    audio,
  };
}

/** The `media` object at `p`; returns the index after it, or -1. */
function scanMediaObject(bytes: Buffer, p: number, scratch: Buffer, cache: MediaScanCache): number {
  if (bytes[p] !== OPEN) return -1;
  let seen = 0;
  p = skipSpace(bytes, p + 1);
  for (;;) {
    const k = keyAt(bytes, p);
    if (k < 0) return -1;
    const key = k & MEDIA_KEYS;
    if (key & seen) return -1;
    seen |= key;
    p = skipSpace(bytes, k >> 8);
    if (bytes[p] !== COLON) return -1;
    p = skipSpace(bytes, p + 1);
    switch (key) {
      case TRACK: {
        // Any string is the track, even an empty one. Other types mean 'inbound' to the JSON
        // path; they are not worth mirroring.
        const track = stringAt(bytes, p, cache.track);
        if (track === undefined) return -1;
        cache.track = track;
        hasTrack = true;
        p += track.length + 2;
        break;
      }
      case CHUNK:
        chunkAt = p;
        p = scanDecimal(bytes, p);
        break;
      case TIMESTAMP:
        timestampAt = p;
        p = scanDecimal(bytes, p);
        break;
      case PAYLOAD:
        p = decodePayload(bytes, p, scratch);
        break;
      default:
        p = scanString(bytes, p);
    }
    if (p < 0) return -1;
    p = skipSpace(bytes, p);
    if (bytes[p] === COMMA) {
      p = skipSpace(bytes, p + 1);
      continue;
    }
    if (bytes[p] !== CLOSE) return -1;
    return (seen & MEDIA_REQUIRED) === MEDIA_REQUIRED ? p + 1 : -1;
  }
}

/**
 * Decodes the payload string at `p` into `scratch`, setting `audioBytes`; returns the index after
 * the closing quote, or -1. Takes standard base64 only, as the JSON path does: the standard
 * alphabet in whole groups of four, the last of them possibly padded. Anything else, an empty
 * payload and one too big for scratch go to JSON.parse, which refuses or decodes them.
 */
function decodePayload(bytes: Buffer, p: number, scratch: Buffer): number {
  const len = bytes.length;
  const room = scratch.length;
  if (bytes[p] !== QUOTE) return -1;
  let q = p + 1;
  let out = 0;
  while (q + 4 <= len) {
    const hi = B64_PAIR[(bytes[q]! << 8) | bytes[q + 1]!]!;
    const lo = B64_PAIR[(bytes[q + 2]! << 8) | bytes[q + 3]!]!;
    // 0xffff in either exceeds 12 bits: the end of the payload, padding or bad input.
    if ((hi | lo) > 0xfff) break;
    if (out + 3 > room) return -1;
    scratch[out] = hi >> 4;
    scratch[out + 1] = ((hi & 15) << 4) | (lo >> 8);
    scratch[out + 2] = lo & 255;
    out += 3;
    q += 4;
  }
  if (q < len && bytes[q] === QUOTE) {
    if (out === 0) return -1;
    audioBytes = out;
    return q + 1;
  }
  // A padded last group, then the quote. Leftover bits are dropped, as Node's decoder drops them.
  if (q + 5 > len || bytes[q + 3] !== EQUALS || bytes[q + 4] !== QUOTE) return -1;
  const hi = B64_PAIR[(bytes[q]! << 8) | bytes[q + 1]!]!;
  if (hi > 0xfff) return -1;
  const c = bytes[q + 2] === EQUALS ? -1 : B64[bytes[q + 2]!]!;
  if (c > 63) return -1;
  const n = c < 0 ? 1 : 2;
  if (out + n > room) return -1;
  scratch[out] = hi >> 4;
  if (n === 2) scratch[out + 1] = ((hi & 15) << 4) | (c >> 2);
  audioBytes = out + n;
  return q + 5;
}

/**
 * The key at `p`: (index after its closing quote) << 8 | its bit, the bit 0 for a key this does
 * not know; -1 when there is no plain key string there.
 */
function keyAt(bytes: Buffer, p: number): number {
  switch (bytes[p + 1]) {
    case 0x63 /* c */:
      if (isWord(bytes, p, 'chunk')) return ((p + 7) << 8) | CHUNK;
      break;
    case 0x65 /* e */:
      if (isWord(bytes, p, 'event')) return ((p + 7) << 8) | EVENT;
      break;
    case 0x6d /* m */:
      if (isWord(bytes, p, 'media')) return ((p + 7) << 8) | MEDIA;
      break;
    case 0x70 /* p */:
      if (isWord(bytes, p, 'payload')) return ((p + 9) << 8) | PAYLOAD;
      break;
    case 0x73 /* s */:
      if (isWord(bytes, p, 'streamSid')) return ((p + 11) << 8) | STREAM_SID;
      if (isWord(bytes, p, 'sequenceNumber')) return ((p + 16) << 8) | SEQUENCE;
      break;
    case 0x74 /* t */:
      if (isWord(bytes, p, 'track')) return ((p + 7) << 8) | TRACK;
      if (isWord(bytes, p, 'timestamp')) return ((p + 11) << 8) | TIMESTAMP;
      break;
  }
  const end = scanString(bytes, p);
  return end < 0 ? -1 : end << 8;
}

/** Whether the string at `p` is `word` (plain ASCII, no quote in it). */
function isWord(bytes: Buffer, p: number, word: string): boolean {
  const n = word.length;
  if (p + n + 2 > bytes.length || bytes[p] !== QUOTE || bytes[p + n + 1] !== QUOTE) return false;
  for (let i = 0; i < n; i++) if (bytes[p + 1 + i] !== word.charCodeAt(i)) return false;
  return true;
}

/**
 * The string at `p`, or undefined when it is not a plain one. `last` (a string this module
 * validated) comes back when the bytes spell it, so a repeating sid or track allocates nothing.
 * Its bytes are its characters, so it ends at p + length + 2.
 */
function stringAt(bytes: Buffer, p: number, last: string): string | undefined {
  if (isWord(bytes, p, last)) return last;
  const end = scanString(bytes, p);
  return end < 0 ? undefined : bytes.toString('latin1', p + 1, end - 1);
}

/**
 * Skips the string at `p`; returns the index after its closing quote, or -1. Printable ASCII
 * only: JSON.parse refuses control bytes, and escapes or non-ASCII would make the bytes differ
 * from the string.
 */
function scanString(bytes: Buffer, p: number): number {
  const len = bytes.length;
  if (p >= len || bytes[p] !== QUOTE) return -1;
  for (let q = p + 1; q < len; q++) {
    const c = bytes[q]!;
    if (c === QUOTE) return q + 1;
    if (c < 0x20 || c === BACKSLASH || c > 0x7f) return -1;
  }
  return -1;
}

/**
 * Skips a sequence number, chunk or timestamp at `p`: a string of 1..15 digits or a JSON integer
 * of up to 15 digits. Returns the index after it, or -1. Anything else (signs, spaces, fractions,
 * exponents, hex) is left to the JSON path, which refuses it in a string and judges a JSON number.
 */
function scanDecimal(bytes: Buffer, p: number): number {
  const len = bytes.length;
  const quoted = p < len && bytes[p] === QUOTE;
  const start = quoted ? p + 1 : p;
  let q = start;
  while (q < len && bytes[q]! >= ZERO && bytes[q]! <= NINE) q++;
  const digits = q - start;
  if (digits === 0 || digits > MAX_DIGITS) return -1;
  if (quoted) return q < len && bytes[q] === QUOTE ? q + 1 : -1;
  // JSON forbids leading zeros in numbers: JSON.parse would throw.
  return bytes[start] === ZERO && digits > 1 ? -1 : q;
}

/** The value of the decimal at `p`, which scanDecimal accepted. */
function decimalAt(bytes: Buffer, p: number): number {
  if (bytes[p] === QUOTE) p++;
  let n = 0;
  for (let c = bytes[p]!; c >= ZERO && c <= NINE; c = bytes[++p]!) n = n * 10 + (c - ZERO);
  return n;
}

function skipSpace(bytes: Buffer, p: number): number {
  const len = bytes.length;
  while (p < len) {
    const c = bytes[p]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    p++;
  }
  return p;
}
