// Stream tokens: issued and verified with a key derived from the auth token, bound to one call,
// refused when tampered with, expired or made with another key. The MAC is recomputed here by
// hand (an oracle independent of the module) to pin the format Twilio carries in the URL path.
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { bindingAdmits, outboundTokenTtlMs, StreamTokens, INBOUND_TOKEN_TTL_MS } from '../../src/twilio/stream-token.js';

const AUTH = 'auth-token-0123';
const mac = (key: Buffer | string, payload: string) => createHmac('sha256', key).update(payload).digest('base64url');
const derivedKey = createHmac('sha256', AUTH).update('media-stream-token/v1').digest();

describe('twilio/stream-token', () => {
  let now = 1_800_000_000_000;
  const tokens = new StreamTokens(AUTH, () => now);

  it('is base64url(payload).base64url(HMAC-SHA256 under a key derived from the auth token), safe in a URL path', () => {
    const token = tokens.issue({ kind: 'inbound', callSid: 'CA1' }, INBOUND_TOKEN_TTL_MS);
    expect(token).to.match(/^[\w-]+\.[\w-]+$/);
    const [payload, signature] = token.split('.') as [string, string];
    expect(signature).to.equal(mac(derivedKey, payload));
    expect(signature).to.not.equal(mac(AUTH, payload));
    const body = JSON.parse(Buffer.from(payload, 'base64url').toString());
    expect(body).to.deep.include({ expiresAtMs: now + 60_000, binding: { kind: 'inbound', callSid: 'CA1' } });
    expect(body.id).to.be.a('string').with.length.above(20);
  });

  it('verifies its own tokens, each with its own id', () => {
    const a = tokens.verify(tokens.issue({ kind: 'outbound', taskId: 'task_1', attempt: 'n1' }, 1000));
    const b = tokens.verify(tokens.issue({ kind: 'outbound', taskId: 'task_1', attempt: 'n1' }, 1000));
    expect(a.ok && b.ok).to.equal(true);
    if (!a.ok || !b.ok) return;
    expect(a.ticket.binding).to.deep.equal({ kind: 'outbound', taskId: 'task_1', attempt: 'n1' });
    expect(a.ticket.id).to.not.equal(b.ticket.id);
  });

  it('refuses a changed payload, a changed MAC, another key and a payload signed with the auth token itself', () => {
    const token = tokens.issue({ kind: 'inbound', callSid: 'CA1' }, 1000);
    const [payload, signature] = token.split('.') as [string, string];
    const other = Buffer.from(JSON.stringify({ id: 'x', expiresAtMs: now + 1000, binding: { kind: 'inbound', callSid: 'CA2' } })).toString('base64url');
    expect(tokens.verify(`${other}.${signature}`)).to.deep.equal({ ok: false, why: 'bad_signature' });
    expect(tokens.verify(`${payload}.${mac(derivedKey, other)}`)).to.deep.equal({ ok: false, why: 'bad_signature' });
    expect(tokens.verify(`${other}.${mac(AUTH, other)}`)).to.deep.equal({ ok: false, why: 'bad_signature' });
    expect(new StreamTokens('another-auth-token', () => now).verify(token)).to.deep.equal({ ok: false, why: 'bad_signature' });
    // The same MAC bytes spelled with base64's spare low bits set: a different URL, so not our token.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = signature.slice(0, -1) + alphabet[alphabet.indexOf(signature.at(-1)!) ^ 1];
    expect(Buffer.from(respelled, 'base64url').equals(Buffer.from(signature, 'base64url'))).to.equal(true);
    expect(tokens.verify(`${payload}.${respelled}`)).to.deep.equal({ ok: false, why: 'bad_signature' });
  });

  it('refuses malformed tokens without decoding them', () => {
    for (const bad of ['', 'abc', 'a.b.c', 'a+b.c', `${'a'.repeat(2000)}.b`]) expect(tokens.verify(bad)).to.deep.equal({ ok: false, why: 'malformed' });
    const notATicket = Buffer.from('{"id":"x"}').toString('base64url');
    expect(tokens.verify(`${notATicket}.${mac(derivedKey, notATicket)}`)).to.deep.equal({ ok: false, why: 'malformed' });
  });

  it('expires: inbound after 60 s, outbound after the ring timeout plus a margin', () => {
    const inbound = tokens.issue({ kind: 'inbound', callSid: 'CA1' }, INBOUND_TOKEN_TTL_MS);
    now += 59_999;
    expect(tokens.verify(inbound).ok).to.equal(true);
    now += 1;
    expect(tokens.verify(inbound)).to.deep.equal({ ok: false, why: 'expired' });
    expect(outboundTokenTtlMs(30)).to.be.above(30_000 + 30_000);
  });

  it('admits the start of the call it was issued for, and no other', () => {
    const start = { callSid: 'CA1', streamSid: 'MZ1', taskId: undefined };
    expect(bindingAdmits({ kind: 'inbound', callSid: 'CA1' }, start).ok).to.equal(true);
    expect(bindingAdmits({ kind: 'inbound', callSid: 'CA2' }, start).ok).to.equal(false);
    const outbound = { kind: 'outbound', taskId: 'task_1', attempt: 'n' } as const;
    expect(bindingAdmits(outbound, { ...start, taskId: 'task_1' }).ok).to.equal(true);
    expect(bindingAdmits(outbound, { ...start, taskId: 'task_2' }).ok).to.equal(false);
    expect(bindingAdmits(outbound, start).ok).to.equal(false);
  });
});
