// Read-only telemetry endpoints, mounted by the app at /api/telemetry. Parse, call, shape.
import express from 'express';
import type { Request, Response, Router } from 'express';
import { RECENT_MAX_LIMIT } from './events.js';
import type { RecentQuery, Telemetry } from './events.js';

interface FieldError {
  field: string;
  message: string;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; details: FieldError[] };

// Express 5's default query parser yields a string, or an array when a key repeats.
function singleParam(query: Request['query'], field: string): string | undefined | FieldError {
  const raw = query[field];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') return { field, message: 'must be given once, as a plain value' };
  return raw;
}

function parseLimit(raw: string | undefined): number | undefined | FieldError {
  if (raw === undefined) return undefined;
  // Digits only: '5.0', '+5', ' 5' and '1e2' are rejected rather than guessed at.
  const limit = /^\d{1,7}$/.test(raw) ? Number(raw) : NaN;
  if (!(limit >= 1 && limit <= RECENT_MAX_LIMIT)) {
    return { field: 'limit', message: `must be an integer from 1 to ${RECENT_MAX_LIMIT}` };
  }
  return limit;
}

function isFieldError(value: unknown): value is FieldError {
  return typeof value === 'object' && value !== null;
}

function parseRecentQuery(query: Request['query']): Parsed<RecentQuery> {
  const details: FieldError[] = [];
  // Collects a field's error and carries on, so one reply lists every bad field.
  const valid = <T extends string | number | undefined>(result: T | FieldError): T | undefined => {
    if (!isFieldError(result)) return result;
    details.push(result);
    return undefined;
  };
  const limit = valid(parseLimit(valid(singleParam(query, 'limit'))));
  // An empty filter (`?component=`) means no filter.
  const component = valid(singleParam(query, 'component')) || undefined;
  const action = valid(singleParam(query, 'action')) || undefined;
  return details.length > 0 ? { ok: false, details } : { ok: true, value: { limit, component, action } };
}

function badRequest(res: Response, details: FieldError[]): void {
  res.status(400).json({ error: 'invalid_request', details });
}

export function telemetryRoutes(telemetry: Telemetry): Router {
  const router = express.Router();

  router.get('/recent', (req, res) => {
    const parsed = parseRecentQuery(req.query);
    if (!parsed.ok) return badRequest(res, parsed.details);
    res.json({ events: telemetry.recent(parsed.value) });
  });

  router.get('/summary', (_req, res) => {
    res.json({ rows: telemetry.summary() });
  });

  return router;
}
