// The bodies of the rooms API (GET /token, /session, WS /ws/transcript/{id}) as zod schemas: the
// routes validate with them, the view types below are inferred from them, and the OpenAPI
// document registers them (route-docs.ts), so the three cannot drift apart. Field names are
// snake_case, as the original voice backend's browser clients send and read them.
import { z } from 'zod';
import { named } from '../openapi/registry.js';
import type { FieldError } from '../util/field-error.js';

/** Room and identity names: what LiveKit accepts everywhere (URLs, logs, dispatch) without escaping. */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
const NAME_RULE = 'must be 1 to 128 characters of A-Z, a-z, 0-9, "_", "." or "-"';

export const MAX_DISPLAY_NAME_CHARS = 128;
export const MAX_SYSTEM_PROMPT_CHARS = 8000;
export const MAX_GREETING_CHARS = 1000;
export const MAX_METADATA_BYTES = 16 * 1024;
export const MAX_IDEMPOTENCY_KEY_CHARS = 255;

/** A required string: "is required" when absent, rather than zod's type wording. */
const requiredString = () => z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be given once, as a string') });
const optionalString = () => z.string({ error: 'must be given once, as a string' }).optional();

const roomName = () => requiredString().regex(ROOM_NAME_PATTERN, NAME_RULE);
/** Text that reaches PostgreSQL, which holds no NUL character in text. */
const text = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .max(max, `must be at most ${max} characters`)
    .refine((value) => !value.includes('\u0000'), 'must not contain the NUL character (\\u0000)');

export const TokenQuery = z
  .object({
    room: roomName(),
    identity: roomName(),
    /** The participant's display name in the room. */
    name: optionalString().pipe(text(MAX_DISPLAY_NAME_CHARS).optional()),
  })
  .meta({ description: 'GET /token: the room to join and who joins it.' });
export type TokenQuery = z.infer<typeof TokenQuery>;

export const TokenResponse = named('RoomToken', z
  .object({
    /** The LiveKit access token (a JWT) the browser joins the room with. */
    token: z.string(),
    /** LIVEKIT_URL: where the browser connects. */
    url: z.string(),
    room: z.string(),
    identity: z.string(),
    /** When the token stops admitting a join (ISO 8601, UTC). */
    expires_at: z.iso.datetime(),
  })
  .meta({ description: 'A LiveKit access token for one identity in one room.' }));
export type TokenResponse = z.infer<typeof TokenResponse>;

const metadata = z
  .record(z.string(), z.json(), { error: 'must be a JSON object' })
  .refine((value) => Buffer.byteLength(JSON.stringify(value)) <= MAX_METADATA_BYTES, `must be at most ${MAX_METADATA_BYTES} bytes as JSON`);

export const CreateSessionRequest = named('NewRoomSession', z
  .strictObject(
    {
      room: roomName(),
      /** The browser user the agent talks to; absent: whoever is in the room. */
      identity: roomName().optional(),
      /** Replaces SYSTEM_PROMPT for this session's agent. */
      system_prompt: text(MAX_SYSTEM_PROMPT_CHARS).optional(),
      /** What the agent says first. */
      greeting: text(MAX_GREETING_CHARS).optional(),
      /** Yours: kept with the session, handed to the agent and the persistence service. */
      metadata: metadata.optional(),
    },
    { error: 'must be a JSON object' },
  )
  .meta({ description: 'POST /session: start an agent session in a room. Unknown fields are refused.' }));
export type CreateSessionRequest = z.infer<typeof CreateSessionRequest>;

export const SESSION_STATES = ['created', 'active', 'ended', 'failed'] as const;
/** created: dispatched, the agent not in the room yet; active: it joined; ended, failed: over. */
export const SessionState = named('RoomSessionState', z.enum(SESSION_STATES));
export type SessionState = z.infer<typeof SessionState>;

export const TranscriptLine = named('RoomTranscriptLine', z
  .object({
    role: z.enum(['user', 'assistant']),
    text: z.string(),
    /** Milliseconds since the agent's job started in the room. */
    at_ms: z.number(),
    /** The agent's reply was cut off by the user; `text` is what was heard. */
    interrupted: z.boolean().optional(),
  })
  .meta({ description: 'One line of a room session\'s transcript.' }));
export type TranscriptLineView = z.infer<typeof TranscriptLine>;

export const SessionSummary = named('RoomSessionSummary', z
  .object({
    session_id: z.string(),
    room: z.string(),
    identity: z.string().optional(),
    state: SessionState,
    /** LiveKit's id of the agent dispatch, once created. */
    dispatch_id: z.string().optional(),
    system_prompt: z.string().optional(),
    greeting: z.string().optional(),
    metadata: z.record(z.string(), z.json()).optional(),
    /** The agent's identity in the room, once it joined. */
    participant: z.string().optional(),
    created_at: z.iso.datetime(),
    /** The agent joined the room. */
    started_at: z.iso.datetime().optional(),
    ended_at: z.iso.datetime().optional(),
    /** Why it ended: `stopped` (DELETE /session/{id}), `dispatch_failed`, or the agent's own reason. */
    end_reason: z.string().optional(),
  })
  .meta({ description: 'A room session as lists show it, without its transcript.' }));
export type SessionSummaryView = z.infer<typeof SessionSummary>;

export const Session = named('RoomSession', SessionSummary.extend({ transcript: z.array(TranscriptLine) }).meta({ description: 'A room session with its transcript so far.' }));
export type SessionView = z.infer<typeof Session>;

export const SessionList = named('RoomSessionPage', z
  .object({
    sessions: z.array(SessionSummary),
    /** Present when more sessions may follow: pass it as `cursor`. */
    next_cursor: z.string().optional(),
  })
  .meta({ description: 'A page of room sessions, newest first.' }));
export type SessionListView = z.infer<typeof SessionList>;

/** What WS /ws/transcript/{session_id} sends: the snapshot first, then each change once, in order. */
export const TranscriptSocketMessage = named('RoomTranscriptMessage', z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('snapshot'), session: Session }),
    z.object({ type: z.literal('transcript'), line: TranscriptLine }),
    z.object({ type: z.literal('state'), state: SessionState, at: z.iso.datetime(), reason: z.string().optional() }),
  ])
  .meta({ description: 'A message of WS /ws/transcript/{session_id}.' }));
export type TranscriptSocketMessage = z.infer<typeof TranscriptSocketMessage>;

/** zod's issues as the API's `details`: one entry per bad field, named by its path (`body` for the whole). */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap((issue): FieldError[] => {
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ field: key, message: 'is not a known field' }));
    const field = issue.path.length === 0 ? 'body' : issue.path.join('.');
    return [{ field, message: issue.code === 'invalid_union' ? 'must be JSON' : issue.message }];
  });
}
