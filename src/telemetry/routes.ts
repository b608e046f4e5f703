// Read-only telemetry endpoints, mounted by the app at /api/telemetry. Parse, call, shape. Field
// names are snake_case, as in the events themselves and /health.
import express from 'express';
import type { Router } from 'express';
import { sendError } from '../http/errors.js';
import { QueryReader } from '../http/query.js';
import type { Logger } from './logger.js';
import { DEFAULT_NOISY_ACTIONS, RECENT_MAX_LIMIT } from './events.js';
import type { RecentQuery, SummaryRow, Telemetry, TelemetryEvent } from './events.js';
import { DEFAULT_RESERVOIR_SIZE } from './stats.js';
import type { RecentEventsBody, TelemetrySummaryBody } from './schemas.js';

export interface TelemetryRouteOptions {
  /** LOG_NOISY_EVENTS_EVERY_N: noisy actions keep one event in this many. */
  noisyEveryN: number;
  noisyActions?: readonly string[];
  /** When the telemetry started counting (the gateway's start). */
  since: Date;
  /** Where the figures come from; by default `telemetry` alone (with several workers: all of them). */
  source?: TelemetrySource;
}

/** The figures the routes serve: one process's, or a fleet's combined. */
export interface TelemetrySource {
  recent(query: RecentQuery): TelemetryEvent[] | Promise<TelemetryEvent[]>;
  summary(): SummaryRow[] | Promise<SummaryRow[]>;
}

export function telemetryRoutes(telemetry: Telemetry, logger: Logger, options: TelemetryRouteOptions): Router {
  const router = express.Router();
  const noisyActions = options.noisyActions ?? DEFAULT_NOISY_ACTIONS;
  const source: TelemetrySource = options.source ?? telemetry;

  router.get('/recent', async (req, res) => {
    const query = new QueryReader(req.query);
    const limit = query.int('limit', 1, RECENT_MAX_LIMIT);
    const component = query.filter('component');
    const action = query.filter('action');
    if (query.errors.length > 0) {
      return sendError(res, logger, 400, { error: 'invalid_request', message: 'the query is not valid', details: query.errors });
    }
    res.json({ events: await source.recent({ limit, component, action }) } satisfies RecentEventsBody);
  });

  router.get('/summary', async (_req, res) => {
    const sampled = new Set(noisyActions);
    const rows = await source.summary();
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
      rows: rows.map((row) => (sampled.has(row.action) ? { ...row, sampled_every: options.noisyEveryN } : row)),
    } satisfies TelemetrySummaryBody);
  });

  return router;
}
