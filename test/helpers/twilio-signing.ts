// An independent oracle for X-Twilio-Signature: HMAC-SHA1 computed here, not with the twilio library.
import { createHmac } from 'node:crypto';

export function twilioSignature(token: string, url: string, params: Record<string, string> = {}): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', token).update(Buffer.from(data, 'utf8')).digest('base64');
}
