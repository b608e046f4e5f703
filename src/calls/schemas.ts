// The calls API's contract: every request and response body of /api/calls and the messages of
// WS /ws/call/{id} for a call, as zod schemas. The view types are derived from them (z.infer), so
// the OpenAPI document built from these (z.toJSONSchema) and the code cannot drift apart.
//
// Times: `startedAt`, `endedAt`, `createdAt` are ISO 8601 UTC. Every `...AtMs` is a position in
// milliseconds on the call's own clock, which is the time axis of its WAV: sample n of the
// recording plays at n / 8 ms, and event positions are on that grid (multiples of 0.125 ms), so an
// event at `atMs` lies exactly at sample atMs * 8. Transcript lines' `atMs` are call time too.
import { z } from 'zod';

export const CALL_DIRECTIONS = ['inbound', 'outbound', 'browser'] as const;
export const CallDirection = z.enum(CALL_DIRECTIONS).describe('inbound: a call to the Twilio number; outbound: placed for a task; browser: from the console');
export type CallDirection = z.infer<typeof CallDirection>;

/**
 * `pending`: a browser call created, its stream not opened yet. `completed`: the stream ended
 * normally (hang-up, stop, the agent's goodbye, a transfer). `failed`: it ended on an error
 * (the agent failed, an unsupported audio format, an internal error).
 */
export const CALL_STATUSES = ['pending', 'in-progress', 'completed', 'failed'] as const;
export const CallStatus = z.enum(CALL_STATUSES);
export type CallStatus = z.infer<typeof CallStatus>;

export const TranscriptLine = z.object({
  role: z.enum(['user', 'assistant', 'system']),
  text: z.string().describe('For an interrupted agent line: the words the caller actually heard'),
  atMs: z.number().describe('Position on the WAV time axis (ms)'),
  interrupted: z.boolean().optional().describe('The agent was cut off by a barge-in'),
});
export type CallTranscriptLine = z.infer<typeof TranscriptLine>;

// ---------------------------------------------------------------------------------------------
// Timeline events: what the console draws on the recording. `atMs` orders them; the other
// positions say where each part of the event lies on the same axis.

export const TurnEvent = z.object({
  type: z.literal('turn'),
  atMs: z.number().describe('= agentStartedAtMs'),
  userStoppedAtMs: z.number().describe("End of the caller's last voiced frame"),
  agentStartedAtMs: z.number().describe("Where the agent's answer starts in the WAV's agent channel"),
  latencyMs: z.number().describe('The gap as heard: agentStartedAtMs − userStoppedAtMs'),
});

export const BargeInEvent = z.object({
  type: z.literal('barge_in'),
  atMs: z.number().describe('= callerStartedAtMs'),
  callerStartedAtMs: z.number().describe('Where the caller started speaking over the agent'),
  signalAtMs: z.number().describe("When the agent signalled the barge-in"),
  cutAtMs: z.number().describe("Where the agent's audio was cut (clear sent): the agent channel is silent from here"),
});

/** The digit itself is never kept: callers key in PINs and card numbers. */
export const DtmfEvent = z.object({
  type: z.literal('dtmf'),
  atMs: z.number(),
});

export const AgentErrorEvent = z.object({
  type: z.literal('agent_error'),
  atMs: z.number(),
  fatal: z.boolean().describe('A fatal error ended the call; others were recovered from (a fallback took over)'),
  message: z.string(),
});

export const CallEvent = z.discriminatedUnion('type', [TurnEvent, BargeInEvent, DtmfEvent, AgentErrorEvent]);
export type CallEvent = z.infer<typeof CallEvent>;
export type TurnEvent = z.infer<typeof TurnEvent>;
export type BargeInEvent = z.infer<typeof BargeInEvent>;

// ---------------------------------------------------------------------------------------------
// The call record

export const CallSummaryView = z.object({
  id: z.string().describe("Our own id for the call (stable; not Twilio's CallSid)"),
  direction: CallDirection,
  status: CallStatus,
  agent: z.string().describe('The agent kind that answered: deepgram, livekit, echo...'),
  taskId: z.string().optional().describe('The task this call was placed for (outbound calls)'),
  callSid: z.string().optional(),
  streamSid: z.string().optional(),
  from: z.string().optional().describe('Caller number, when known (TwiML parameters or the task)'),
  to: z.string().optional(),
  createdAt: z.string().describe('When the record was made: the stream started, or the browser call was created'),
  startedAt: z.string().optional().describe('When the media stream started'),
  endedAt: z.string().optional(),
  durationMs: z.number().optional(),
  endReason: z.string().optional().describe('Why the stream ended, e.g. twilio_stop, agent_hangup, agent_error'),
  endDetail: z.string().optional(),
  audioUrl: z.string().optional().describe('Present once the WAV is kept: GET serves it (Range supported)'),
  recordingMs: z.number().optional().describe("The WAV's length"),
  transcriptAvailable: z.boolean().describe('False when the agent keeps no transcript (the echo agent)'),
  transcriptNote: z.string().optional().describe('Why there is no transcript'),
});
export type CallSummaryView = z.infer<typeof CallSummaryView>;

export const CallView = CallSummaryView.extend({
  transcript: z.array(TranscriptLine),
  events: z.array(CallEvent).describe('Timeline events, ordered by atMs'),
});
export type CallView = z.infer<typeof CallView>;

// ---------------------------------------------------------------------------------------------
// GET /api/calls

export const MAX_CALL_LIST_LIMIT = 200;
export const DEFAULT_CALL_LIST_LIMIT = 50;

/** Every filter is optional; every bad one is named in one 400. `since`/`until` bound createdAt. */
export const ListCallsQuery = z.object({
  limit: z.string().optional().describe(`1..${MAX_CALL_LIST_LIMIT}, default ${DEFAULT_CALL_LIST_LIMIT}`),
  cursor: z.string().optional().describe('nextCursor of the previous page'),
  direction: CallDirection.optional(),
  status: CallStatus.optional(),
  agent: z.string().optional(),
  taskId: z.string().optional(),
  since: z.string().optional().describe('ISO 8601: calls created at or after this time'),
  until: z.string().optional().describe('ISO 8601: calls created before this time'),
});

export const CallPage = z.object({
  calls: z.array(CallSummaryView).describe('Newest first'),
  nextCursor: z.string().optional().describe('Present when more calls may follow'),
});
export type CallPage = z.infer<typeof CallPage>;

// ---------------------------------------------------------------------------------------------
// POST /api/calls/browser

/** No body is needed; `{}` or none. */
export const BrowserCallRequest = z.object({}).strict();

export const BrowserCallCreated = z.object({
  callId: z.string(),
  streamUrl: z.string().describe('The media-stream WebSocket URL to open (single use when it carries a token)'),
  customParameters: z
    .record(z.string(), z.string())
    .describe("Send these as start.customParameters (they name the call); the stream then speaks Twilio's media-stream protocol"),
  expiresAt: z.string().optional().describe("With signature checks on (the URL carries a token): the stream must open before this time"),
});
export type BrowserCallCreated = z.infer<typeof BrowserCallCreated>;

// ---------------------------------------------------------------------------------------------
// GET/POST /api/calls/{id}/analysis: 200 ready, 202 pending; 502 failed and 409 for a call with
// no transcript (the echo agent) or not ended come as errors.

export const CallAnalysis = z.object({
  summary: z.string(),
  outcome: z.object({ goal_reached: z.boolean().nullable(), explanation: z.string() }),
  sentiment: z.enum(['positive', 'neutral', 'negative', 'mixed']),
  action_items: z.array(z.string()),
  key_facts: z.record(z.string(), z.string()),
});

export const AnalysisState = z.discriminatedUnion('state', [
  z.object({ state: z.literal('pending') }),
  z.object({ state: z.literal('ready'), analysis: CallAnalysis }),
]);
export type CallAnalysisState = z.infer<typeof AnalysisState>;

// ---------------------------------------------------------------------------------------------
// Errors: the API's one shape

export const ApiError = z.object({
  error: z.string().describe('A stable code, e.g. call_not_found, invalid_request, no_transcript'),
  message: z.string(),
  details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});

// ---------------------------------------------------------------------------------------------
// WS /ws/call/{id} with a call's id: a snapshot first, then events as they happen.

export const CallLiveMessage = z.union([
  z.object({ type: z.literal('call_snapshot'), call: CallView }),
  z.object({ type: z.literal('call_status'), status: CallStatus }),
  z.object({ type: z.literal('transcript'), line: TranscriptLine }),
  z.object({ type: z.literal('call_event'), event: CallEvent }),
  z.object({ type: z.literal('latency'), metric: z.string(), ms: z.number() }),
  z.object({ type: z.literal('call_ended'), reason: z.string(), durationMs: z.number(), recording: z.boolean() }),
  z.object({ type: z.literal('analysis'), state: z.literal('ready'), analysis: CallAnalysis }),
  z.object({ type: z.literal('analysis'), state: z.literal('failed'), error: z.string() }),
]);
export type CallLiveMessage = z.infer<typeof CallLiveMessage>;

/** Every schema the OpenAPI document should register, by component name. */
export const CALL_SCHEMAS = {
  CallDirection,
  CallStatus,
  CallTranscriptLine: TranscriptLine,
  CallEvent,
  CallSummary: CallSummaryView,
  Call: CallView,
  CallPage,
  ListCallsQuery,
  BrowserCallRequest,
  BrowserCallCreated,
  CallAnalysisState: AnalysisState,
  CallLiveMessage,
} as const;
