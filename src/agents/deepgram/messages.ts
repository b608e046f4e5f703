// Wire types of the Deepgram Voice Agent converse socket, and a parser for what the server sends.
// Server messages reuse the SDK's exported types; Settings has our own narrow types, because the
// SDK's are wider than what we send and awkward in places (see toSdkSettings).
import type { agent } from '@deepgram/sdk';
import { isPlainObject } from '../../util/plain-object.js';

// ---------------------------------------------------------------- Settings (client → server)

/** The gateway always speaks Twilio's format to the agent: 8 kHz mu-law, no container. */
export interface MulawInput {
  encoding: 'mulaw';
  sample_rate: 8000;
}

export interface MulawOutput extends MulawInput {
  /** `none`: raw bytes; `wav` would prepend a header Twilio would play as a click. */
  container: 'none';
}

export interface ListenProviderV1 {
  type: 'deepgram';
  /** Required by the service's schema even though v1 is the default. */
  version: 'v1';
  model: string;
}

/** The service's names for the LLM providers (ours are in config: `openai`, ...). */
export type ThinkProviderType = 'open_ai' | 'anthropic' | 'google' | 'groq';

export interface ThinkProvider {
  type: ThinkProviderType;
  model: string;
  temperature?: number;
}

/** A bring-your-own LLM endpoint: a sibling of `provider`, never nested in it. */
export interface ThinkEndpoint {
  url: string;
  headers: Record<string, string>;
}

/** The subset of JSON Schema our function parameters use. */
export interface JsonSchemaProperty {
  type: 'string' | 'number' | 'integer' | 'boolean';
  description: string;
  enum?: string[];
}

export interface JsonSchemaObject {
  type: 'object';
  properties: Record<string, JsonSchemaProperty>;
  required?: string[];
}

/** A client-side function: no `endpoint` (that is what makes it client-side) and no `client_side`. */
export interface AgentFunction {
  name: string;
  description: string;
  parameters: JsonSchemaObject;
}

export interface ThinkSettings {
  provider: ThinkProvider;
  endpoint?: ThinkEndpoint;
  prompt: string;
  functions?: AgentFunction[];
}

export interface SpeakSettings {
  provider: { type: 'deepgram'; model: string };
}

/** A pre-seeded conversation line, e.g. to carry the transcript across a reconnect. */
export interface HistoryEntry {
  type: 'History';
  role: 'user' | 'assistant';
  content: string;
}

export interface AgentSettings {
  listen: { provider: ListenProviderV1 };
  think: ThinkSettings;
  speak: SpeakSettings;
  greeting?: string;
  context?: { messages: HistoryEntry[] };
}

export interface SettingsMessage {
  type: 'Settings';
  tags?: string[];
  flags?: { history: boolean };
  audio: { input: MulawInput; output: MulawOutput };
  agent: AgentSettings;
}

/**
 * Our Settings as the SDK's `sendSettings` argument. The only cast at this boundary: the SDK types
 * Groq's `model` as the single literal "openai/gpt-oss-20b", while we pass the configured string.
 * The JSON on the wire is exactly our object (the SDK sends it as passed).
 */
export function toSdkSettings(settings: SettingsMessage): agent.AgentV1Settings {
  return settings as unknown as agent.AgentV1Settings;
}

// ---------------------------------------------------------------- client → server (others)

export type KeepAliveMessage = agent.AgentV1KeepAlive;
export type FunctionCallResponseMessage = agent.AgentV1SendFunctionCallResponse;
export type UpdatePromptMessage = agent.AgentV1UpdatePrompt;
export type InjectAgentMessage = agent.AgentV1InjectAgentMessage;
export type InjectUserMessage = agent.AgentV1InjectUserMessage;

// ---------------------------------------------------------------- server → client

export type WelcomeMessage = agent.AgentV1Welcome;
export type SettingsAppliedMessage = agent.AgentV1SettingsApplied;
export type PromptUpdatedMessage = agent.AgentV1PromptUpdated;
export type SpeakUpdatedMessage = agent.AgentV1SpeakUpdated;
export type ThinkUpdatedMessage = agent.AgentV1ThinkUpdated;
export type ListenUpdatedMessage = agent.AgentV1ListenUpdated;
export type UserStartedSpeakingMessage = agent.AgentV1UserStartedSpeaking;
export type AgentThinkingMessage = agent.AgentV1AgentThinking;
export type FunctionCallRequestMessage = agent.AgentV1FunctionCallRequest;
export type FunctionCallRequestItem = agent.AgentV1FunctionCallRequest.Functions.Item;
export type FunctionCallCancelledMessage = agent.AgentV1FunctionCallCancelled;
/** The result of a server-side (`client_side: false`) function. */
export type ServerFunctionCallResponseMessage = agent.AgentV1ReceiveFunctionCallResponse;
export type AgentStartedSpeakingMessage = agent.AgentV1AgentStartedSpeaking;
export type AgentAudioDoneMessage = agent.AgentV1AgentAudioDone;
export type LatencyReportMessage = agent.AgentV1LatencyReport;
export type HistoryMessage = agent.AgentV1History;
export type InjectionRefusedMessage = agent.AgentV1InjectionRefused;
export type WarningMessage = agent.AgentV1Warning;
export type ErrorMessage = agent.AgentV1Error;

/** Narrower than the SDK's (whose role is `"user" | "assistant" | string`, i.e. any string). */
export interface ConversationTextMessage {
  type: 'ConversationText';
  role: 'user' | 'assistant';
  content: string;
  languages_hinted?: string[];
  languages?: string[];
}

/** A JSON message with a `type` we do not know, or a known type missing a required field. */
export interface UnknownServerMessage {
  type: 'Unknown';
  raw: Record<string, unknown>;
}

export type ServerMessage =
  | WelcomeMessage
  | SettingsAppliedMessage
  | PromptUpdatedMessage
  | SpeakUpdatedMessage
  | ThinkUpdatedMessage
  | ListenUpdatedMessage
  | ConversationTextMessage
  | UserStartedSpeakingMessage
  | AgentThinkingMessage
  | FunctionCallRequestMessage
  | FunctionCallCancelledMessage
  | ServerFunctionCallResponseMessage
  | AgentStartedSpeakingMessage
  | AgentAudioDoneMessage
  | LatencyReportMessage
  | HistoryMessage
  | InjectionRefusedMessage
  | WarningMessage
  | ErrorMessage
  | UnknownServerMessage;

export type ServerMessageType = Exclude<ServerMessage['type'], 'Unknown'>;

type FieldCheck = (value: unknown) => boolean;

const isString: FieldCheck = (v) => typeof v === 'string';
const isNumber: FieldCheck = (v) => typeof v === 'number' && Number.isFinite(v);
const isRole: FieldCheck = (v) => v === 'user' || v === 'assistant';
const arrayOf =
  (item: (v: Record<string, unknown>) => boolean): FieldCheck =>
  (v) =>
    Array.isArray(v) && v.every((x) => isPlainObject(x) && item(x));

const isFunctionCallItem = (f: Record<string, unknown>): boolean =>
  isString(f.id) && isString(f.name) && isString(f.arguments) && typeof f.client_side === 'boolean';
const isCancelledItem = (f: Record<string, unknown>): boolean => isString(f.id) && isString(f.name);
/** History is either a line of conversation or a list of function calls. */
const isHistory = (m: Record<string, unknown>): boolean =>
  (isString(m.role) && isString(m.content)) || Array.isArray(m.function_calls);

/**
 * The fields each type needs to be usable (the SDK's required fields). One entry per type, so the
 * compiler flags a type added to ServerMessage without one. A whole-message check covers History.
 */
const REQUIRED: { [T in ServerMessageType]: Record<string, FieldCheck> | ((m: Record<string, unknown>) => boolean) } = {
  Welcome: { request_id: isString },
  SettingsApplied: {},
  PromptUpdated: {},
  SpeakUpdated: {},
  ThinkUpdated: {},
  ListenUpdated: {},
  ConversationText: { role: isRole, content: isString },
  UserStartedSpeaking: {},
  AgentThinking: { content: isString },
  FunctionCallRequest: { functions: arrayOf(isFunctionCallItem) },
  FunctionCallCancelled: { functions: arrayOf(isCancelledItem) },
  FunctionCallResponse: { name: isString, content: isString },
  AgentStartedSpeaking: { total_latency: isNumber, tts_latency: isNumber, ttt_latency: isNumber },
  AgentAudioDone: {},
  LatencyReport: {},
  History: isHistory,
  InjectionRefused: { message: isString },
  Warning: { code: isString, description: isString },
  Error: { code: isString, description: isString },
};


function isKnownType(type: string): type is ServerMessageType {
  return Object.hasOwn(REQUIRED, type);
}

function hasRequiredFields(msg: Record<string, unknown>, type: ServerMessageType): boolean {
  const rule = REQUIRED[type];
  if (typeof rule === 'function') return rule(msg);
  return Object.entries(rule).every(([field, check]) => check(msg[field]));
}

/**
 * Checks one message the server sent, already parsed from JSON (the SDK hands these over parsed).
 * Undefined when it is not an object with a string `type`; `Unknown` (keeping the object) for a
 * type we do not know or one missing a required field, so a protocol addition is logged rather
 * than crashing the call.
 */
export function toServerMessage(value: unknown): ServerMessage | undefined {
  if (!isPlainObject(value) || typeof value.type !== 'string') return undefined;
  if (isKnownType(value.type) && hasRequiredFields(value, value.type)) return value as unknown as ServerMessage;
  return { type: 'Unknown', raw: value };
}

/** Parses one text frame from the server: undefined when it is not JSON; see toServerMessage. */
export function parseServerMessage(text: string): ServerMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return toServerMessage(parsed);
}
