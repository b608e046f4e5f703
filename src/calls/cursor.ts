// A page's cursor: the last call's (created_at, id), base64url-encoded so callers treat it as
// opaque. One format for both engines, so a cursor means the same place on either.
import { InvalidCursorError } from '../tasks/store.js';

/** Sorts after every timestamp, so the first page needs no special query. */
export const FIRST_PAGE: readonly [string, string] = ['9999-12-31T23:59:59.999Z', ''];
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

/** Rejects anything this server did not issue: a time PostgreSQL could not parse is a 400, not a query error. */
export function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
      const [created, id] = value as [string, string];
      if (ISO_TIME.test(created) && !Number.isNaN(Date.parse(created)) && !id.includes('\u0000')) return [created, id];
    }
  } catch {
    // fall through: not base64url JSON
  }
  throw new InvalidCursorError();
}
