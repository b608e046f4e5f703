// The console's pure parts, run in Node: reading the recording, finding turns and barge-ins in
// it, placing times on the picture, and the browser's side of a phone line (resampling, mu-law
// frames, marks echoed only after playback, clear) and of the Twilio protocol, whose frames the
// gateway's own parser must read.
import { expect } from 'chai';
import { MULAW_TO_PCM16, encodeMulawSample } from '../../src/audio/mulaw.js';
import { MIN_PLOT_WIDTH, PLOT_LEFT, PX_PER_SECOND, TimeScale, envelope } from '../../src/console/client/timeline/layout.js';
import { bargeIns, speechSegments, turnGaps } from '../../src/console/client/timeline/segments.js';
import { parseWav, WavFormatError } from '../../src/console/client/timeline/wav.js';
import { PhoneLine, type LineReport } from '../../src/console/client/talk/phone-line.js';
import { Downsampler } from '../../src/console/client/talk/resample.js';
import { TwilioSide, randomSid, readGatewayFrame } from '../../src/console/client/talk/twilio-side.js';
import { InboundParser, outboundFrames } from '../../src/twilio/protocol.js';

/** A 16-bit PCM WAV, written by hand (the console reads what the recorder writes: stereo, 8 kHz). */
function wavBytes(channels: Int16Array[], sampleRate = 8000, declaredDataBytes?: number): ArrayBuffer {
  const frames = channels[0]!.length;
  const data = frames * channels.length * 2;
  const buffer = new ArrayBuffer(44 + data);
  const view = new DataView(buffer);
  const tag = (at: number, text: string) => [...text].forEach((c, i) => view.setUint8(at + i, c.charCodeAt(0)));
  tag(0, 'RIFF');
  view.setUint32(4, 36 + data, true);
  tag(8, 'WAVE');
  tag(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, channels.length, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * channels.length * 2, true);
  view.setUint16(32, channels.length * 2, true);
  view.setUint16(34, 16, true);
  tag(36, 'data');
  view.setUint32(40, declaredDataBytes ?? data, true);
  for (let frame = 0; frame < frames; frame++) channels.forEach((channel, c) => view.setInt16(44 + (frame * channels.length + c) * 2, channel[frame]!, true));
  return buffer;
}

/** A tone from `fromS` to `toS` in a channel `totalS` long, at 8 kHz. */
function toneBetween(totalS: number, ...spans: Array<[number, number]>): Int16Array {
  const out = new Int16Array(totalS * 8000);
  for (const [from, to] of spans) for (let i = Math.round(from * 8000); i < Math.round(to * 8000); i++) out[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000));
  return out;
}

describe('console: reading a recording', () => {
  it('reads a stereo PCM16 WAV into channels, its duration from its sample count', () => {
    const left = Int16Array.from([0, 16384, -32768, 32767]);
    const right = Int16Array.from([100, -100, 0, 1]);
    const wav = parseWav(wavBytes([left, right]));
    expect(wav.sampleRate).to.equal(8000);
    expect(wav.frames).to.equal(4);
    expect(wav.durationS).to.equal(4 / 8000);
    expect([...wav.channels[0]!]).to.deep.equal([0, 0.5, -1, 32767 / 32768]);
    expect(wav.channels[1]![0]).to.equal(100 / 32768);
  });

  it('keeps the whole frames of a file whose header claims more (or no) data, as a recording being written has', () => {
    const channel = toneBetween(1, [0, 1]);
    expect(parseWav(wavBytes([channel, channel], 8000, 0)).frames).to.equal(8000);
    expect(parseWav(wavBytes([channel, channel], 8000, 0xffffffff)).frames).to.equal(8000);
  });

  it('refuses what is not 16-bit PCM WAV', () => {
    expect(() => parseWav(new TextEncoder().encode('not a wav at all').buffer)).to.throw(WavFormatError);
    const mulaw = new Uint8Array(wavBytes([Int16Array.from([1, 2])]));
    new DataView(mulaw.buffer).setUint16(20, 7, true);
    expect(() => parseWav(mulaw.buffer)).to.throw(WavFormatError, /16-bit PCM/);
  });
});

describe('console: turns and barge-ins read from the audio', () => {
  it('finds speech where the sound is, to the sample at its edges', () => {
    const segments = speechSegments(Float32Array.from(toneBetween(4, [0.5, 1.5], [2.25, 3]), (v) => v / 32768), 8000);
    expect(segments).to.have.length(2);
    expect(segments[0]!.start).to.be.closeTo(0.5, 0.001);
    expect(segments[0]!.end).to.be.closeTo(1.5, 0.001);
    expect(segments[1]!.start).to.be.closeTo(2.25, 0.001);
  });

  it('draws a turn gap from the caller’s end to the agent’s start, and a barge-in where the caller starts over the agent and the agent is cut', () => {
    const caller = [
      { start: 0.5, end: 2 },
      { start: 4, end: 5.5 },
    ];
    const agent = [
      { start: 2.4, end: 4.3 }, // answers the first turn; cut 0.3 s after the caller starts again
      { start: 6, end: 8 },
    ];
    expect(turnGaps(caller, agent)).to.deep.equal([
      { from: 2, to: 2.4 },
      { from: 5.5, to: 6 },
    ]);
    expect(bargeIns(caller, agent)).to.deep.equal([{ callerStart: 4, agentCut: 4.3 }]);
    // Speaking over an agent that goes on talking is no barge-in: nothing was cut.
    expect(bargeIns([{ start: 3, end: 3.5 }], [{ start: 2, end: 8 }])).to.deep.equal([]);
  });
});

describe('console: the timeline’s time axis', () => {
  it('puts a time at left + t / duration × width, and a click back at the same time', () => {
    const scale = new TimeScale(20);
    expect(scale.x(0)).to.equal(PLOT_LEFT);
    expect(scale.plotWidth).to.equal(MIN_PLOT_WIDTH);
    expect(scale.x(12.4)).to.be.closeTo(PLOT_LEFT + (12.4 / 20) * MIN_PLOT_WIDTH, 1e-9);
    expect(scale.seconds(scale.x(12.4))).to.be.closeTo(12.4, 1e-9);
    expect(scale.seconds(0)).to.equal(0);
    expect(scale.seconds(1e6)).to.equal(20);
  });

  it('gives a long call room (a fixed number of units per second) rather than squeezing it into the page', () => {
    const scale = new TimeScale(300);
    expect(scale.plotWidth).to.equal(300 * PX_PER_SECOND);
    expect(scale.x(150) - scale.x(149)).to.be.closeTo(PX_PER_SECOND, 1e-9);
    expect(scale.tickStep()).to.equal(5);
  });

  it('keeps every peak in the outline, however many samples a column holds', () => {
    const samples = new Float32Array(10_000);
    samples[7_777] = 0.9;
    samples[1_234] = -0.7;
    const { min, max } = envelope(samples, 100);
    expect(Math.max(...max)).to.be.closeTo(0.9, 1e-6);
    expect(Math.min(...min)).to.be.closeTo(-0.7, 1e-6);
    expect(max[77]).to.be.closeTo(0.9, 1e-6);
  });
});

describe('console: the browser’s phone line', () => {
  const reports = (line: (report: (r: LineReport) => void) => PhoneLine) => {
    const seen: LineReport[] = [];
    return { seen, line: line((r) => seen.push(r.type === 'frame' ? { type: 'frame', payload: r.payload.slice() } : r)) };
  };

  it('turns 48 kHz microphone blocks into 20 ms frames of 8 kHz mu-law', () => {
    const { seen, line } = reports((report) => new PhoneLine(48_000, report));
    // 0.1 s of a 400 Hz tone in 128-sample blocks, as a worklet gets it.
    const tone = Float32Array.from({ length: 4800 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 400 * i) / 48_000));
    for (let at = 0; at < tone.length; at += 128) line.capture(tone.subarray(at, at + 128));
    const frames = seen.filter((r) => r.type === 'frame');
    expect(frames).to.have.length(5);
    for (const frame of frames) expect(frame.payload.length).to.equal(160);
    // The tone survives: 400 Hz at 8 kHz is 20 samples a period, still about 0.5 high.
    const pcm = [...frames[2]!.payload].map((byte) => MULAW_TO_PCM16[byte]! / 32768);
    expect(Math.max(...pcm)).to.be.closeTo(0.5, 0.06);
    expect(pcm[5]).to.be.closeTo(pcm[25]!, 0.05);
  });

  it('downsamples any ratio (44.1 kHz too) to exactly 8000 samples a second', () => {
    const down = new Downsampler(44_100, 8000);
    let out = 0;
    for (let block = 0; block < 44_100 / 100; block++) down.push(new Float32Array(100), () => out++);
    expect(out).to.be.within(7999, 8000);
  });

  it('plays the agent’s audio and echoes a mark only once the audio before it has played; clear drops the rest and returns its marks', () => {
    const { seen, line } = reports((report) => new PhoneLine(48_000, report));
    const loud = encodeMulawSample(16000);
    line.enqueue(new Uint8Array(160).fill(loud)); // 20 ms
    line.mark('first');
    line.enqueue(new Uint8Array(1600).fill(loud)); // 200 ms
    line.mark('second');
    const block = new Float32Array(128);
    // 20 ms at 48 kHz is 960 samples: 7 blocks are 896, not yet all of it.
    for (let i = 0; i < 7; i++) line.render(block);
    expect(seen.filter((r) => r.type === 'mark-played')).to.deep.equal([]);
    expect(Math.max(...block)).to.be.greaterThan(0.4);
    line.render(block);
    expect(seen.filter((r) => r.type === 'mark-played')).to.deep.equal([{ type: 'mark-played', name: 'first' }]);
    line.clear();
    expect(seen.filter((r) => r.type === 'mark-played').map((r) => (r as { name: string }).name)).to.deep.equal(['first', 'second']);
    line.render(block);
    expect(Math.max(...block.map(Math.abs))).to.equal(0);
    expect(line.samplesPlayed).to.be.lessThan(1760);
  });
});

describe('console: Twilio’s side of the media stream', () => {
  const toBase64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  const random = (bytes: Uint8Array<ArrayBuffer>) => bytes.fill(0xab);

  it('builds frames the gateway’s own parser reads as Twilio’s: connected, start, media stamped 20 ms apart, mark, stop', () => {
    const ids = { streamSid: randomSid('MZ', random), callSid: randomSid('CA', random), accountSid: randomSid('AC', random) };
    expect(ids.callSid).to.match(/^CA[0-9a-f]{32}$/);
    const side = new TwilioSide(ids, toBase64);
    const parser = new InboundParser(Buffer.alloc(64 * 1024));
    const parsed = [...side.opening({ callId: 'call_1' }), side.media(new Uint8Array(160).fill(1)), side.media(new Uint8Array(160).fill(2)), side.markEcho('m1'), side.stop()].map((text) => {
      const result = parser.parse(text);
      if (!result.ok) throw new Error(`${result.error.kind}: ${result.error.detail}`);
      return result.event;
    });
    expect(parsed.map((e) => e.type)).to.deep.equal(['connected', 'start', 'media', 'media', 'mark', 'stop']);
    const start = parsed[1] as Extract<(typeof parsed)[number], { type: 'start' }>;
    expect(start.customParameters).to.deep.equal({ callId: 'call_1' });
    expect(start.mediaFormat).to.deep.equal({ encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 });
    const media = parsed.filter((e) => e.type === 'media');
    expect(media.map((e) => e.timestampMs)).to.deep.equal([0, 20]);
    expect(media.map((e) => e.sequenceNumber)).to.deep.equal([2, 3]);
    expect(side.sentMs).to.equal(40);
  });

  it('reads what the gateway sends: media, mark, clear', () => {
    const frames = outboundFrames('MZ1');
    const fromBase64 = (text: string) => Uint8Array.from(Buffer.from(text, 'base64'));
    expect(readGatewayFrame(frames.media(Buffer.from([1, 2, 3])), fromBase64)).to.deep.equal({ type: 'media', payload: Uint8Array.from([1, 2, 3]) });
    expect(readGatewayFrame(frames.mark('utterance-1'), fromBase64)).to.deep.equal({ type: 'mark', name: 'utterance-1' });
    expect(readGatewayFrame(frames.clear(), fromBase64)).to.deep.equal({ type: 'clear' });
    expect(readGatewayFrame('not json', fromBase64)).to.deep.equal({ type: 'other' });
  });
});
