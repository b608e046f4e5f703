// Twilio's side of the media-stream protocol, spoken by the browser: the frames a Twilio call
// sends (connected, start, media, mark echoes, stop) and reading what the gateway sends back
// (media, mark, clear). The gateway's parser (src/twilio/protocol.ts) is the other half; its
// constants are shared. Pure: no DOM.
import { FRAME_MS, SAMPLE_RATE } from '../../../twilio/protocol.js';

export interface StreamIds {
  streamSid: string;
  callSid: string;
  accountSid: string;
}

/** A Twilio-style sid: its two-letter prefix and 32 hex digits. */
export function randomSid(prefix: 'MZ' | 'CA' | 'AC', random: (bytes: Uint8Array<ArrayBuffer>) => Uint8Array): string {
  return prefix + [...random(new Uint8Array(16))].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** What the gateway sent, as the phone acts on it. */
export type GatewayFrame = { type: 'media'; payload: Uint8Array } | { type: 'mark'; name: string } | { type: 'clear' } | { type: 'other' };

/** Builds the caller's frames in order, numbering them as Twilio does. */
export class TwilioSide {
  private sequence = 0;
  private chunk = 0;

  constructor(
    private readonly ids: StreamIds,
    private readonly toBase64: (bytes: Uint8Array) => string,
  ) {}

  opening(customParameters: Record<string, string>): string[] {
    const { streamSid, callSid, accountSid } = this.ids;
    return [
      JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }),
      JSON.stringify({
        event: 'start',
        sequenceNumber: this.next(),
        streamSid,
        start: {
          streamSid,
          accountSid,
          callSid,
          tracks: ['inbound'],
          customParameters,
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: SAMPLE_RATE, channels: 1 },
        },
      }),
    ];
  }

  /** One 20 ms frame, stamped with its place on the call's timeline (frames sent so far × 20 ms). */
  media(payload: Uint8Array): string {
    const chunk = ++this.chunk;
    return JSON.stringify({
      event: 'media',
      sequenceNumber: this.next(),
      streamSid: this.ids.streamSid,
      media: { track: 'inbound', chunk: String(chunk), timestamp: String((chunk - 1) * FRAME_MS), payload: this.toBase64(payload) },
    });
  }

  markEcho(name: string): string {
    return JSON.stringify({ event: 'mark', sequenceNumber: this.next(), streamSid: this.ids.streamSid, mark: { name } });
  }

  stop(): string {
    return JSON.stringify({ event: 'stop', sequenceNumber: this.next(), streamSid: this.ids.streamSid, stop: { accountSid: this.ids.accountSid, callSid: this.ids.callSid } });
  }

  /** Milliseconds of caller audio sent. */
  get sentMs(): number {
    return this.chunk * FRAME_MS;
  }

  private next(): string {
    return String(++this.sequence);
  }
}

/** Reads a frame from the gateway; anything unexpected is `other` (ignored, as Twilio would). */
export function readGatewayFrame(text: string, fromBase64: (text: string) => Uint8Array): GatewayFrame {
  let message: { event?: unknown; media?: { payload?: unknown }; mark?: { name?: unknown } };
  try {
    message = JSON.parse(text) as typeof message;
  } catch {
    return { type: 'other' };
  }
  if (message.event === 'media' && typeof message.media?.payload === 'string') return { type: 'media', payload: fromBase64(message.media.payload) };
  if (message.event === 'mark' && typeof message.mark?.name === 'string') return { type: 'mark', name: message.mark.name };
  if (message.event === 'clear') return { type: 'clear' };
  return { type: 'other' };
}
