// /api/tasks: parse and check the request, call one service method, shape the reply. Each
// TaskError code has one HTTP status, listed here and nowhere else.
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { sendError } from '../http/errors.js';
import { QueryReader } from '../http/query.js';
import { sendRecording } from '../http/recording.js';
import type { Logger } from '../telemetry/logger.js';
import { TaskError, type TaskErrorCode } from './errors.js';
import { TASK_STATUSES, type AnalysisState } from './model.js';
import type { TaskService } from './service.js';
import { MAX_LIST_LIMIT, type ListOptions } from './store.js';
import { taskSummaryView, taskView } from './view.js';

const STATUS_OF: Readonly<Record<TaskErrorCode, number>> = {
  invalid_request: 400,
  task_not_found: 404,
  recording_not_found: 404,
  call_already_placed: 409,
  task_finished: 409,
  call_not_placed_yet: 409,
  call_not_ended: 409,
  no_conversation: 409,
  twilio_error: 502,
  twilio_not_configured: 503,
  public_url_not_configured: 503,
};

export const DEFAULT_LIST_LIMIT = 50;
/** A task body is small: the prompt (8000 characters) and metadata (16 KiB) are the big parts. */
const BODY_LIMIT = '128kb';

/** What a task links to beyond its own record: the calls placed for it. */
export interface TaskLinks {
  callIdsOf(taskId: string): Promise<string[]>;
}

export function taskRoutes(service: TaskService, logger: Logger, links?: TaskLinks): Router {
  const router = Router();
  // Not strict: a body of `null`, `[]` or `"x"` is valid JSON, so validation answers "body: must be a
  // JSON object" rather than the parser "not valid JSON".
  router.use(express.json({ limit: BODY_LIMIT, strict: false }));

  router.post('/', async (req, res) => {
    res.status(201).json(taskView(await service.create(req.body)));
  });

  router.get('/', async (req, res) => {
    const page = await service.list(parseListQuery(req.query));
    res.json({ tasks: page.tasks.map(taskSummaryView), ...(page.nextCursor && { nextCursor: page.nextCursor }) });
  });

  router.get('/:id', async (req, res) => {
    const task = await service.get(req.params.id);
    // Like every optional field, absent until there is one.
    const callIds = (await links?.callIdsOf(task.id)) ?? [];
    res.json({ ...taskView(task), ...(callIds.length > 0 && { callIds }) });
  });

  router.post('/:id/call', async (req, res) => {
    res.json(taskView(await service.placeCall(req.params.id)));
  });

  router.post('/:id/stop', async (req, res) => {
    const { task, settled } = await service.stop(req.params.id);
    // 202: Twilio was asked to end the call; its status callback will settle the task.
    res.status(settled ? 200 : 202).json(taskView(task));
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

  router.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, next: NextFunction) => {
    if (err instanceof TaskError) {
      return sendError(res, logger, STATUS_OF[err.code], { error: err.code, message: err.message, ...(err.details && { details: err.details }) });
    }
    if (err.type === 'entity.parse.failed') return sendError(res, logger, 400, { error: 'invalid_json', message: 'the body is not valid JSON' });
    if (err.type === 'entity.too.large') return sendError(res, logger, 413, { error: 'body_too_large', message: `the body is over ${BODY_LIMIT}` });
    next(err);
  });
  return router;
}

/** 200 ready, 202 pending, 502 failed: the failure was upstream (the LLM), not the caller's. */
export function replyWithAnalysis(res: Response, logger: Logger, state: AnalysisState): void {
  if (state.state === 'failed') return sendError(res, logger, 502, { error: 'analysis_failed', message: state.error });
  res.status(state.state === 'ready' ? 200 : 202).json(state);
}

/** `limit` (1..200, default 50), `cursor` (opaque, from nextCursor), `status`; every bad one is named. */
function parseListQuery(raw: Request['query']): ListOptions {
  const query = new QueryReader(raw);
  const limit = query.int('limit', 1, MAX_LIST_LIMIT) ?? DEFAULT_LIST_LIMIT;
  const cursor = query.string('cursor');
  if (cursor === '') query.fail('cursor', 'must not be empty (omit it for the first page)');
  const status = query.oneOf('status', TASK_STATUSES);
  if (query.errors.length > 0) throw new TaskError('invalid_request', 'the list query is not valid', query.errors);
  return { limit, ...(cursor !== undefined && { cursor }), ...(status !== undefined && { status }) };
}
