// Twilio's side of opening a media stream when signature checks are on: read the stream URL out
// of the gateway's TwiML, then connect to it here with X-Twilio-Signature computed by the test's
// own HMAC oracle over the public wss:// URL, as Twilio signs it.
import { expect } from 'chai';
import type { TestGateway } from './test-gateway.js';
import { twilioSignature } from './twilio-signing.js';

export interface SignedStream {
  /** The public URL from the TwiML, e.g. wss://gw.example.com/twilio/media-stream/<token>. */
  publicUrl: string;
  /** The same path on the test gateway's own port. */
  url: string;
  headers: Record<string, string>;
}

/** The `<Stream url>` of a TwiML document. */
export function streamUrlOf(twiml: string): string {
  const match = /<Stream url="([^"]+)"/.exec(twiml);
  expect(match, `no <Stream url> in ${twiml}`).to.not.equal(null);
  return match![1]!.replaceAll('&amp;', '&');
}

/** Connects where the TwiML says, signed the way Twilio signs the upgrade. */
export function signedStream(t: TestGateway, authToken: string, twiml: string): SignedStream {
  const publicUrl = streamUrlOf(twiml);
  const local = new URL(t.wsUrl);
  return {
    publicUrl,
    url: `ws://${local.host}${new URL(publicUrl).pathname}`,
    headers: { 'X-Twilio-Signature': twilioSignature(authToken, publicUrl) },
  };
}

/** An inbound call: the signed voice webhook for `callSid`, and the stream its TwiML names. */
export async function inboundStream(t: TestGateway, authToken: string, callSid: string, params: Record<string, string> = {}): Promise<SignedStream> {
  const publicUrl = t.config.publicUrl!;
  const body = { CallSid: callSid, From: '+15550001111', To: '+15550002222', Direction: 'inbound', ...params };
  const res = await fetch(`${t.baseUrl}/twilio/voice`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(authToken, `${publicUrl}/twilio/voice`, body) },
    body: new URLSearchParams(body).toString(),
  });
  expect(res.status).to.equal(200);
  return signedStream(t, authToken, await res.text());
}
