// TwiML the gateway answers with, built with the twilio library's builder (it escapes values).
import twilio from 'twilio';
import { MEDIA_STREAM_PATH } from './media-stream.js';

/**
 * The media-stream WebSocket URL Twilio connects to, derived from the public https origin, with
 * the call's token as a last path segment when signature checks are on (no query strings allowed).
 */
export function mediaStreamUrl(publicOrigin: string, token?: string): string {
  const url = new URL(token === undefined ? MEDIA_STREAM_PATH : `${MEDIA_STREAM_PATH}/${token}`, publicOrigin);
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  return url.toString();
}

/**
 * `<Connect><Stream>`: a bidirectional stream that holds the call until our side closes it.
 * Stream URLs may not carry a query string, so the call's context travels as `<Parameter>`s
 * and arrives in `start.customParameters`. Empty values are left out.
 */
export function connectStreamTwiml(streamUrl: string, parameters: Record<string, string | undefined>): string {
  const response = new twilio.twiml.VoiceResponse();
  const stream = response.connect().stream({ url: streamUrl });
  for (const [name, value] of Object.entries(parameters)) {
    if (value) stream.parameter({ name, value });
  }
  return response.toString();
}

/** Refuses a call with a busy signal: while the gateway drains for a restart, or is at its call cap. */
export function busyTwiml(): string {
  const response = new twilio.twiml.VoiceResponse();
  response.reject({ reason: 'busy' });
  return response.toString();
}
