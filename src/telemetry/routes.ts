// Read-only telemetry endpoints, mounted by the app at /api/telemetry. Parse, call, shape. Field
// names are snake_case, as in the events themselves and /health.
import express from 'express';
import type { Router } from 'express';
import { sendError } from '../http/errors.js';
import { QueryReader } from '../http/query.js';
import type { Logger } from './logger.js';
import { DEFAULT_NOISY_ACTIONS, RECENT_MAX_LIMIT } from './events.js';
import type { Telemetry } from './events.js';
import { DEFAULT_RESERVOIR_SIZE } from './stats.js';

export interface TelemetryRouteOptions {
  /** LOG_NOISY_EVENTS_EVERY_N: noisy actions keep one event in this many. */
  noisyEveryN: number;
  noisyActions?: readonly string[];
  /** When the telemetry started counting (the gateway's start). */
  since: Date;
}

export function telemetryRoutes(telemetry: Telemetry, logger: Logger, options: TelemetryRouteOptions): Router {
  const router = express.Router();
  const noisyActions = options.noisyActions ?? DEFAULT_NOISY_ACTIONS;

  router.get('/recent', (req, res) => {
    const query = new QueryReader(req.query);
    const limit = query.int('limit', 1, RECENT_MAX_LIMIT);
    const component = query.filter('component');
    const action = query.filter('action');
    if (query.errors.length > 0) {
      return sendError(res, logger, 400, { error: 'invalid_request', message: 'the query is not valid', details: query.errors });
    }
    res.json({ events: telemetry.recent({ limit, component, action }) });
  });

  router.get('/summary', (_req, res) => {
    const sampled = new Set(noisyActions);
    res.json({
      window: {
        since: options.since.toISOString(),
        until: new Date().toISOString(),
        // What each figure covers, so a reader does not take a percentile for an all-time figure.
        note: `count, avg, min and max cover every kept event since the start; percentiles cover the last ${DEFAULT_RESERVOIR_SIZE} durations of each row`,
      },
      sampling: {
        every_n: options.noisyEveryN,
        actions: [...noisyActions],
        note: 'rows of these actions count one event in every_n (LOG_NOISY_EVENTS_EVERY_N); multiply count by every_n for the real number',
      },
      rows: telemetry.summary().map((row) => (sampled.has(row.action) ? { ...row, sampled_every: options.noisyEveryN } : row)),
    });
  });

  return router;
}
