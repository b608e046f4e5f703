// The call's tools (declared once in ../tools.ts) as Deepgram Settings `functions` entries:
// client-side functions, so no `endpoint`.
import { allTools, offeredTools, parseToolCall, type ToolAvailability, type ToolCall, type ToolCallError, type ToolDeclaration } from '../tools.js';
import type { AgentFunction } from './messages.js';

function toAgentFunction({ name, description, parameters }: ToolDeclaration): AgentFunction {
  return { name, description, parameters };
}

/** Every function we implement, as Settings `functions` entries. */
export const AGENT_FUNCTIONS: readonly AgentFunction[] = allTools().map(toAgentFunction);

/** The functions to offer on one call: a tool the call cannot carry out is not offered at all. */
export function agentFunctions(availability: ToolAvailability): AgentFunction[] {
  return offeredTools(availability).map(toAgentFunction);
}

/**
 * Reads a FunctionCallRequest entry. `argumentsJson` is the JSON string the service sends; an
 * empty string counts as `{}`. Extra arguments are ignored; a wrong type or unknown name is an error.
 */
export function parseFunctionCall(name: string, argumentsJson: string): ToolCall | ToolCallError {
  return parseToolCall(name, argumentsJson);
}
