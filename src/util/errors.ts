// Reading what was thrown: JavaScript can throw anything, and Node's system errors carry a `code`.

/** `err` itself if it is an Error, else an Error that says what was thrown. */
export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Whether `err` carries this `code`, as Node's system errors do (ENOENT, ESRCH...). */
export function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
