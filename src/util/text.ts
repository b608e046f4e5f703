// Text from a client that goes back into a message: short enough to read, never a 10 kB echo.

const DEFAULT_MAX_CHARS = 40;

/** `text` if short, else its first `max` characters and an ellipsis. */
export function clip(text: string, max = DEFAULT_MAX_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** A request path, in a log line or an error reply: long enough to tell any route's paths apart. */
const MAX_PATH_CHARS = 200;

/** `path` clipped the one way every log line and reply clips a request path. */
export function clipPath(path: string): string {
  return clip(path, MAX_PATH_CHARS);
}
