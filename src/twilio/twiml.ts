// TwiML the gateway answers with, built with the twilio library's builder (it escapes values).
import twilio from 'twilio';

/** The media-stream WebSocket URL Twilio connects to, derived from the public https origin. */
export function mediaStreamUrl(publicOrigin: string): string {
  const url = new URL('/twilio/media-stream', publicOrigin);
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

/** Refuses a call politely while the gateway drains for a restart. */
export function busyTwiml(): string {
  const response = new twilio.twiml.VoiceResponse();
  response.reject({ reason: 'busy' });
  return response.toString();
}
