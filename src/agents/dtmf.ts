// A keypad press, as every agent's LLM hears it: a user message, since no agent protocol we use
// has a DTMF input of its own. The text holds the digit, so it is never logged (callers key in
// PINs and card numbers) and never written to the transcript.

/** What the agent is told when the caller presses `digit`. */
export function dtmfUserMessage(digit: string): string {
  return `The caller pressed ${digit} on the keypad.`;
}
