// GET /token and /session: parse and check the request, call one service method, shape the
// reply. Each RoomsError code has one HTTP status, listed here and nowhere else.
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { sendError } from '../http/errors.js';
import { QueryReader } from '../http/query.js';
import type { Logger } from '../telemetry/logger.js';
import { CreateSessionRequest, fieldErrors, MAX_IDEMPOTENCY_KEY_CHARS, SESSION_STATES, TokenQuery, type SessionListView } from './schemas.js';
import { RoomsError, type RoomSessions, type RoomsErrorCode } from './service.js';
import { MAX_SESSION_LIST_LIMIT, type SessionListOptions } from './store.js';
import { mintRoomToken, type TokenSettings } from './tokens.js';
import { sessionSummaryView, sessionView } from './view.js';

export const STATUS_OF: Readonly<Record<RoomsErrorCode, number>> = {
  invalid_request: 400,
  session_refused: 403,
  session_not_found: 404,
  idempotency_key_reused: 409,
  livekit_error: 502,
  persistence_unreachable: 502,
  livekit_not_configured: 503,
};

export const DEFAULT_SESSION_LIST_LIMIT = 50;
/** A session body is small: the prompt (8000 characters) and metadata (16 KiB) are the big parts. */
const BODY_LIMIT = '64kb';
/** Printable ASCII, as HTTP carries it unescaped: a UUID, a hash, a client's own request id. */
const IDEMPOTENCY_KEY = new RegExp(`^[\\x21-\\x7e]{1,${MAX_IDEMPOTENCY_KEY_CHARS}}$`);

export function tokenRoute(settings: TokenSettings, logger: Logger): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const query = TokenQuery.safeParse(req.query);
    if (!query.success) throw new RoomsError('invalid_request', 'the token query is not valid', fieldErrors(query.error));
    // A token is a credential: no cache may keep it.
    res.set('Cache-Control', 'no-store').json(await mintRoomToken(settings, query.data));
  });
  router.use(roomsErrors(logger));
  return router;
}

export function sessionRoutes(sessions: RoomSessions, logger: Logger): Router {
  const router = Router();
  // Not strict: `null` or `[]` is valid JSON, so validation names it ("body: must be a JSON object").
  router.use(express.json({ limit: BODY_LIMIT, strict: false }));

  router.post('/', async (req, res) => {
    const key = idempotencyKey(req);
    const body = CreateSessionRequest.safeParse(req.body ?? null);
    if (!body.success) throw new RoomsError('invalid_request', 'the session request is not valid', fieldErrors(body.error));
    const { session, created } = await sessions.start(body.data, key);
    if (!created) res.set('Idempotent-Replayed', 'true');
    res.status(created ? 201 : 200).json(sessionView(session));
  });

  router.get('/', async (req, res) => {
    const page = await sessions.list(parseListQuery(req.query));
    const body: SessionListView = { sessions: page.sessions.map(sessionSummaryView), ...(page.nextCursor && { next_cursor: page.nextCursor }) };
    res.json(body);
  });

  router.get('/:id', async (req, res) => {
    res.json(sessionView(await sessions.get(req.params.id)));
  });

  router.delete('/:id', async (req, res) => {
    res.json(sessionView(await sessions.stop(req.params.id)));
  });

  router.use(roomsErrors(logger));
  return router;
}

/** Every rooms route while LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET are not all set. */
export function liveKitNotConfigured(logger: Logger) {
  return (_req: Request, res: Response): void =>
    sendError(res, logger, 503, {
      error: 'livekit_not_configured',
      message: 'LiveKit rooms are off: set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET',
    });
}

function roomsErrors(logger: Logger) {
  return (err: Error & { type?: string }, _req: Request, res: Response, next: NextFunction): void => {
    if (err instanceof RoomsError) {
      return sendError(res, logger, STATUS_OF[err.code], { error: err.code, message: err.message, ...(err.details && { details: err.details }) });
    }
    if (err.type === 'entity.parse.failed') return sendError(res, logger, 400, { error: 'invalid_json', message: 'the body is not valid JSON' });
    if (err.type === 'entity.too.large') return sendError(res, logger, 413, { error: 'body_too_large', message: `the body is over ${BODY_LIMIT}` });
    next(err);
  };
}

function idempotencyKey(req: Request): string | undefined {
  const key = req.get('Idempotency-Key');
  if (key === undefined || IDEMPOTENCY_KEY.test(key)) return key;
  throw new RoomsError('invalid_request', 'the Idempotency-Key header is not valid', [
    { field: 'Idempotency-Key', message: `must be 1 to ${MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters without spaces` },
  ]);
}

/** `limit` (1..200, default 50), `cursor` (opaque, from next_cursor), `state`; every bad one is named. */
function parseListQuery(raw: Request['query']): SessionListOptions {
  const query = new QueryReader(raw);
  const limit = query.int('limit', 1, MAX_SESSION_LIST_LIMIT) ?? DEFAULT_SESSION_LIST_LIMIT;
  const cursor = query.string('cursor');
  if (cursor === '') query.fail('cursor', 'must not be empty (omit it for the first page)');
  const state = query.oneOf('state', SESSION_STATES);
  if (query.errors.length > 0) throw new RoomsError('invalid_request', 'the list query is not valid', query.errors);
  return { limit, ...(cursor !== undefined && { cursor }), ...(state !== undefined && { state }) };
}
