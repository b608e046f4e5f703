// Per-call media-stream tokens. Twilio refuses query strings on stream URLs, so the token travels
// as the last path segment: wss://host/twilio/media-stream/<token>. The upgrade signature covers
// that URL, so each call's signature differs and an observed one cannot open a second stream.
//
// token = base64url(JSON payload) "." base64url(HMAC-SHA256(key, first part)), where the key is
// derived from TWILIO_AUTH_TOKEN (never the token itself, so a leaked stream token says nothing
// about the account's key). The payload names the call the stream is for: its CallSid for an
// inbound call, the task and a per-dial nonce for an outbound one (whose CallSid is not known
// when its TwiML is written), or the browser call the API created (a browser cannot sign as Twilio
// does, so its token, minted for an API-key holder, single use and short-lived, is the credential).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ADMITTED, refused, type Admission, type StreamStart } from '../call/admission.js';

export type StreamBinding =
  | { kind: 'inbound'; callSid: string }
  | { kind: 'outbound'; taskId: string; attempt: string }
  /** A browser call created through the API (POST /api/calls/browser): the token is its credential, with no Twilio signature. */
  | { kind: 'browser'; callId: string };

/** What a verified token says: which stream it admits, until when. */
export interface StreamTicket {
  /** Random and unique: the key of its single-use claim. */
  id: string;
  /** Epoch ms after which the token opens nothing. */
  expiresAtMs: number;
  binding: StreamBinding;
}

export type TokenCheck = { ok: true; ticket: StreamTicket } | { ok: false; why: 'malformed' | 'bad_signature' | 'expired' };

/** Twilio opens an inbound call's stream within seconds of our TwiML. */
export const INBOUND_TOKEN_TTL_MS = 60_000;
/**
 * An outbound call's TwiML runs once it is answered: after queueing, the ring timeout and, with
 * synchronous answering-machine detection, up to 30 s of listening. This margin covers the rest.
 */
const OUTBOUND_TOKEN_MARGIN_MS = 120_000;

export function outboundTokenTtlMs(ringTimeoutS: number): number {
  return ringTimeoutS * 1000 + OUTBOUND_TOKEN_MARGIN_MS;
}

/** Far above a real token (about 300 characters); a longer path segment is not worth decoding. */
const MAX_TOKEN_LENGTH = 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const KEY_LABEL = 'media-stream-token/v1';

export class StreamTokens {
  private readonly key: Buffer;

  constructor(
    authToken: string,
    private readonly now: () => number = Date.now,
  ) {
    this.key = createHmac('sha256', authToken).update(KEY_LABEL).digest();
  }

  issue(binding: StreamBinding, ttlMs: number): string {
    const ticket: StreamTicket = { id: randomBytes(16).toString('base64url'), expiresAtMs: this.now() + ttlMs, binding };
    const payload = Buffer.from(JSON.stringify(ticket)).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /** Checks shape, MAC (in constant time) and expiry; says nothing about whether it was used. */
  verify(token: string): TokenCheck {
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, why: 'malformed' };
    const [payload, mac, ...rest] = token.split('.');
    if (!payload || !mac || rest.length > 0 || !BASE64URL.test(payload) || !BASE64URL.test(mac)) return { ok: false, why: 'malformed' };
    // Compared as text: another spelling of the same MAC bytes (base64's spare bits) is not our token.
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, why: 'bad_signature' };
    const ticket = parseTicket(Buffer.from(payload, 'base64url').toString('utf8'));
    if (!ticket) return { ok: false, why: 'malformed' };
    if (ticket.expiresAtMs <= this.now()) return { ok: false, why: 'expired' };
    return { ok: true, ticket };
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}

/** Whether the stream's `start` is the call the token was issued for. */
export function bindingAdmits(binding: StreamBinding, start: StreamStart): Admission {
  if (binding.kind === 'inbound') {
    return start.callSid === binding.callSid ? ADMITTED : refused(`the stream URL was issued for another call (${binding.callSid})`);
  }
  if (binding.kind === 'browser') {
    if (start.callId !== binding.callId) return refused(`the stream URL was issued for browser call ${binding.callId}`);
    // The browser writes its own customParameters: a taskId would let it take over a task's record (its status, transcript).
    return start.taskId === undefined ? ADMITTED : refused(`a browser call's stream cannot name a task (browser call ${binding.callId})`);
  }
  return start.taskId === binding.taskId ? ADMITTED : refused(`the stream URL was issued for task ${binding.taskId}`);
}

const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/** The MAC vouches for the payload, so this is a shape check: a payload of another format under the same key is refused, not misread. */
function parseTicket(json: string): StreamTicket | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const t = value as Partial<StreamTicket> | null;
  if (!t || typeof t !== 'object' || !isText(t.id) || typeof t.expiresAtMs !== 'number') return undefined;
  const b = t.binding as Partial<Record<string, unknown>> | undefined;
  if (b?.kind === 'inbound' && isText(b.callSid)) return { id: t.id, expiresAtMs: t.expiresAtMs, binding: { kind: 'inbound', callSid: b.callSid } };
  if (b?.kind === 'browser' && isText(b.callId)) return { id: t.id, expiresAtMs: t.expiresAtMs, binding: { kind: 'browser', callId: b.callId } };
  if (b?.kind === 'outbound' && isText(b.taskId) && isText(b.attempt)) {
    return { id: t.id, expiresAtMs: t.expiresAtMs, binding: { kind: 'outbound', taskId: b.taskId, attempt: b.attempt } };
  }
  return undefined;
}
