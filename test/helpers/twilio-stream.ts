// Twilio's side of opening a media stream. When signature checks are on: read the stream URL out
// of the gateway's TwiML (an inbound call's webhook, or an outbound dial's REST request), then
// connect to it here with X-Twilio-Signature computed by the test's own HMAC oracle over the
// public wss:// URL, as Twilio signs it. And a call under way, for tests that need one to start.
import { expect } from 'chai';
import nock from 'nock';
import { FakeTwilioCaller, type FakeCallerOptions } from '../../tools/twilio-caller.js';
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

/**
 * Mocks Twilio's Calls API (nock) for one outbound dial, answered with `callSid`. Once the gateway
 * placed it, `twiml` holds the TwiML it gave Twilio (whose <Stream url> the call connects to).
 */
export function mockDial(accountSid: string, callSid: string): { readonly twiml: string } {
  const dial = { twiml: '' };
  nock('https://api.twilio.com')
    .post(`/2010-04-01/Accounts/${accountSid}/Calls.json`)
    .reply(async (req: Request) => {
      dial.twiml = new URLSearchParams(await req.text()).get('Twiml')!;
      return [201, { sid: callSid, status: 'queued' }];
    });
  return dial;
}

/**
 * A fake caller that has connected, sent `start` and streamed `silenceMs` of silence: a call under
 * way. It joins `callers` (when given) before it connects, so an afterEach closes it whatever happens.
 */
export async function startedCall(options: FakeCallerOptions, silenceMs: number, callers?: FakeTwilioCaller[]): Promise<FakeTwilioCaller> {
  const caller = new FakeTwilioCaller(options);
  callers?.push(caller);
  await caller.connect();
  await caller.streamSilence(silenceMs);
  return caller;
}
