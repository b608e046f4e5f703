// Where a JSON text fails to parse, found without quoting it: the text may hold a token.

// Longer values are not scanned character by character; their error is reported at the end.
const MAX_JSON_SCAN = 4096;

/**
 * Where JSON.parse fails, 0-based, without reading its message's quoted text. V8 names the position
 * for most errors; for "Unexpected token" it quotes the input instead, so the position is found as
 * the shortest prefix that fails for a reason other than ending too early.
 */
export function jsonErrorPosition(raw: string): number {
  const limit = Math.min(raw.length, MAX_JSON_SCAN);
  for (let end = 1; end <= limit; end++) {
    const at = prefixFailure(raw.slice(0, end));
    if (at !== undefined) return at;
  }
  return limit;
}

/** The failing position inside `prefix`, or undefined when it parses or only ends too early. */
function prefixFailure(prefix: string): number | undefined {
  try {
    JSON.parse(prefix);
    return undefined;
  } catch (err) {
    const message = (err as Error).message;
    if (message.startsWith('Unexpected end of JSON input')) return undefined;
    const position = /at position (\d+)/.exec(message)?.[1];
    if (position === undefined) return prefix.length - 1;
    const at = Number(position);
    return at < prefix.length ? at : undefined;
  }
}
