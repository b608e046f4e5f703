// The operator API key: when API_KEY is set, /api/* needs `Authorization: Bearer <key>`, and the
// live WebSockets accept the same header or `?token=<key>` (browsers cannot set headers on a
// WebSocket). Keys are compared in constant time and never logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../telemetry/logger.js';
import { sendError } from './errors.js';

/**
 * Hashing first gives both sides the same length, so timingSafeEqual never throws and the
 * comparison leaks neither the key's content nor its length.
 */
export function keyMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(expected), digest(presented));
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive). */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
  return match?.[1];
}

/** For WebSocket upgrades: the bearer header, or else the `token` query parameter. */
export function upgradeCarriesKey(apiKey: string, req: IncomingMessage): boolean {
  if (keyMatches(apiKey, bearerToken(req.headers.authorization))) return true;
  const token = new URL(req.url ?? '/', 'http://gateway').searchParams.get('token');
  return keyMatches(apiKey, token ?? undefined);
}

/** Express middleware: a 401 JSON reply unless the request carries the key. A no-op when no key is set. */
export function requireApiKey(apiKey: string | undefined, logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (apiKey === undefined || keyMatches(apiKey, bearerToken(req.headers.authorization))) return next();
    res.set('WWW-Authenticate', 'Bearer');
    sendError(res, logger, 401, {
      error: 'unauthorized',
      message: 'this endpoint needs the API key: send Authorization: Bearer <API_KEY>',
    });
  };
}
