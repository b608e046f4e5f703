// The functions an agent may call on the call itself (hang up, transfer), declared once for every
// agent: each agent's adapter turns these into its provider's shape (Deepgram Settings
// `functions`, LiveKit `llm.tool`s). To add one: add its call shape to ToolCall, then an entry to
// TOOLS (the compiler asks for it) with its schema, when it is offered, and how its arguments are read.
import { isPlainObject } from '../util/plain-object.js';

/** A function call the gateway understands, with its arguments checked. */
export type ToolCall =
  | { tool: 'end_call'; reason: string | undefined }
  | { tool: 'transfer_call'; reason: string | undefined };

export type ToolName = ToolCall['tool'];

/** What the call can do, which decides the functions offered to the agent. */
export interface ToolAvailability {
  /** A transfer number is configured and the telephony side can redirect the call. */
  transferAvailable: boolean;
}

/** The subset of JSON Schema our function parameters use. */
export interface ToolParameter {
  type: 'string' | 'number' | 'integer' | 'boolean';
  description: string;
  enum?: string[];
}

export interface ToolParameters {
  type: 'object';
  properties: Record<string, ToolParameter>;
  required?: string[];
}

/** One function as a provider is told about it. */
export interface ToolDeclaration {
  name: ToolName;
  description: string;
  parameters: ToolParameters;
}

/** A call the agent made that the gateway cannot act on, with the reason to send back as its result. */
export interface ToolCallError {
  error: string;
}

type ArgsResult<C> = C | ToolCallError;

interface ToolSpec<C extends ToolCall> {
  description: string;
  parameters: ToolParameters;
  offered(availability: ToolAvailability): boolean;
  parse(args: Record<string, unknown>): ArgsResult<C>;
}

type ToolSpecs = { [N in ToolName]: ToolSpec<Extract<ToolCall, { tool: N }>> };

const REASON_PARAMETERS: ToolParameters = {
  type: 'object',
  properties: {
    reason: { type: 'string', description: 'A few words on why, for the call log.' },
  },
};

/** An optional string argument; `null` counts as absent (some models send it for "no value"). */
function optionalString(args: Record<string, unknown>, name: string): ArgsResult<{ value: string | undefined }> {
  const value = args[name];
  if (value === undefined || value === null) return { value: undefined };
  if (typeof value !== 'string') return { error: `"${name}" must be a string` };
  return { value };
}

function withReason<N extends ToolName>(tool: N) {
  return (args: Record<string, unknown>): ArgsResult<{ tool: N; reason: string | undefined }> => {
    const reason = optionalString(args, 'reason');
    return 'error' in reason ? reason : { tool, reason: reason.value };
  };
}

const TOOLS: ToolSpecs = {
  end_call: {
    description:
      'End the phone call. First say a short goodbye to the caller, then call this. ' +
      'Use it when the caller is done or asks to hang up.',
    parameters: REASON_PARAMETERS,
    offered: () => true,
    parse: withReason('end_call'),
  },
  transfer_call: {
    description:
      'Transfer the caller to a human colleague. First tell the caller you are transferring them, ' +
      'then call this. Use it when the caller asks for a person or you cannot help.',
    parameters: REASON_PARAMETERS,
    offered: (a) => a.transferAvailable,
    parse: withReason('transfer_call'),
  },
};

export const TOOL_NAMES = Object.keys(TOOLS) as ToolName[];

function isToolName(name: string): name is ToolName {
  return Object.hasOwn(TOOLS, name);
}

function declaration(name: ToolName): ToolDeclaration {
  const { description, parameters } = TOOLS[name];
  // A copy, so a provider's message can never alter the declarations shared by every call.
  return { name, description, parameters: structuredClone(parameters) };
}

/** Every function the gateway implements. */
export function allTools(): ToolDeclaration[] {
  return TOOL_NAMES.map(declaration);
}

/** The functions to offer on one call: a tool the call cannot carry out is not offered at all. */
export function offeredTools(availability: ToolAvailability): ToolDeclaration[] {
  return TOOL_NAMES.filter((name) => TOOLS[name].offered(availability)).map(declaration);
}

/**
 * Reads a call's arguments once decoded from JSON. Extra arguments are ignored; a wrong type, an
 * unknown name or arguments that are not an object are an error.
 */
export function parseToolArguments(name: string, args: unknown): ToolCall | ToolCallError {
  if (!isToolName(name)) return { error: `unknown function "${name}"` };
  if (!isPlainObject(args)) return { error: `arguments of "${name}" must be a JSON object` };
  return TOOLS[name].parse(args);
}

/** Reads a call whose arguments arrive as a JSON string; an empty string counts as `{}`. */
export function parseToolCall(name: string, argumentsJson: string): ToolCall | ToolCallError {
  if (!isToolName(name)) return { error: `unknown function "${name}"` };
  let args: unknown;
  try {
    args = argumentsJson.trim() === '' ? {} : JSON.parse(argumentsJson);
  } catch {
    return { error: `arguments of "${name}" are not valid JSON` };
  }
  return parseToolArguments(name, args);
}
