// The one shape of an API error reply, so every client parses failures the same way.
import type { Response } from 'express';
import type { Logger } from '../telemetry/logger.js';

export interface FieldProblem {
  field: string;
  message: string;
}

export interface ApiErrorBody {
  /** A stable snake_case code clients can branch on, e.g. `task_not_found`. */
  error: string;
  /** A sentence for humans; never a secret. */
  message: string;
  details?: FieldProblem[];
}

/** Writes `{error, message, details?}` with `status` and leaves one structured log line. */
export function sendError(res: Response, logger: Logger, status: number, body: ApiErrorBody, headers: Record<string, string> = {}): void {
  const req = res.req;
  // The path without its query: a query may carry a key.
  const path = req.baseUrl + req.path;
  logger.log(levelFor(status), 'api request refused', { method: req.method, path, status, error: body.error, reason: body.message });
  // A file reply that failed half-way may have set these already.
  for (const header of ['Content-Type', 'Content-Range', 'Content-Disposition', 'Accept-Ranges']) res.removeHeader(header);
  res.set(headers).status(status).json(body);
}

/** Refused keys and missing configuration deserve attention; a caller's own mistakes do not. */
function levelFor(status: number): 'error' | 'warn' | 'info' {
  if (status >= 500 && status !== 503) return 'error';
  if (status === 401 || status === 403 || status === 503) return 'warn';
  return 'info';
}
