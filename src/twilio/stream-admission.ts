// Who may open a media stream, when signature checks are on (TWILIO_AUTH_TOKEN set). The upgrade
// must carry Twilio's signature over the URL with its per-call token, and the token must be ours,
// unexpired and unused (it is claimed here). The verified ticket is kept with the request, so the
// stream's `start` can be checked against the call the token was issued for.
import type { IncomingMessage } from 'node:http';
import { type Admission, type StreamStart } from '../call/admission.js';
import { MEDIA_STREAM_PATH } from './media-stream.js';
import { isValidUpgradeSignature, upgradeSignatureUrl, type SignatureKeys } from './signature.js';
import type { StreamClaims } from './stream-claims.js';
import { bindingAdmits, StreamTokens, type StreamTicket } from './stream-token.js';

export type UpgradeRefusal = 'no_token' | 'bad_signature' | 'malformed_token' | 'bad_token_signature' | 'expired_token' | 'token_used' | 'claim_failed';

export type UpgradeVerdict = { ok: true } | { ok: false; why: UpgradeRefusal; status: 403 | 503; message: string; error?: string };

const MESSAGES: Record<UpgradeRefusal, string> = {
  no_token: 'this stream URL has no token: use the one in the TwiML of the call',
  bad_signature: 'X-Twilio-Signature is missing or does not match',
  malformed_token: 'the stream token is not valid',
  bad_token_signature: 'the stream token is not valid',
  expired_token: 'the stream token has expired',
  token_used: 'the stream token was already used',
  claim_failed: 'the stream token could not be checked; try again',
};

const refuse = (why: UpgradeRefusal): UpgradeVerdict => ({ ok: false, why, status: 403, message: MESSAGES[why] });

export class StreamGate {
  /** Mints the per-call tokens the TwiML carries (inbound webhook, outbound dial). */
  readonly tokens: StreamTokens;
  private readonly tickets = new WeakMap<IncomingMessage, StreamTicket>();

  /** `now` is the wall clock of token expiry (epoch ms); tests move it forward. */
  constructor(
    private readonly keys: SignatureKeys,
    private readonly claims: StreamClaims,
    now?: () => number,
  ) {
    this.tokens = new StreamTokens(keys.authToken, now);
  }

  /**
   * Signature and token first, the claim last: a forged upgrade cannot use up a real call's token.
   * A browser call's token needs no Twilio signature (a browser cannot make one): it is the credential.
   */
  async checkUpgrade(req: IncomingMessage, token: string | undefined): Promise<UpgradeVerdict> {
    if (token === undefined) return refuse('no_token');
    const checked = this.tokens.verify(token);
    const browser = checked.ok && checked.ticket.binding.kind === 'browser';
    if (!browser && !isValidUpgradeSignature(this.keys, req)) return refuse('bad_signature');
    if (!checked.ok) return refuse(checked.why === 'expired' ? 'expired_token' : checked.why === 'malformed' ? 'malformed_token' : 'bad_token_signature');
    let first: boolean;
    try {
      first = await this.claims.claim(checked.ticket.id, checked.ticket.expiresAtMs);
    } catch (err) {
      // A database that cannot answer (busy past its timeout, a disk error) refuses this stream, never the process.
      return { ok: false, why: 'claim_failed', status: 503, message: MESSAGES.claim_failed, error: (err as Error).message };
    }
    if (!first) return refuse('token_used');
    this.tickets.set(req, checked.ticket);
    return { ok: true };
  }

  /** Checks a stream's `start` against the token its upgrade carried. */
  admission(req: IncomingMessage): (start: StreamStart) => Admission {
    const ticket = this.tickets.get(req);
    // Unreachable with the gate on (every accepted upgrade has a ticket), but never admit blindly.
    if (!ticket) return () => ({ ok: false, reason: 'the stream was not admitted at its upgrade' });
    return (start) => bindingAdmits(ticket.binding, start);
  }

  close(): Promise<void> {
    return this.claims.close();
  }

  /** The URL a signature was checked against, token left out: enough to spot a changed tunnel URL. */
  checkedUrl(): string {
    return upgradeSignatureUrl(this.keys, `${MEDIA_STREAM_PATH}/{token}`);
  }
}
