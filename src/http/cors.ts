// CORS for browsers calling the operator API: only origins listed in CORS_ORIGINS, matched
// exactly. Other origins get no CORS headers at all, so the browser keeps the reply from the page.
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../telemetry/logger.js';
import { sendError } from './errors.js';

const ALLOWED_METHODS = 'GET, POST';
// Range lets a browser's audio element seek in a recording fetched with the key.
const ALLOWED_HEADERS = 'Authorization, Content-Type, Range';
const EXPOSED_HEADERS = 'Content-Range, Accept-Ranges, Content-Length';
const PREFLIGHT_MAX_AGE_S = '600';

export function isAllowedOrigin(allowed: readonly string[], origin: string | undefined): origin is string {
  return origin !== undefined && allowed.includes(origin);
}

/**
 * Whether a browser's `Origin` is this gateway's own (the console it serves): its host is the one
 * the request was sent to. A page elsewhere cannot forge Origin, so only our own pages match.
 */
export function isSameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/** What preflights allow beyond the operator API's defaults (the rooms API adds DELETE and Idempotency-Key). */
export interface CorsAllowances {
  methods?: string;
  headers?: string;
}

export function cors(allowed: readonly string[], logger: Logger, allowances: CorsAllowances = {}) {
  return (req: Request, res: Response, next: NextFunction): void => {
    // Every reply here depends on Origin, so caches must key on it.
    res.vary('Origin');
    const origin = req.headers.origin;
    const isPreflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    if (!isAllowedOrigin(allowed, origin)) {
      if (!isPreflight) return next();
      return sendError(res, logger, 403, { error: 'origin_not_allowed', message: 'this origin is not listed in CORS_ORIGINS' });
    }
    res.set('Access-Control-Allow-Origin', origin);
    if (!isPreflight) {
      res.set('Access-Control-Expose-Headers', EXPOSED_HEADERS);
      return next();
    }
    res.set({
      'Access-Control-Allow-Methods': allowances.methods ?? ALLOWED_METHODS,
      'Access-Control-Allow-Headers': allowances.headers ?? ALLOWED_HEADERS,
      'Access-Control-Max-Age': PREFLIGHT_MAX_AGE_S,
    });
    res.status(204).end();
  };
}
