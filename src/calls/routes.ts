// /api/calls: parse and check the request, call one service method, shape the reply. Each
// CallError code has one HTTP status (errors.ts).
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { sendError } from '../http/errors.js';
import { QueryReader } from '../http/query.js';
import { sendRecording } from '../http/recording.js';
import { replyWithAnalysis } from '../tasks/routes.js';
import { InvalidCursorError } from '../tasks/store.js';
import type { Logger } from '../telemetry/logger.js';
import { CALL_ERROR_STATUS, CallError } from './errors.js';
import { BrowserCallRequest, CALL_DIRECTIONS, CALL_STATUSES, DEFAULT_CALL_LIST_LIMIT, MAX_CALL_LIST_LIMIT } from './schemas.js';
import type { CallService } from './service.js';
import type { CallListOptions } from './store.js';
import { callView } from './view.js';

/** A date, or a date and time with seconds optional, fractions up to milliseconds, and a zone. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

export function callRoutes(service: CallService, logger: Logger): Router {
  const router = Router();
  router.use(express.json({ limit: '4kb', strict: false }));

  router.get('/', async (req, res) => {
    res.json(await service.list(parseListQuery(req.query)));
  });

  router.post('/browser', async (req, res) => {
    const body = BrowserCallRequest.safeParse(req.body ?? {});
    if (!body.success) {
      const details = body.error.issues.map((issue) => ({ field: issue.path.join('.') || ('keys' in issue ? issue.keys.join(', ') : 'body'), message: issue.message }));
      throw new CallError('invalid_request', 'the body must be empty or {}', details);
    }
    res.status(201).json(await service.createBrowserCall(`${req.protocol}://${req.get('host') ?? 'localhost'}`));
  });

  router.get('/:id', async (req, res) => {
    res.json(callView(await service.get(req.params.id)));
  });

  router.get('/:id/audio', async (req, res) => {
    sendRecording(res, logger, await service.recordingFile(req.params.id), req.params.id);
  });

  router.get('/:id/analysis', async (req, res) => {
    replyWithAnalysis(res, logger, await service.analysisOf(req.params.id));
  });

  router.post('/:id/analysis', async (req, res) => {
    replyWithAnalysis(res, logger, await service.retryAnalysis(req.params.id));
  });

  router.use((err: Error & { type?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (err instanceof CallError) {
      return sendError(res, logger, CALL_ERROR_STATUS[err.code], { error: err.code, message: err.message, ...(err.details && { details: err.details }) });
    }
    if (err instanceof InvalidCursorError) {
      return sendError(res, logger, 400, { error: 'invalid_request', message: 'the list query is not valid', details: [{ field: 'cursor', message: err.message }] });
    }
    if (err.type === 'entity.parse.failed') return sendError(res, logger, 400, { error: 'invalid_json', message: 'the body is not valid JSON' });
    if (err.type === 'entity.too.large') return sendError(res, logger, 413, { error: 'body_too_large', message: 'the body is too large' });
    next(err);
  });
  return router;
}

/** Every filter optional; every bad one named in one 400. */
export function parseListQuery(raw: Request['query']): CallListOptions {
  const query = new QueryReader(raw);
  const limit = query.int('limit', 1, MAX_CALL_LIST_LIMIT) ?? DEFAULT_CALL_LIST_LIMIT;
  const cursor = query.string('cursor');
  if (cursor === '') query.fail('cursor', 'must not be empty (omit it for the first page)');
  const direction = query.oneOf('direction', CALL_DIRECTIONS);
  const status = query.oneOf('status', CALL_STATUSES);
  const agent = query.filter('agent');
  const taskId = query.filter('taskId');
  const since = time(query, 'since');
  const until = time(query, 'until');
  if (since && until && since >= until) query.fail('until', 'must be later than since');
  for (const unknown of Object.keys(raw).filter((key) => !LIST_PARAMETERS.has(key))) query.fail(unknown, 'is not a known parameter');
  if (query.errors.length > 0) throw new CallError('invalid_request', 'the list query is not valid', query.errors);
  return {
    limit,
    ...(cursor !== undefined && { cursor }),
    ...(direction !== undefined && { direction }),
    ...(status !== undefined && { status }),
    ...(agent !== undefined && { agent }),
    ...(taskId !== undefined && { taskId }),
    ...(since !== undefined && { since }),
    ...(until !== undefined && { until }),
  };
}

/** A typo such as `?stauts=` must not silently list everything. */
const LIST_PARAMETERS: ReadonlySet<string> = new Set(['limit', 'cursor', 'direction', 'status', 'agent', 'taskId', 'since', 'until']);

function time(query: QueryReader, field: string): Date | undefined {
  const raw = query.filter(field);
  if (raw === undefined) return undefined;
  const at = ISO_TIME.test(raw) && isCalendarDate(raw) ? new Date(raw) : undefined;
  if (at && !Number.isNaN(at.getTime())) return at;
  return query.fail(field, 'must be an ISO 8601 time, e.g. 2026-12-03T10:00:00Z');
}

/**
 * Date() rolls an impossible day over (2026-02-31 is read as March 3) and takes year 0, which
 * PostgreSQL refuses (a 500): the date part must name a real day from year 1 on.
 */
function isCalendarDate(raw: string): boolean {
  const [year, month, day] = raw.slice(0, 10).split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(2000, month - 1, day));
  date.setUTCFullYear(year);
  return year >= 1 && date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}
