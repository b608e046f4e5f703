// The call's tools (declared once in ../tools.ts) as LiveKit `llm.tool`s for the pipeline's Agent.
// The framework decodes the model's arguments from JSON; they are then checked here exactly as the
// Deepgram agent checks its own, and a call the gateway understands goes to the bridge, with the
// reply it was made in.
import { llm, type voice } from '@livekit/agents';
import { offeredTools, parseToolArguments, type ToolAvailability, type ToolCall, type ToolDeclaration } from '../tools.js';

/**
 * The reply a tool call was made in: the words the model said before calling it (a goodbye before
 * end_call, "putting you through" before transfer_call).
 */
export interface CallingReply {
  /**
   * From now on no barge-in can cut these words. False when one already has: what was heard of
   * them is all the caller will hear.
   */
  protect(): boolean;
  /**
   * Resolves once these words are over: played to the end (Playback's mark echoed) or cut, and
   * written to the chat (so the transcript has them). Never rejects.
   */
  over(): Promise<void>;
}

/**
 * Carries out a checked call (the bridge supplies it); what it returns is sent back to the model
 * as the function's result. A call it cannot carry out should say why, e.g. `{ error: '...' }`.
 */
export type ToolCallHandler = (call: ToolCall, reply: CallingReply) => unknown;

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
    execute: async (args: unknown, { ctx }) => {
      const call = parseToolArguments(name, args);
      return 'error' in call ? call : await onToolCall(call, callingReply(ctx));
    },
  });
}

/**
 * The framework's handle on the reply, narrowed to what the bridge needs. `waitForPlayout()` of
 * the RunContext waits for this step's words only (the handle's own would wait for this very
 * tool): the step ends once the reply task has had its playback-finished event and written the
 * reply to the chat, or once the reply was cut or the session closed.
 */
function callingReply(ctx: voice.RunContext): CallingReply {
  return {
    protect() {
      if (ctx.speechHandle.interrupted) return false;
      ctx.disallowInterruptions();
      return true;
    },
    over: () => ctx.waitForPlayout().catch(() => undefined),
  };
}
