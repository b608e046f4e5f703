// The call's tools (declared once in ../tools.ts) as LiveKit `llm.tool`s for the pipeline's Agent.
// The framework decodes the model's arguments from JSON; they are then checked here exactly as the
// Deepgram agent checks its own, and a call the gateway understands goes to the bridge.
import { llm } from '@livekit/agents';
import { offeredTools, parseToolArguments, type ToolAvailability, type ToolCall, type ToolDeclaration } from '../tools.js';

/**
 * Carries out a checked call (the bridge supplies it); what it returns is sent back to the model
 * as the function's result. A call it cannot carry out should say why, e.g. `{ error: '...' }`.
 */
export type ToolCallHandler = (call: ToolCall) => unknown;

/** The tools to give the Agent of one call: those the call can carry out, each calling `onToolCall`. */
export function livekitTools(availability: ToolAvailability, onToolCall: ToolCallHandler): llm.ToolContext {
  const tools = offeredTools(availability).map((declaration) => [declaration.name, toLivekitTool(declaration, onToolCall)] as const);
  return new llm.ToolContext(Object.fromEntries(tools));
}

function toLivekitTool({ name, description, parameters }: ToolDeclaration, onToolCall: ToolCallHandler) {
  return llm.tool({
    description,
    parameters,
    // Arguments the gateway cannot use go back to the model as `{ error }`, as Deepgram's do.
    execute: async (args: unknown) => {
      const call = parseToolArguments(name, args);
      return 'error' in call ? call : await onToolCall(call);
    },
  });
}
