// The one shape of an API error reply, so every client parses failures the same way, and the
// gateway's last-resort handlers (no route, an error no route handled) that use it.
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../telemetry/logger.js';
import type { FieldError } from '../util/field-error.js';
import { clipPath } from '../util/text.js';

export interface ApiErrorBody {
  /** A stable snake_case code clients can branch on, e.g. `task_not_found`. */
  error: string;
  /** A sentence for humans; never a secret, never a long echo of the request. */
  message: string;
  details?: FieldError[];
}

/** Writes `{error, message, details?}` with `status` and leaves one structured log line. */
export function sendError(res: Response, logger: Logger, status: number, body: ApiErrorBody, headers: Record<string, string> = {}): void {
  const req = res.req;
  // The path without its query (a query may carry a key), clipped (a path may be 10 kB long).
  const path = clipPath(req.baseUrl + req.path);
  logger.log(levelFor(status), 'api request refused', { method: req.method, path, status, error: body.error, reason: body.message });
  // A file reply that failed half-way may have set these already.
  for (const header of ['Content-Type', 'Content-Range', 'Content-Disposition', 'Accept-Ranges']) res.removeHeader(header);
  res.set(headers).status(status).json(body);
}

/**
 * A client's own mistakes (400, 401, 404, 409...) are expected answers, not the operator's
 * problem: info. Missing configuration (503) deserves attention; other 5xx are errors.
 */
function levelFor(status: number): 'error' | 'warn' | 'info' {
  if (status === 503) return 'warn';
  if (status >= 500) return 'error';
  return 'info';
}

/** The 404 for a path no route serves. */
export function notFound(logger: Logger) {
  return (req: Request, res: Response): void => {
    sendError(res, logger, 404, { error: 'not_found', message: `no route for ${req.method} ${clipPath(req.path)}` });
  };
}

/**
 * The last error handler: an error a route did not handle. A 4xx from express or a body parser
 * keeps its status with a fixed message (theirs may quote the request); anything else is a 500
 * that says nothing of the cause, which goes to the log.
 */
export function errorHandler(logger: Logger) {
  return (err: Error & { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction): void => {
    const status = err.status && err.status >= 400 && err.status < 600 ? err.status : 500;
    if (status >= 500) {
      logger.error('request failed', { method: req.method, path: clipPath(req.path), status, error: err.message });
      res.status(status).json({ error: 'internal_error', message: 'the gateway could not complete this request' } satisfies ApiErrorBody);
      return;
    }
    sendError(res, logger, status, { error: err.type?.replace(/\W/g, '_') ?? 'bad_request', message: 'the request could not be read' });
  };
}
