// Our checks against an independent oracle: HMAC-SHA1 computed here by hand, plus the vectors
// in the protocol notes, which were computed with the twilio library.
import { expect } from 'chai';
import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import { twilioSignature } from '../helpers/twilio-signing.js';
import { isValidUpgradeSignature, isValidWebhookSignature } from '../../src/twilio/signature.js';

const keys = { authToken: '12345', publicUrl: 'https://gw.example.com' };

const sign = twilioSignature;

function formRequest(originalUrl: string, body: Record<string, string>, signature?: string): Request {
  return {
    method: 'POST',
    originalUrl,
    body,
    headers: signature ? { 'x-twilio-signature': signature } : {},
    is: (type: string) => (type === 'application/x-www-form-urlencoded' ? type : false),
  } as unknown as Request;
}

const upgrade = (url: string, signature?: string) =>
  ({ url, headers: signature ? { 'x-twilio-signature': signature } : {} }) as unknown as IncomingMessage;

describe('twilio/signature', () => {
  const params = { CallSid: 'CA1', From: '+15550001111', To: '+15550002222' };

  it('matches the documented vectors', () => {
    expect(sign('12345', 'https://gw.example.com/voice', params)).to.equal('VDnk6M5zQgN0AQCBa5r5MT0f2OA=');
    expect(sign('12345', 'wss://gw.example.com/media')).to.equal('EaUrJnXeOdQbckRcqHzor+8Gtsk=');
  });

  it('accepts a webhook signed over PUBLIC_URL + path and form params', () => {
    const sig = sign('12345', 'https://gw.example.com/twilio/voice', params);
    expect(isValidWebhookSignature(keys, formRequest('/twilio/voice', params, sig))).to.equal(true);
  });

  it('includes the query string in the signed URL', () => {
    const sig = sign('12345', 'https://gw.example.com/twilio/voice?taskId=t1', params);
    expect(isValidWebhookSignature(keys, formRequest('/twilio/voice?taskId=t1', params, sig))).to.equal(true);
    expect(isValidWebhookSignature(keys, formRequest('/twilio/voice?taskId=t2', params, sig))).to.equal(false);
  });

  it('refuses a missing signature, a tampered param and another token', () => {
    const sig = sign('12345', 'https://gw.example.com/twilio/voice', params);
    expect(isValidWebhookSignature(keys, formRequest('/twilio/voice', params))).to.equal(false);
    expect(isValidWebhookSignature(keys, formRequest('/twilio/voice', { ...params, To: '+15559999999' }, sig))).to.equal(false);
    expect(isValidWebhookSignature({ ...keys, authToken: 'other' }, formRequest('/twilio/voice', params, sig))).to.equal(false);
  });

  it('checks the media-stream upgrade over wss://host/path with no params', () => {
    const sig = sign('12345', 'wss://gw.example.com/twilio/media-stream');
    expect(isValidUpgradeSignature(keys, upgrade('/twilio/media-stream', sig))).to.equal(true);
    expect(isValidUpgradeSignature(keys, upgrade('/twilio/media-stream', sign('12345', 'https://gw.example.com/twilio/media-stream')))).to.equal(true);
    expect(isValidUpgradeSignature(keys, upgrade('/twilio/media-stream'))).to.equal(false);
    expect(isValidUpgradeSignature(keys, upgrade('/twilio/media-stream', sign('12345', 'wss://evil.example.com/twilio/media-stream')))).to.equal(false);
  });
});
