// X-Twilio-Signature checks for webhooks and the media-stream upgrade. The URL Twilio signed is
// rebuilt from the configured PUBLIC_URL and the request path, never from Host or X-Forwarded-*
// headers, which a caller controls.
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import twilio from 'twilio';
import type { Logger } from '../telemetry/logger.js';

export interface SignatureSettings {
  authToken: string | undefined;
  publicUrl: string | undefined;
}

/** Settings with checks switched on: both the token and the public origin are known. */
export interface SignatureKeys {
  authToken: string;
  publicUrl: string;
}

const header = (req: IncomingMessage): string | undefined => {
  const value = req.headers['x-twilio-signature'];
  return Array.isArray(value) ? value[0] : value;
};

/** True when the form POST (or GET) carries a valid signature for PUBLIC_URL + its path and query. */
export function isValidWebhookSignature(settings: SignatureKeys, req: Request): boolean {
  const signature = header(req);
  if (!signature) return false;
  const url = settings.publicUrl + req.originalUrl;
  const params = req.method === 'POST' && req.is('application/x-www-form-urlencoded') ? (req.body as Record<string, unknown>) : {};
  return twilio.validateRequest(settings.authToken, signature, url, params ?? {});
}

/**
 * The media-stream upgrade is signed over `wss://host/path` with no params. Some proxies and
 * older accounts sign the https form; both are HMACs under our token, so either proves Twilio.
 */
export function isValidUpgradeSignature(settings: SignatureKeys, req: IncomingMessage): boolean {
  const signature = header(req);
  if (!signature) return false;
  const host = new URL(settings.publicUrl).host;
  const path = req.url ?? '/';
  return ['wss:', 'https:'].some((scheme) => twilio.validateRequest(settings.authToken, signature, `${scheme}//${host}${path}`, {}));
}

/** The wss:// URL an upgrade on `path` is checked against (for logs: a changed tunnel URL shows here). */
export function upgradeSignatureUrl(settings: SignatureKeys, path: string): string {
  return `wss://${new URL(settings.publicUrl).host}${path}`;
}

/** Express middleware for /twilio/* webhooks: 403 and a log line when the signature is wrong. */
export function requireTwilioSignature(settings: SignatureSettings, logger: Logger, onRefused?: () => void) {
  const { authToken, publicUrl } = settings;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!authToken || !publicUrl) return next();
    if (isValidWebhookSignature({ authToken, publicUrl }, req)) return next();
    // The usual cause is a PUBLIC_URL that no longer matches the URL Twilio calls (a new tunnel).
    logger.warn('rejected a Twilio webhook with a missing or invalid signature', {
      checkedUrl: publicUrl + req.originalUrl,
      hasSignature: Boolean(header(req)),
      remote: req.socket.remoteAddress ?? 'unknown',
    });
    onRefused?.();
    res.status(403).json({ error: 'invalid_signature', message: 'X-Twilio-Signature is missing or does not match' });
  };
}
