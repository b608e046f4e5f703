// The persistence service's contract as data: what the gateway sends it (call and session
// records, the validation question) and what it must answer to a validation. The README's
// "Persistence service" section describes the same shapes; snake_case, as a Django service reads them.
import { z } from 'zod';

export const RecordTranscriptLine = z.object({
  role: z.enum(['user', 'assistant']),
  text: z.string(),
  /** Milliseconds since the call or session started. */
  at_ms: z.number(),
  /** An assistant line cut short by the caller speaking over it: the text is what was heard. */
  interrupted: z.boolean().optional(),
});
export type RecordTranscriptLine = z.infer<typeof RecordTranscriptLine>;

/** `POST /api/ingest/calls`: a finished phone call. Nothing secret, no DTMF digits. */
export const CallRecord = z.object({
  /** The media stream's sid: one record per stream, the idempotency key's id. */
  call_id: z.string(),
  call_sid: z.string(),
  stream_sid: z.string(),
  task_id: z.string().nullable(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  /** Twilio's Direction as the voice webhook saw it (`inbound`, `outbound-api`...), when known. */
  direction: z.string().nullable(),
  /** The agent that answered: `echo`, `deepgram`, `livekit`, or a custom one. */
  agent: z.string(),
  started_at: z.iso.datetime(),
  ended_at: z.iso.datetime(),
  duration_ms: z.number().int().nonnegative(),
  end_reason: z.string(),
  /** The WAV's file name in the gateway's RECORDINGS_DIR (no folder), when one was kept. */
  recording: z.string().nullable(),
  transcript: z.array(RecordTranscriptLine),
});
export type CallRecord = z.infer<typeof CallRecord>;

/** `POST /api/ingest/sessions`: a finished LiveKit room session. */
export const SessionRecord = z.object({
  session_id: z.string(),
  room: z.string(),
  identity: z.string().nullable(),
  started_at: z.iso.datetime(),
  ended_at: z.iso.datetime(),
  end_reason: z.string(),
  /** The metadata the client gave POST /session, as given. */
  metadata: z.unknown(),
  transcript: z.array(RecordTranscriptLine),
});
export type SessionRecord = z.infer<typeof SessionRecord>;

/** `POST /api/sessions/validate`: may this session start? */
export const SessionValidationRequest = z.object({
  session_id: z.string(),
  room: z.string(),
  identity: z.string().nullable(),
  metadata: z.unknown(),
});
export type SessionValidationRequest = z.infer<typeof SessionValidationRequest>;

/** The service's 200 answer to a validation; anything else counts as no answer. */
export const SessionValidationResponse = z.object({
  allowed: z.boolean(),
  /** Why not, for the gateway's log (never shown to the browser). */
  reason: z.string().optional(),
});
export type SessionValidationResponse = z.infer<typeof SessionValidationResponse>;
