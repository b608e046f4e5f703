// The outbound-call task: its types, its one status state machine, and validation of a new task.
// Pure: no I/O, so the store, the service and the routes all share the same rules.
import { E164 } from '../twilio/phone-number.js';
import type { FieldError, Validation } from '../util/field-error.js';
import { isPlainObject } from '../util/plain-object.js';

export const TASK_STATUSES = [
  'created',
  'queued',
  'ringing',
  'in-progress',
  'completed',
  'busy',
  'no-answer',
  'failed',
  'canceled',
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set<TaskStatus>([
  'completed',
  'busy',
  'no-answer',
  'failed',
  'canceled',
]);

/**
 * Allowed moves. Forward skips are allowed because Twilio's status callbacks can be missing or
 * arrive before our own REST call returns (no `ringing`, or `in-progress` seen first). An answered
 * call ends `completed` (or `failed` when our side breaks); an unanswered one ends busy, no-answer,
 * failed or canceled. `completed` needs ringing or in-progress: Twilio reports it only for calls
 * that connected. A task never dialed can only fail or be canceled. Terminal states are final.
 */
const TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  created: ['queued', 'ringing', 'in-progress', 'failed', 'canceled'],
  queued: ['ringing', 'in-progress', 'busy', 'no-answer', 'failed', 'canceled'],
  ringing: ['in-progress', 'completed', 'busy', 'no-answer', 'failed', 'canceled'],
  'in-progress': ['completed', 'failed'],
  completed: [],
  busy: [],
  'no-answer': [],
  failed: [],
  canceled: [],
};

/** Whether `from → to` is a legal move. A move to the same status is not (callers treat a repeat as a no-op). */
export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTaskStatus(value: unknown): value is TaskStatus {
  return typeof value === 'string' && (TASK_STATUSES as readonly string[]).includes(value);
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface TranscriptLine {
  role: 'user' | 'assistant' | 'system';
  text: string;
  /** Milliseconds since the call's media stream started. */
  atMs: number;
  /** The agent was cut off by a barge-in; `text` holds what the caller actually heard. */
  interrupted?: boolean;
}

export interface StatusChange {
  status: TaskStatus;
  /** ISO 8601 time the change was recorded. */
  at: string;
  /** What caused it, e.g. `api`, `twilio-status`, `media-stream`. */
  source?: string;
}

export interface CallAnalysis {
  summary: string;
  outcome: { goal_reached: boolean | null; explanation: string };
  sentiment: 'positive' | 'neutral' | 'negative' | 'mixed';
  action_items: string[];
  key_facts: Record<string, string>;
}

/** Absent on a task means analysis was never started. */
export type AnalysisState =
  | { state: 'pending' }
  | { state: 'ready'; analysis: CallAnalysis }
  | { state: 'failed'; error: string };

/** What an operator supplies. `from` may be omitted: the default caller id is applied later. */
export interface NewTask {
  to: string;
  from?: string;
  prompt?: string;
  greeting?: string;
  metadata?: JsonObject;
}

export interface Task {
  id: string;
  to: string;
  from: string;
  prompt?: string;
  greeting?: string;
  metadata?: JsonObject;
  status: TaskStatus;
  /** Every status the task has had, oldest first, starting with `created`. */
  history: StatusChange[];
  callSid?: string;
  createdAt: string;
  /** Last change of status, fields or analysis; transcript appends do not touch it. */
  updatedAt: string;
  /** Set on the first move to queued, ringing or in-progress. */
  dialedAt?: string;
  /** Set on the move to in-progress. */
  answeredAt?: string;
  /** Set on the move to a terminal status. */
  endedAt?: string;
  durationS?: number;
  /** Twilio answering-machine detection result, e.g. `human`, `machine_start`. */
  answeredBy?: string;
  endReason?: string;
  transcript: TranscriptLine[];
  recordingPath?: string;
  analysis?: AnalysisState;
}

// ---------------------------------------------------------------------------------------------
// Validation of a new task

/**
 * The caller id of a task created without `from` while Twilio is not configured (its calls are
 * simulated, e.g. with `npm run simulate-call`): Twilio's documented test number, never a
 * subscriber's. With Twilio configured, TWILIO_PHONE_NUMBER is the default and nothing else is.
 */
export const SIMULATED_CALLER_ID = '+15005550006';

export const MAX_PROMPT_CHARS = 8000;
export const MAX_GREETING_CHARS = 1000;
export const MAX_METADATA_BYTES = 16 * 1024;

const NEW_TASK_FIELDS: ReadonlySet<string> = new Set(['to', 'from', 'prompt', 'greeting', 'metadata']);

/**
 * Checks an untrusted request body and names every bad field at once, so an operator fixes a
 * request in one round trip. Optional fields may be omitted or null; unknown fields are refused
 * (a typo such as `greting` must not be silently ignored).
 */
export function validateNewTask(input: unknown): Validation<NewTask> {
  if (!isPlainObject(input)) return fail([{ field: 'body', message: 'must be a JSON object' }]);
  const errors: FieldError[] = [];
  const value: NewTask = { to: '' };

  for (const key of Object.keys(input)) {
    if (!NEW_TASK_FIELDS.has(key)) errors.push({ field: key, message: 'is not a known field' });
  }
  const to = checkPhone(input.to, 'to', true, errors);
  if (to !== undefined) value.to = to;
  const from = checkPhone(input.from, 'from', false, errors);
  if (from !== undefined) value.from = from;
  const prompt = checkText(input.prompt, 'prompt', MAX_PROMPT_CHARS, errors);
  if (prompt !== undefined) value.prompt = prompt;
  const greeting = checkText(input.greeting, 'greeting', MAX_GREETING_CHARS, errors);
  if (greeting !== undefined) value.greeting = greeting;
  const metadata = checkMetadata(input.metadata, errors);
  if (metadata !== undefined) value.metadata = metadata;

  return errors.length > 0 ? fail(errors) : { ok: true, value };
}

function fail(errors: FieldError[]): { ok: false; errors: FieldError[] } {
  return { ok: false, errors };
}

function isAbsent(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

function checkPhone(raw: unknown, field: string, required: boolean, errors: FieldError[]): string | undefined {
  if (isAbsent(raw)) {
    if (required) errors.push({ field, message: 'is required' });
    return undefined;
  }
  if (typeof raw !== 'string' || !E164.test(raw)) {
    errors.push({ field, message: 'must be a phone number in E.164 format, e.g. +14155550123' });
    return undefined;
  }
  return raw;
}

function checkText(raw: unknown, field: string, maxChars: number, errors: FieldError[]): string | undefined {
  if (isAbsent(raw)) return undefined;
  if (typeof raw !== 'string') {
    errors.push({ field, message: 'must be a string' });
    return undefined;
  }
  if (raw.trim() === '') {
    errors.push({ field, message: 'must not be empty (omit it to use the default)' });
    return undefined;
  }
  // No prompt or greeting holds one, and PostgreSQL cannot store it in text (SQLite could).
  if (raw.includes('\u0000')) {
    errors.push({ field, message: 'must not contain the NUL character (\\u0000)' });
    return undefined;
  }
  // Count code points, not UTF-16 units, so an emoji counts as one character.
  const length = [...raw].length;
  if (length > maxChars) {
    errors.push({ field, message: `must be at most ${maxChars} characters (got ${length})` });
    return undefined;
  }
  return raw;
}

function checkMetadata(raw: unknown, errors: FieldError[]): JsonObject | undefined {
  if (isAbsent(raw)) return undefined;
  const field = 'metadata';
  if (!isPlainObject(raw)) {
    errors.push({ field, message: 'must be a JSON object' });
    return undefined;
  }
  if (!isJsonValue(raw)) {
    errors.push({ field, message: `must hold only JSON values, nested at most ${MAX_JSON_DEPTH} deep` });
    return undefined;
  }
  const bytes = Buffer.byteLength(JSON.stringify(raw), 'utf8');
  if (bytes > MAX_METADATA_BYTES) {
    errors.push({ field, message: `must be at most ${MAX_METADATA_BYTES} bytes as JSON (got ${bytes})` });
    return undefined;
  }
  return raw as JsonObject;
}

const MAX_JSON_DEPTH = 64;

/** True for values that survive a JSON round trip unchanged (no NaN, undefined, Date, cycles...). */
export function isJsonValue(value: unknown, depth = 0): value is JsonValue {
  if (depth > MAX_JSON_DEPTH) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((item) => isJsonValue(item, depth + 1));
  if (isPlainObject(value)) return Object.values(value).every((item) => isJsonValue(item, depth + 1));
  return false;
}
