// The task API's bodies as zod schemas for the OpenAPI document, and its routes' descriptions.
// The types the code already uses (model.ts, view.ts) stay the source of truth for the code; each
// schema is tied to its type at compile time (SameShape, both ways), so neither can change alone.
// Validation of a new task stays in model.ts (validateNewTask): its messages name every field.
import { z } from 'zod';
import { errorReply } from '../http/schemas.js';
import { named, type RouteDoc, type SameShape } from '../openapi/registry.js';
import { E164 } from '../twilio/phone-number.js';
import { MAX_GREETING_CHARS, MAX_PROMPT_CHARS, TASK_STATUSES, type AnalysisState, type CallAnalysis, type JsonObject, type NewTask, type StatusChange, type TranscriptLine } from './model.js';
import { MAX_LIST_LIMIT } from './store.js';
import type { TaskSummaryView, TaskView } from './view.js';

const isoTime = (description: string) => z.string().meta({ description: `${description} (ISO 8601, UTC).`, format: 'date-time' });

export const JsonValueSchema = named('JsonValue', z.json());
const JsonObjectSchema = z.record(z.string(), JsonValueSchema);

export const TaskStatusSchema = named(
  'TaskStatus',
  z.enum(TASK_STATUSES).meta({ description: 'created → queued → ringing → in-progress → completed, or before the answer busy, no-answer, failed, canceled (terminal).' }),
);

export const NewTaskSchema = named(
  'NewTask',
  z
    .object({
      to: z.string().regex(E164).meta({ description: 'The number to call, E.164.', example: '+14155550123' }),
      from: z.string().regex(E164).nullable().optional().meta({ description: 'Caller id; default TWILIO_PHONE_NUMBER (or Twilio\'s test number while calls are simulated).' }),
      prompt: z.string().min(1).max(MAX_PROMPT_CHARS).nullable().optional().meta({ description: 'What the agent should try to do on this call.' }),
      greeting: z.string().min(1).max(MAX_GREETING_CHARS).nullable().optional().meta({ description: 'What the agent says first.' }),
      metadata: JsonObjectSchema.nullable().optional().meta({ description: 'Anything of yours, a JSON object of at most 16 KiB.' }),
    })
    .strict()
    .meta({ description: 'A new outbound call task. Unknown fields are refused; null is the same as absent.' }),
);

export const TranscriptLineSchema = named(
  'TranscriptLine',
  z.object({
    role: z.enum(['user', 'assistant', 'system']),
    text: z.string(),
    atMs: z.number().meta({ description: "Milliseconds since the call's media stream started." }),
    interrupted: z.boolean().optional().meta({ description: 'The agent was cut off by a barge-in: `text` is what the caller heard.' }),
  }),
);

export const StatusChangeSchema = named(
  'StatusChange',
  z.object({ status: TaskStatusSchema, at: isoTime('When the change was recorded'), source: z.string().optional().meta({ description: 'api, twilio-status, media-stream, restart' }) }),
);

export const CallAnalysisSchema = named(
  'CallAnalysis',
  z.object({
    summary: z.string(),
    outcome: z.object({ goal_reached: z.boolean().nullable(), explanation: z.string() }),
    sentiment: z.enum(['positive', 'neutral', 'negative', 'mixed']),
    action_items: z.array(z.string()),
    key_facts: z.record(z.string(), z.string()),
  }),
);

export const AnalysisPendingSchema = named('AnalysisPending', z.object({ state: z.literal('pending') }));
export const AnalysisReadySchema = named('AnalysisReady', z.object({ state: z.literal('ready'), analysis: CallAnalysisSchema }));
export const AnalysisStateSchema = named(
  'AnalysisState',
  z.discriminatedUnion('state', [AnalysisPendingSchema, AnalysisReadySchema, z.object({ state: z.literal('failed'), error: z.string() })]),
);

const taskFields = {
  id: z.string(),
  to: z.string(),
  from: z.string(),
  prompt: z.string().optional(),
  greeting: z.string().optional(),
  metadata: JsonObjectSchema.optional(),
  status: TaskStatusSchema,
  history: z.array(StatusChangeSchema).meta({ description: 'Every status the task has had, oldest first.' }),
  callSid: z.string().optional(),
  createdAt: isoTime('Created'),
  updatedAt: isoTime('Last change of status, fields or analysis'),
  dialedAt: isoTime('First move to queued, ringing or in-progress').optional(),
  answeredAt: isoTime('Move to in-progress').optional(),
  endedAt: isoTime('Move to a terminal status').optional(),
  durationS: z.number().optional(),
  answeredBy: z.string().optional().meta({ description: 'Answering-machine detection, e.g. human, machine_start.' }),
  endReason: z.string().optional(),
  analysis: AnalysisStateSchema.optional(),
  audioUrl: z.string().optional().meta({ description: 'Where the recording is served, once there is one.' }),
};

export const TaskSummarySchema = named('TaskSummary', z.object(taskFields).meta({ description: 'A task as listed: everything but the transcript.' }));
export const TaskSchema = named(
  'Task',
  z.object({
    ...taskFields,
    transcript: z.array(TranscriptLineSchema),
    callIds: z.array(z.string()).optional().meta({ description: 'The calls placed for the task (GET /api/calls/{id}), oldest first; absent before the first.' }),
  }),
);
export const TaskPageSchema = named(
  'TaskPage',
  z.object({ tasks: z.array(TaskSummarySchema), nextCursor: z.string().optional().meta({ description: 'Pass as `cursor` for the next page; absent on the last.' }) }),
);

// The ties: a change to a type or to its schema alone does not compile.
true satisfies SameShape<z.infer<typeof TaskSchema>, TaskView>;
true satisfies SameShape<z.infer<typeof TaskSummarySchema>, TaskSummaryView>;
true satisfies SameShape<z.infer<typeof TranscriptLineSchema>, TranscriptLine>;
true satisfies SameShape<z.infer<typeof StatusChangeSchema>, StatusChange>;
true satisfies SameShape<z.infer<typeof CallAnalysisSchema>, CallAnalysis>;
true satisfies SameShape<z.infer<typeof AnalysisStateSchema>, AnalysisState>;
true satisfies SameShape<z.infer<typeof JsonObjectSchema>, JsonObject>;
// The request also takes null for an absent field, so the tie is one way: every NewTask is a valid body.
true satisfies SameShape<NewTask extends z.input<typeof NewTaskSchema> ? true : false, true>;

const TaskIdParams = z.object({ id: z.string().meta({ description: 'The task id, e.g. task_…' }) });
const notFound = errorReply('task_not_found');

export const taskRouteDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/api/tasks',
    tag: 'tasks',
    guard: 'apiKey',
    summary: 'Create a call task',
    request: { description: 'The task', schema: NewTaskSchema },
    responses: {
      201: { description: 'The task, status created', schema: TaskSchema },
      400: errorReply('invalid_request (details names every bad field) or invalid_json'),
      413: errorReply('body_too_large'),
    },
  },
  {
    method: 'get',
    path: '/api/tasks',
    tag: 'tasks',
    guard: 'apiKey',
    summary: 'List tasks, newest first',
    query: z.object({
      limit: z.number().int().min(1).max(MAX_LIST_LIMIT).optional().meta({ description: 'Page size, default 50.' }),
      cursor: z.string().optional().meta({ description: "The previous page's nextCursor." }),
      status: TaskStatusSchema.optional(),
    }),
    responses: { 200: { description: 'A page of tasks, without transcripts', schema: TaskPageSchema }, 400: errorReply('invalid_request naming each bad parameter') },
  },
  {
    method: 'get',
    path: '/api/tasks/{id}',
    tag: 'tasks',
    guard: 'apiKey',
    summary: 'A task with its status history and transcript',
    description: 'Live events of the task stream on `WS /ws/call/{id}` (Bearer or `?token=`): a snapshot, then status, transcript, latency, call_ended and analysis messages.',
    pathParams: TaskIdParams,
    responses: { 200: { description: 'The task', schema: TaskSchema }, 404: notFound },
  },
  {
    method: 'post',
    path: '/api/tasks/{id}/call',
    tag: 'tasks',
    guard: 'apiKey',
    summary: 'Dial the task',
    pathParams: TaskIdParams,
    responses: {
      200: { description: 'The task, queued, with its callSid', schema: TaskSchema },
      404: notFound,
      409: errorReply('call_already_placed or task_finished'),
      502: errorReply('twilio_error: Twilio refused (the task is then failed)'),
      503: errorReply('twilio_not_configured, public_url_not_configured, or draining'),
    },
  },
  {
    method: 'post',
    path: '/api/tasks/{id}/stop',
    tag: 'tasks',
    guard: 'apiKey',
    summary: 'Cancel the task or hang its call up',
    pathParams: TaskIdParams,
    responses: {
      200: { description: 'Settled here: canceled before dialing, a simulated call ended, or already finished', schema: TaskSchema },
      202: { description: "Twilio was asked to end the call; its status callback settles the task", schema: TaskSchema },
      404: notFound,
      502: errorReply('twilio_error'),
    },
  },
  {
    method: 'get',
    path: '/api/tasks/{id}/audio',
    tag: 'tasks',
    guard: 'apiKey',
    summary: 'The call recording: stereo 8 kHz 16-bit WAV, left caller, right agent',
    pathParams: TaskIdParams,
    headers: { Range: 'A byte range, e.g. bytes=0-1023 (206 in reply)' },
    responses: {
      200: { description: 'The whole WAV', contentType: 'audio/wav' },
      206: { description: 'The requested range of the WAV', contentType: 'audio/wav', headers: { 'Content-Range': 'bytes first-last/size' } },
      404: errorReply('task_not_found or recording_not_found'),
      416: errorReply('range_not_satisfiable'),
    },
  },
  {
    method: 'get',
    path: '/api/tasks/{id}/analysis',
    tag: 'tasks',
    guard: 'apiKey',
    summary: 'The post-call analysis',
    pathParams: TaskIdParams,
    responses: {
      200: { description: 'Ready', schema: AnalysisReadySchema },
      202: { description: 'Being made', schema: AnalysisPendingSchema },
      404: notFound,
      409: errorReply('call_not_ended, call_not_placed_yet or no_conversation'),
      502: errorReply('analysis_failed, with the reason'),
    },
  },
  {
    method: 'post',
    path: '/api/tasks/{id}/analysis',
    tag: 'tasks',
    guard: 'apiKey',
    summary: 'Make a failed analysis again',
    pathParams: TaskIdParams,
    responses: {
      200: { description: 'Already ready: returned as is', schema: AnalysisReadySchema },
      202: { description: 'Started again', schema: AnalysisPendingSchema },
      404: notFound,
      409: errorReply('call_not_ended, call_not_placed_yet or no_conversation'),
      502: errorReply('analysis_failed'),
    },
  },
];
