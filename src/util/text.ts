// Text from a client that goes back into a message: short enough to read, never a 10 kB echo.

const DEFAULT_MAX_CHARS = 40;

/** `text` if short, else its first `max` characters and an ellipsis. */
export function clip(text: string, max = DEFAULT_MAX_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
