import { expect } from 'chai';
import {
  FRAME_BYTES,
  isSupportedMediaFormat,
  outboundFrames,
  parseInbound,
  type InboundEvent,
  type ParseResult,
} from '../../src/twilio/protocol.js';

const SID = 'MZ00000000000000000000000000000001';
const scratch = Buffer.alloc(4096);

function ok(result: ParseResult): InboundEvent {
  if (!result.ok) throw new Error(`expected ok, got ${result.error.kind}: ${result.error.detail}`);
  return result.event;
}

function errorKind(text: string): string {
  const result = parseInbound(text, scratch);
  if (result.ok) throw new Error(`expected an error for ${text}`);
  return result.error.kind;
}

const media = (payload: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    event: 'media',
    sequenceNumber: '2',
    streamSid: SID,
    media: { track: 'inbound', chunk: '1', timestamp: '20', payload },
    ...extra,
  });

describe('twilio/protocol', () => {
  describe('parseInbound', () => {
    it('parses connected', () => {
      const event = ok(parseInbound('{"event":"connected","protocol":"Call","version":"1.0.0"}', scratch));
      expect(event).to.deep.equal({ type: 'connected', protocol: 'Call', version: '1.0.0' });
    });

    it('parses start with decimal-string sequence numbers, parameters and media format', () => {
      const text = JSON.stringify({
        event: 'start',
        sequenceNumber: '1',
        streamSid: SID,
        start: {
          streamSid: SID,
          accountSid: 'AC1',
          callSid: 'CA1',
          tracks: ['inbound'],
          customParameters: { taskId: 'task_1', from: '+15550001111' },
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        },
      });
      const event = ok(parseInbound(text, scratch));
      expect(event).to.deep.equal({
        type: 'start',
        sequenceNumber: 1,
        streamSid: SID,
        accountSid: 'AC1',
        callSid: 'CA1',
        tracks: ['inbound'],
        customParameters: { taskId: 'task_1', from: '+15550001111' },
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      });
      if (event.type !== 'start') throw new Error('not start');
      expect(isSupportedMediaFormat(event.mediaFormat)).to.equal(true);
      expect(isSupportedMediaFormat({ ...event.mediaFormat, sampleRate: 16000 })).to.equal(false);
    });

    it('decodes the media payload into the scratch buffer', () => {
      const bytes = Buffer.alloc(FRAME_BYTES, 0x7f);
      bytes[0] = 0x01;
      const event = ok(parseInbound(media(bytes.toString('base64')), scratch));
      if (event.type !== 'media') throw new Error('not media');
      expect(event.timestampMs).to.equal(20);
      expect(event.chunk).to.equal(1);
      expect(event.sequenceNumber).to.equal(2);
      expect(event.audio.equals(bytes)).to.equal(true);
      expect(event.audio.buffer).to.equal(scratch.buffer);
    });

    it('parses mark, dtmf and stop', () => {
      expect(ok(parseInbound(JSON.stringify({ event: 'mark', sequenceNumber: '40', streamSid: SID, mark: { name: 'u0.3' } }), scratch))).to.deep.equal({
        type: 'mark',
        sequenceNumber: 40,
        streamSid: SID,
        name: 'u0.3',
      });
      expect(ok(parseInbound(JSON.stringify({ event: 'dtmf', sequenceNumber: '9', streamSid: SID, dtmf: { track: 'inbound_track', digit: '5' } }), scratch))).to.deep.equal({
        type: 'dtmf',
        sequenceNumber: 9,
        streamSid: SID,
        digit: '5',
      });
      expect(ok(parseInbound(JSON.stringify({ event: 'stop', sequenceNumber: '99', streamSid: SID, stop: { accountSid: 'AC1', callSid: 'CA1' } }), scratch))).to.deep.equal({
        type: 'stop',
        sequenceNumber: 99,
        streamSid: SID,
        callSid: 'CA1',
      });
    });

    it('names what is wrong with bad input', () => {
      expect(errorKind('{not json')).to.equal('invalid_json');
      expect(errorKind('[1,2]')).to.equal('not_an_object');
      expect(errorKind('{"event":"teleport"}')).to.equal('unknown_event');
      expect(errorKind('{"streamSid":"x"}')).to.equal('missing_field');
      expect(errorKind(JSON.stringify({ event: 'media', sequenceNumber: '2', streamSid: SID }))).to.equal('missing_field');
      expect(errorKind(media('AAAA', { sequenceNumber: 'two' }))).to.equal('bad_field');
      expect(errorKind(media('AAAA', { sequenceNumber: '-1' }))).to.equal('bad_field');
      expect(errorKind(JSON.stringify({ event: 'mark', sequenceNumber: '3', streamSid: SID, mark: {} }))).to.equal('missing_field');
    });

    it('refuses payloads that are not valid base64', () => {
      expect(errorKind(media('!!!!'))).to.equal('bad_base64');
      expect(errorKind(media('AAA'))).to.equal('bad_base64');
      expect(errorKind(media('AA*A'))).to.equal('bad_base64');
    });

    it('takes numbers only as decimal digits: what Number() would read otherwise is a bad field', () => {
      for (const value of [' ', '0x10', '1e3', '0b11', '0o7', '-1', '', '1.5', '+4', ' 4', '4\n', 'Infinity', '1234567890123456']) {
        for (const field of ['sequenceNumber', 'chunk', 'timestamp'] as const) {
          const frame = JSON.parse(media('AAAA')) as { sequenceNumber: string; media: Record<string, string> };
          if (field === 'sequenceNumber') frame.sequenceNumber = value;
          else frame.media[field] = value;
          expect(errorKind(JSON.stringify(frame)), `${field} ${JSON.stringify(value)}`).to.equal('bad_field');
        }
      }
      // Leading zeros are still digits; a JSON integer is taken as it is.
      const event = ok(parseInbound(media('AAAA', { sequenceNumber: '007' }), scratch));
      expect(event).to.include({ sequenceNumber: 7 });
      expect(ok(parseInbound(media('AAAA', { sequenceNumber: 12 }), scratch))).to.include({ sequenceNumber: 12 });
    });

    it('takes only standard base64 payloads: base64url and junk Node would skip are bad', () => {
      const urlSafe = Buffer.from([0xfb, 0xff, 0xbf]).toString('base64url'); // "-_-_"
      for (const payload of [urlSafe, 'AA-A', 'AA_A', '-_8=', 'AA AA A=', 'AAA\nAAA=', 'A===', '====', 'AA=A']) {
        expect(errorKind(media(payload)), JSON.stringify(payload)).to.equal('bad_base64');
      }
      const event = ok(parseInbound(media(Buffer.from([0xfb, 0xff, 0xbf]).toString('base64')), scratch));
      expect(event.type === 'media' && [...event.audio]).to.deep.equal([0xfb, 0xff, 0xbf]);
    });

    it('refuses frames over 64 KiB', () => {
      expect(errorKind(media('A'.repeat(70_000)))).to.equal('frame_too_large');
    });

    it('decodes payloads larger than the scratch buffer into a new buffer', () => {
      const big = Buffer.alloc(8000, 0x55);
      const event = ok(parseInbound(media(big.toString('base64')), Buffer.alloc(160)));
      if (event.type !== 'media') throw new Error('not media');
      expect(event.audio.equals(big)).to.equal(true);
    });
  });

  describe('outboundFrames', () => {
    const frames = outboundFrames(SID);

    it('builds media with exactly the fields Twilio accepts', () => {
      const audio = Buffer.alloc(FRAME_BYTES, 0xff);
      expect(JSON.parse(frames.media(audio))).to.deep.equal({
        event: 'media',
        streamSid: SID,
        media: { payload: audio.toString('base64') },
      });
    });

    it('builds mark and clear', () => {
      expect(JSON.parse(frames.mark('u1.2'))).to.deep.equal({ event: 'mark', streamSid: SID, mark: { name: 'u1.2' } });
      expect(JSON.parse(frames.clear())).to.deep.equal({ event: 'clear', streamSid: SID });
    });

    it('escapes a stream sid that needs it', () => {
      const odd = outboundFrames('MZ"quoted"');
      expect(JSON.parse(odd.clear()).streamSid).to.equal('MZ"quoted"');
    });
  });
});
