import { expect } from 'chai';
import { MediaScanCache, scanMediaFrame } from '../../src/twilio/media-scan.js';
import { FRAME_BYTES, InboundParser, MAX_INBOUND_FRAME_BYTES, parseInbound, type ParseResult } from '../../src/twilio/protocol.js';
import { seededRandom } from '../../tools/seeded-random.js';

const SID = 'MZ00000000000000000000000000000001';
/** Smaller than the largest generated payload, so some variants do not fit and must fall back. */
const SCRATCH_BYTES = 300;

/** A Twilio media frame in the exact layout Twilio sends (key order, decimal strings). */
const twilioFrame = (payload: string, seq = 4, chunk = 2, timestamp = 5, sid = SID) =>
  `{"event":"media","sequenceNumber":"${seq}","media":{"track":"inbound","chunk":"${chunk}","timestamp":"${timestamp}","payload":"${payload}"},"streamSid":"${sid}"}`;

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)]!;
const chance = (rng: Rng, p: number) => rng() < p;

/** A ParseResult with the audio as plain bytes, so two results compare with deep equality. */
function comparable(result: ParseResult): unknown {
  if (!result.ok || result.event.type !== 'media') return result;
  return { ok: true, event: { ...result.event, audio: Array.from(result.event.audio) } };
}

/**
 * The oracle: Twilio's media frame rules read on JSON.parse's output with regular expressions, not
 * with the project's parser. Numbers are strings of 1-15 decimal digits (or a JSON integer of up
 * to 15 digits), the payload is standard base64, the sid a non-empty string, a non-string track
 * means 'inbound'. A broken frame may be reported by any of its faults, so the oracle lists them all.
 */
type Expected =
  | { kind: 'media'; event: { type: 'media'; sequenceNumber: number; streamSid: string; track: string; chunk: number; timestampMs: number; audio: number[] } }
  | { kind: 'error'; faults: Set<string> }
  | { kind: 'not_media' };

const DECIMAL_STRING = /^[0-9]{1,15}$/;
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const OTHER_EVENTS = ['connected', 'start', 'mark', 'dtmf', 'stop'];
const isJsonObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function oracle(text: string): Expected {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { kind: 'error', faults: new Set(['invalid_json']) };
  }
  if (!isJsonObject(msg)) return { kind: 'error', faults: new Set(['not_an_object']) };
  if (msg.event === undefined) return { kind: 'error', faults: new Set(['missing_field']) };
  if (typeof msg.event === 'string' && OTHER_EVENTS.includes(msg.event)) return { kind: 'not_media' };
  if (msg.event !== 'media') return { kind: 'error', faults: new Set(['unknown_event']) };
  const faults = new Set<string>();
  const present = (v: unknown) => v !== undefined && v !== null;
  const decimalOf = (v: unknown): number | undefined => {
    if (!present(v)) return void faults.add('missing_field');
    if (typeof v === 'string' && DECIMAL_STRING.test(v)) return Number(v);
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 999_999_999_999_999) return v === 0 ? 0 : v;
    faults.add('bad_field');
    return undefined;
  };
  const stringOf = (v: unknown): string | undefined => {
    if (!present(v)) return void faults.add('missing_field');
    if (typeof v === 'string' && v !== '') return v;
    faults.add('bad_field');
    return undefined;
  };
  const sequenceNumber = decimalOf(msg.sequenceNumber);
  const streamSid = stringOf(msg.streamSid);
  if (!present(msg.media)) faults.add('missing_field');
  else if (!isJsonObject(msg.media)) faults.add('bad_field');
  const media = isJsonObject(msg.media) ? msg.media : {};
  const chunk = decimalOf(media.chunk);
  const timestampMs = decimalOf(media.timestamp);
  const payload = stringOf(media.payload);
  if (payload !== undefined && !STANDARD_BASE64.test(payload)) faults.add('bad_base64');
  if (faults.size > 0) return { kind: 'error', faults };
  const track = typeof media.track === 'string' ? media.track : 'inbound';
  const audio = Array.from(Buffer.from(payload!, 'base64'));
  return { kind: 'media', event: { type: 'media', sequenceNumber: sequenceNumber!, streamSid: streamSid!, track, chunk: chunk!, timestampMs: timestampMs!, audio } };
}

/** Asserts that a parse result is the oracle's verdict. */
function expectVerdict(result: ParseResult, expected: Expected, what: string): void {
  if (expected.kind === 'media') return void expect(comparable(result), what).to.deep.equal({ ok: true, event: expected.event });
  if (expected.kind === 'not_media') return void expect(result.ok && result.event.type === 'media', what).to.equal(false);
  expect(result.ok ? 'ok' : result.error.kind, what).to.be.oneOf([...expected.faults]);
}

/** One object as JSON fragments: quoted key and raw value, so values can be anything, even broken. */
type Entry = [key: string, value: string];

function spacing(rng: Rng, spaced: boolean): string {
  if (!spaced || chance(rng, 0.5)) return '';
  let out = '';
  for (let n = 1 + int(rng, 3); n > 0; n--) out += pick(rng, [' ', '\t', '\n', '\r']);
  return out;
}

function render(rng: Rng, entries: Entry[], spaced: boolean): string {
  const sp = () => spacing(rng, spaced);
  const body = entries.map(([k, v]) => `${k}${sp()}:${sp()}${v}`);
  let out = `{${sp()}`;
  body.forEach((e, i) => (out += (i === 0 ? '' : `${sp()},${sp()}`) + e));
  return `${out}${sp()}}`;
}

function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = int(rng, i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

const SIDS = [SID, 'MZ00000000000000000000000000000002', 'MZffffffffffffffffffffffffffffffff', 'MZ1'];

/** A decimal field as a decimal string or a JSON integer, as the JSON path's decimal() takes both. */
function decimalValue(rng: Rng): string {
  const n = pick(rng, [0, 1, 7, int(rng, 1000), int(rng, 1e9), 999_999_999_999_999]);
  if (chance(rng, 0.1)) return `"00${n}"`; // leading zeros: fine in a string
  return chance(rng, 0.5) ? `"${n}"` : String(n);
}

function payloadValue(rng: Rng): string {
  const bytes = Buffer.from(Array.from({ length: int(rng, 401) }, () => int(rng, 256)));
  let b64 = bytes.toString('base64');
  // Leftover bits in the last padded group: not canonical, but Node decodes it and drops them.
  if (b64.endsWith('=') && chance(rng, 0.2)) {
    const at = b64.length - (b64.endsWith('==') ? 3 : 2);
    b64 = b64.slice(0, at) + pick(rng, ['B', 'P', 'f', '/', '9']) + b64.slice(at + 1);
  }
  return `"${b64}"`;
}

/** Stands for the rendered media object until a breaker replaces it. */
const MEDIA_OBJECT = '<media>';

interface Variant {
  top: Entry[];
  media: Entry[];
  /** Applied to the rendered text. */
  text?: (text: string) => string;
  /** Breaks the frame or puts it outside the scanner's subset: the fast path may not take it. */
  unusual: boolean;
}

function validVariant(rng: Rng): Variant {
  const media: Entry[] = [
    ['"chunk"', decimalValue(rng)],
    ['"timestamp"', decimalValue(rng)],
    ['"payload"', payloadValue(rng)],
  ];
  const track = pick(rng, ['inbound', 'outbound', '', undefined]);
  if (track !== undefined) media.push(['"track"', `"${track}"`]);
  const top: Entry[] = [
    ['"event"', '"media"'],
    ['"sequenceNumber"', decimalValue(rng)],
    ['"streamSid"', `"${pick(rng, SIDS)}"`],
    ['"media"', MEDIA_OBJECT],
  ];
  // Fields Twilio might add, plain strings: skipped on the fast path, even with a name known one level away.
  const extra = (names: string[]): Entry => [`"${pick(rng, names)}"`, `"${pick(rng, ['', 'v', 'some text', '{[,:]}'])}"`];
  for (let n = int(rng, 3); n > 0; n--) top.push(extra(['extra', 'x', 'accountSid', 'payload', 'track', 'chunk']));
  for (let n = int(rng, 3); n > 0; n--) media.push(extra(['extra', 'x', 'media', 'event', 'streamSid', 'sequenceNumber']));
  return { top, media, unusual: false };
}

const find = (entries: Entry[], key: string) => entries.findIndex(([k]) => k === `"${key}"`);

function setValue(entries: Entry[], key: string, value: string): void {
  const at = find(entries, key);
  if (at >= 0) entries[at]![1] = value;
  else entries.push([`"${key}"`, value]);
}

/** Breakers: each makes a variant broken or unusual. Most must fall back; all must agree. */
const BREAKERS: Record<string, (rng: Rng, v: Variant) => void> = {
  badBase64Char(rng, v) {
    const at = find(v.media, 'payload');
    const value = v.media[at]![1];
    if (value.length < 3) return void (v.media[at]![1] = `"${pick(rng, ['!!!!', 'AA-A', 'AA_A'])}"`);
    const i = 1 + int(rng, value.length - 2);
    v.media[at]![1] = value.slice(0, i) + pick(rng, ['!', '*', '-', '_', ' ', '=', 'é', '.']) + value.slice(i + 1);
  },
  base64Length(rng, v) {
    const at = find(v.media, 'payload');
    const value = v.media[at]![1];
    v.media[at]![1] = chance(rng, 0.5) || value.length < 3 ? `${value.slice(0, -1)}A"` : `${value.slice(0, -2)}"`;
  },
  badPadding(rng, v) {
    setValue(v.media, 'payload', `"${pick(rng, ['A===', '====', 'AA=A', 'AA==AAAA', 'A', 'AAAA=', 'AAAA==', 'AAAAA==='])}"`);
  },
  escape(rng, v) {
    const where = pick(rng, ['sid', 'track', 'key', 'extra', 'payload', 'event']);
    if (where === 'sid') setValue(v.top, 'streamSid', pick(rng, ['"MZ\\u0041BC"', '"MZ\\/1"', '"MZ\\"x"', '"\\u004dZ1"']));
    else if (where === 'track') setValue(v.media, 'track', '"in\\u0062ound"');
    else if (where === 'key') v.top[find(v.top, 'event')]![0] = pick(rng, ['"\\u0065vent"', '"even\\u0074"']);
    else if (where === 'extra') v.top.push(['"note"', '"a\\nb"']);
    else if (where === 'payload') setValue(v.media, 'payload', '"AAAA\\u0041AAA"');
    else setValue(v.top, 'event', '"medi\\u0061"');
  },
  nonAscii(rng, v) {
    const text = pick(rng, ['MZé1', 'MZ😀', 'MZ\u00a0', 'MZ\u2028x']);
    if (chance(rng, 0.7)) setValue(v.top, 'streamSid', `"${text}"`);
    else if (chance(rng, 0.5)) setValue(v.media, 'track', '"inbóund"');
    else v.top.push(['"ünknown"', '"x"']);
  },
  controlChar(rng, v) {
    setValue(v.top, 'streamSid', `"MZ${pick(rng, ['\t', '\u0001', '\n', '\u001f'])}1"`);
  },
  missingField(rng, v) {
    const key = pick(rng, ['event', 'sequenceNumber', 'streamSid', 'media', 'chunk', 'timestamp', 'payload']);
    const entries = ['chunk', 'timestamp', 'payload'].includes(key) ? v.media : v.top;
    entries.splice(find(entries, key), 1);
  },
  wrongType(rng, v) {
    const key = pick(rng, ['sequenceNumber', 'chunk', 'timestamp', 'streamSid', 'payload', 'track', 'media']);
    const value = pick(rng, [
      'null', 'true', '1.5', '-1', '-0', '[]', '{}', '""', '"abc"', '"-1"', '" 4"', '"4 "', '"1e3"', '"0x10"', '"+4"', '"4.0"',
      '1e3', '4.0', '4E0', '007', '00', '1234567890123456', '"1234567890123456"', '"Infinity"', '[1]', '{"a":"b"}',
      // What Number() reads but Twilio never sends: each a bad field, not 0, 16, 1000, 3, 7, 4 or 1.
      '" "', '"0x10"', '"0b11"', '"0o7"', '"4\\n"', '"\\t4"', '"1.5"', '""', '"1_000"',
    ]);
    setValue(['sequenceNumber', 'streamSid', 'media'].includes(key) ? v.top : v.media, key, value);
  },
  base64url(rng, v) {
    // The URL-safe alphabet Node's decoder also takes: '-' and '_' for '+' and '/', often unpadded.
    const at = find(v.media, 'payload');
    let b64 = v.media[at]![1].slice(1, -1).replace(/\+/g, '-').replace(/\//g, '_');
    if (!/[-_]/.test(b64)) b64 = pick(rng, ['-', '_']) + b64.slice(1);
    if (chance(rng, 0.3)) b64 = b64.replace(/=+$/, '');
    v.media[at]![1] = `"${b64}"`;
  },
  truncated(rng, v) {
    v.text = (text) => text.slice(0, int(rng, text.length));
  },
  trailing(rng, v) {
    const tail = pick(rng, ['x', ',{}', '}', '{}', ',', '\u0000', ' 1', '"', ']']);
    v.text = (text) => text + spacing(rng, true) + tail;
  },
  leading(rng, v) {
    const around = pick<[string, string]>(rng, [['\ufeff', ''], ['[', ']'], ['x', ''], ['"', '"'], ['{"a":', '}']]);
    v.text = (text) => around[0] + text + around[1];
  },
  duplicateKey(rng, v) {
    const entries = chance(rng, 0.5) ? v.top : v.media;
    const [key, value] = pick(rng, entries);
    entries.push([key, chance(rng, 0.5) ? value : pick(rng, ['"1"', '"MZ9"', '"AAAA"', '"media"', '"start"'])]);
  },
  otherEvent(rng, v) {
    setValue(v.top, 'event', pick(rng, ['"start"', '"mark"', '"stop"', '"dtmf"', '"connected"', '"Media"', '"media "', '"mediax"', '""', '5', 'null', '{}']));
  },
  nestedJunk(rng, v) {
    const value = pick(rng, ['{}', '[]', '[1,2]', '{"a":{"b":[]}}', '1', 'true', 'false', 'null', '-2.5e3']);
    (chance(rng, 0.5) ? v.top : v.media).push([`"${pick(rng, ['junk', 'extra', 'start'])}"`, value]);
  },
  nonStringTrack(rng, v) {
    setValue(v.media, 'track', pick(rng, ['null', '1', 'true', '{}']));
  },
  emptyObjects(rng, v) {
    if (chance(rng, 0.5)) setValue(v.top, 'media', '{}');
    else v.text = () => pick(rng, ['{}', ' { } ', '', ' ', 'null', '"media"', '[]']);
  },
};

function build(rng: Rng, breaker: string | undefined): { text: string; unusual: boolean } {
  const v = validVariant(rng);
  if (breaker) {
    BREAKERS[breaker]!(rng, v);
    v.unusual = true;
  }
  const spaced = chance(rng, 0.4);
  const media = render(rng, shuffle(rng, v.media), spaced);
  const entries = v.top.map(([k, val]): Entry => [k, val === MEDIA_OBJECT ? media : val]);
  let text = spacing(rng, spaced) + render(rng, shuffle(rng, entries), spaced) + spacing(rng, spaced);
  if (v.text) text = v.text(text);
  return { text, unusual: v.unusual };
}

describe('twilio/media-scan', () => {
  it('takes the canonical Twilio layout on the fast path, exactly as the JSON path parses it', () => {
    const audio = Buffer.alloc(FRAME_BYTES, 0x7f);
    audio[0] = 0x01;
    const text = twilioFrame(audio.toString('base64'));
    const scratch = Buffer.alloc(1024);
    const event = scanMediaFrame(Buffer.from(text), scratch, new MediaScanCache());
    expect(event).to.not.equal(undefined);
    expect(event).to.deep.equal({ type: 'media', sequenceNumber: 4, streamSid: SID, track: 'inbound', chunk: 2, timestampMs: 5, audio });
    const viaJson = parseInbound(text, Buffer.alloc(1024));
    expect(comparable({ ok: true, event: event! })).to.deep.equal(comparable(viaJson));
  });

  it('is what parseInbound uses for bytes', () => {
    const cache = new MediaScanCache();
    const result = parseInbound(Buffer.from(twilioFrame('AAAA', 1, 1, 0, 'MZ42')), Buffer.alloc(64), cache);
    expect(result.ok).to.equal(true);
    // Only the scanner writes the cache.
    expect(cache.streamSid).to.equal('MZ42');
  });

  it('returns audio as a view of scratch, current after every frame', () => {
    const scratch = Buffer.alloc(1024);
    const parser = new InboundParser(scratch);
    let previous: Buffer | undefined;
    for (const [k, length] of [160, 160, 2, 1, 320, 160].entries()) {
      const audio = Buffer.alloc(length, 0x10 + k);
      const result = parser.parse(Buffer.from(twilioFrame(audio.toString('base64'), k + 1, k + 1, k * 20)));
      if (!result.ok || result.event.type !== 'media') throw new Error('not media');
      const got = result.event.audio;
      expect(got.buffer).to.equal(scratch.buffer);
      expect(got.byteOffset).to.equal(scratch.byteOffset);
      expect(got.equals(audio)).to.equal(true);
      if (previous && previous.length === length) expect(got).to.equal(previous); // the view is reused
      previous = got;
    }
  });

  it('notices when the cached stream sid or track no longer matches', () => {
    const cache = new MediaScanCache();
    const scratch = Buffer.alloc(64);
    expect(scanMediaFrame(Buffer.from(twilioFrame('AAAA', 1, 1, 0, 'MZ0001')), scratch, cache)!.streamSid).to.equal('MZ0001');
    expect(scanMediaFrame(Buffer.from(twilioFrame('AAAA', 2, 2, 20, 'MZ0001')), scratch, cache)!.streamSid).to.equal('MZ0001');
    // Same length, one byte apart.
    const other = scanMediaFrame(Buffer.from(twilioFrame('AAAA', 3, 3, 40, 'MZ0002')), scratch, cache)!;
    expect(other.streamSid).to.equal('MZ0002');
    const outbound = scanMediaFrame(Buffer.from(twilioFrame('AAAA').replace('"inbound"', '"outbound"')), scratch, cache)!;
    expect(outbound.track).to.equal('outbound');
    const untracked = scanMediaFrame(Buffer.from(twilioFrame('AAAA').replace('"track":"inbound",', '')), scratch, cache)!;
    expect(untracked.track).to.equal('inbound');
  });

  it('refuses what it does not fully recognise, for the JSON path to judge', () => {
    const frame = twilioFrame('AAAA');
    const refused = [
      frame.replace('"sequenceNumber":"4"', '"sequenceNumber":"4","sequenceNumber":"5"'),
      frame.replace('"streamSid":', '"streamSid":"MZ0","streamSid":'),
      frame.replace('"event":"media"', '"event":"media","event":"media"'),
      frame.replace('"chunk":"2"', '"chunk":"2","chunk":"2"'),
      frame.replace('"payload":', '"payload":"AAAA","payload":'),
      // JSON.parse keeps the second media object, which has no track: the track would be 'inbound'.
      '{"event":"media","sequenceNumber":"4","media":{"track":"outbound","chunk":"1","timestamp":"1","payload":"AAAA"},' +
        '"media":{"chunk":"2","timestamp":"5","payload":"AAAA"},"streamSid":"MZ1"}',
      frame.replace('"4"', '4.0'),
      frame.replace('"4"', '"4.0"'),
      frame.replace('"4"', '"0x4"'),
      frame.replace('"4"', '-4'),
      frame.replace('"4"', '04'),
      frame.replace('"MZ', '"M\\u005a'),
      frame.replace('"inbound"', 'null'),
      frame.replace('AAAA', 'AA-A'),
      frame.replace('AAAA', 'AA=='.repeat(2)),
      frame.replace('AAAA', ''),
      frame.replace('"event":"media"', '"event":"start"'),
      `${frame}x`,
      `${frame}}`,
      `\ufeff${frame}`,
      frame.slice(0, -1),
      frame.replace('}', ',"junk":{}}'),
      frame.replace('}', ',"junk":1}'),
    ];
    for (const text of refused) expect(scanMediaFrame(Buffer.from(text), Buffer.alloc(64)), text).to.equal(undefined);
    // Sanity: the unmodified frame and plain extra strings are taken.
    expect(scanMediaFrame(Buffer.from(frame), Buffer.alloc(64))).to.not.equal(undefined);
    expect(scanMediaFrame(Buffer.from(frame.replace('{', '{ "extra" : "x" ,')), Buffer.alloc(64))).to.not.equal(undefined);
  });

  it('leaves payloads that do not fit scratch to the JSON path, which allocates', () => {
    const audio = Buffer.alloc(400, 0x55);
    const bytes = Buffer.from(twilioFrame(audio.toString('base64')));
    expect(scanMediaFrame(bytes, Buffer.alloc(399))).to.equal(undefined);
    expect(scanMediaFrame(bytes, Buffer.alloc(400))).to.not.equal(undefined);
    const result = parseInbound(bytes, Buffer.alloc(399));
    if (!result.ok || result.event.type !== 'media') throw new Error('not media');
    expect(result.event.audio.equals(audio)).to.equal(true);
  });

  it('keeps the size limit and the JSON path errors for bytes', () => {
    const scratch = Buffer.alloc(64);
    const big = parseInbound(Buffer.from(twilioFrame('A'.repeat(MAX_INBOUND_FRAME_BYTES))), scratch);
    expect(big.ok ? 'ok' : big.error.kind).to.equal('frame_too_large');
    for (const [text, kind] of [
      ['{not json', 'invalid_json'],
      ['[1,2]', 'not_an_object'],
      ['{"event":"teleport"}', 'unknown_event'],
      [twilioFrame('AA*A'), 'bad_base64'],
      [twilioFrame('AAAA', 1).replace('"1"', '"one"'), 'bad_field'],
      [twilioFrame('').replace('"payload":"",', ''), 'bad_field'],
    ] as const) {
      const result = parseInbound(Buffer.from(text), scratch);
      expect(result.ok ? 'ok' : result.error.kind, text).to.equal(kind);
    }
    expect(new InboundParser(scratch).parse(Buffer.from('{"event":"connected","protocol":"Call","version":"1.0.0"}'))).to.deep.equal({
      ok: true,
      event: { type: 'connected', protocol: 'Call', version: '1.0.0' },
    });
  });

  it('agrees with the JSON path and an independent oracle on thousands of generated frames, valid and broken', () => {
    const rng = seededRandom(0x5eed);
    const bytesParser = new InboundParser(Buffer.alloc(SCRATCH_BYTES));
    const textScratch = Buffer.alloc(SCRATCH_BYTES);
    const scanScratch = Buffer.alloc(SCRATCH_BYTES);
    const scanCache = new MediaScanCache();
    const breakers = Object.keys(BREAKERS);
    const counts = { fast: 0, fastExpected: 0, fallback: 0, ok: 0, errors: new Map<string, number>() };
    for (let i = 0; i < 8000; i++) {
      const breaker = chance(rng, 0.4) ? undefined : pick(rng, breakers);
      const { text, unusual } = build(rng, breaker);
      const bytes = Buffer.from(text, 'utf8');
      const expected = oracle(text);
      const viaJson = parseInbound(text, textScratch);
      const viaBytes = bytesParser.parse(bytes);
      expectVerdict(viaJson, expected, `JSON path, ${breaker ?? 'valid'}: ${text}`);
      expect(comparable(viaBytes), `${breaker ?? 'valid'}: ${text}`).to.deep.equal(comparable(viaJson));

      const scanned = scanMediaFrame(bytes, scanScratch, scanCache);
      if (scanned) {
        counts.fast++;
        expectVerdict({ ok: true, event: scanned }, expected, `scanner: ${text}`);
      } else counts.fallback++;
      // Every well-formed frame whose audio fits must take the fast path.
      if (!unusual && viaJson.ok && viaJson.event.type === 'media' && viaJson.event.audio.length <= SCRATCH_BYTES) {
        counts.fastExpected++;
        expect(scanned, `fast path refused: ${text}`).to.not.equal(undefined);
      }
      if (viaJson.ok) counts.ok++;
      else counts.errors.set(viaJson.error.kind, (counts.errors.get(viaJson.error.kind) ?? 0) + 1);
    }
    // The generator reaches both paths and every kind of verdict.
    expect(counts.fastExpected).to.be.above(1500);
    expect(counts.fast).to.be.at.least(counts.fastExpected);
    expect(counts.fallback).to.be.above(3000);
    expect([...counts.errors.keys()].sort()).to.deep.equal(['bad_base64', 'bad_field', 'invalid_json', 'missing_field', 'not_an_object', 'unknown_event']);
  });

  it('agrees with the JSON path on bytes that are not valid UTF-8', () => {
    const rng = seededRandom(7);
    const scratch = Buffer.alloc(SCRATCH_BYTES);
    const parser = new InboundParser(Buffer.alloc(SCRATCH_BYTES));
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.from(twilioFrame(Buffer.alloc(int(rng, 200), i).toString('base64'), i, i, i * 20));
      const at = int(rng, bytes.length);
      bytes[at] = pick(rng, [0x80, 0xbf, 0xc3, 0xe2, 0xf0, 0xff]);
      expect(comparable(parser.parse(bytes))).to.deep.equal(comparable(parseInbound(bytes.toString('utf8'), scratch)));
    }
  });
});
