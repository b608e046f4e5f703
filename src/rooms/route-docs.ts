// The rooms routes described for the OpenAPI document (GET /openapi.json, src/openapi/api-routes.ts).
import { z } from 'zod';
import { errorReply } from '../http/schemas.js';
import type { RouteDoc } from '../openapi/registry.js';
import { CreateSessionRequest, Session, SessionList, SessionState, TokenQuery, TokenResponse } from './schemas.js';
import { MAX_SESSION_LIST_LIMIT } from './store.js';


const SessionIdParams = z.object({ id: z.string().meta({ description: 'The session_id POST /session answered with.' }) });
const notConfigured = errorReply('livekit_not_configured: LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET are not all set');
const notFound = errorReply('session_not_found');
const TAG = 'rooms';

export const roomRouteDocs: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/token',
    tag: TAG,
    guard: 'apiKey',
    summary: 'A LiveKit room token for a browser user',
    description: 'Join, publish, subscribe and publish data in that room, for LIVEKIT_TOKEN_TTL; with LIVEKIT_TOKEN_AGENT_DISPATCH the token also dispatches the agent.',
    query: TokenQuery,
    responses: {
      200: { description: 'The token', schema: TokenResponse, headers: { 'Cache-Control': 'no-store' } },
      400: errorReply('invalid_request: details names every bad or missing parameter'),
      503: notConfigured,
    },
  },
  {
    method: 'post',
    path: '/session',
    tag: TAG,
    guard: 'apiKey',
    summary: 'Start an agent session in a room',
    description:
      'Asks the persistence service (when configured), dispatches the room agent (the session id, prompt, greeting and metadata as the dispatch metadata) and stores the session. ' +
      'Live transcript: `WS /ws/transcript/{id}` (Bearer or `?token=`): a snapshot, then transcript and state messages.',
    headers: { 'Idempotency-Key': 'Your request id (1-255 printable ASCII): a retry with it answers the first session and dispatches nothing more.' },
    request: { description: 'The session', schema: CreateSessionRequest },
    responses: {
      201: { description: 'The session, state created', schema: Session },
      200: { description: 'A retry with an Idempotency-Key already used: the first session', schema: Session, headers: { 'Idempotent-Replayed': 'true' } },
      400: errorReply('invalid_request (details names every bad field) or invalid_json'),
      403: errorReply('session_refused: the persistence service said no'),
      409: errorReply('idempotency_key_reused: the key was used for another room or identity'),
      413: errorReply('body_too_large'),
      502: errorReply('livekit_error (LiveKit refused the dispatch or could not be reached) or persistence_unreachable'),
      503: notConfigured,
    },
  },
  {
    method: 'get',
    path: '/session',
    tag: TAG,
    guard: 'apiKey',
    summary: 'List sessions, newest first',
    query: z.object({
      limit: z.number().int().min(1).max(MAX_SESSION_LIST_LIMIT).optional().meta({ description: 'Page size, default 50.' }),
      cursor: z.string().optional().meta({ description: "The previous page's next_cursor." }),
      state: SessionState.optional(),
    }),
    responses: {
      200: { description: 'A page of sessions, without transcripts', schema: SessionList },
      400: errorReply('invalid_request naming each bad parameter'),
      503: notConfigured,
    },
  },
  {
    method: 'get',
    path: '/session/{id}',
    tag: TAG,
    guard: 'apiKey',
    summary: 'A session with its transcript so far',
    pathParams: SessionIdParams,
    responses: { 200: { description: 'The session', schema: Session }, 404: notFound, 503: notConfigured },
  },
  {
    method: 'delete',
    path: '/session/{id}',
    tag: TAG,
    guard: 'apiKey',
    summary: 'Stop a session: its agent dispatch deleted, the session ended',
    description: 'Idempotent: a session already over is answered as it is.',
    pathParams: SessionIdParams,
    responses: {
      200: { description: 'The ended session', schema: Session },
      404: notFound,
      502: errorReply('livekit_error: the dispatch could not be deleted; the session stays live'),
      503: notConfigured,
    },
  },
];
