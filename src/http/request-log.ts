// LOG_LEVEL=debug: one line per HTTP request once it is answered (API calls and Twilio's webhooks
// alike), with its status and time. Media frames travel on a WebSocket and never pass here.
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../telemetry/logger.js';
import { clipPath } from '../util/text.js';

export function requestLog(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!logger.isDebugEnabled()) return next();
    const startedAt = performance.now();
    res.once('finish', () => {
      // The path without its query: a query may carry a key.
      logger.debug('http request', {
        method: req.method,
        path: clipPath(req.originalUrl.split('?')[0] ?? ''),
        status: res.statusCode,
        ms: Math.round((performance.now() - startedAt) * 10) / 10,
      });
    });
    next();
  };
}
