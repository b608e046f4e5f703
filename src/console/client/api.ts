// The console's one way to the gateway: fetches that carry the API key when the tab has one,
// and ask for it (once, for this tab only) when the API answers 401. Sockets carry it as ?token=
// (a browser cannot set headers on a WebSocket).
import type { ApiErrorBody } from '../../http/errors.js';
import { askForKey } from './key-dialog.js';

const KEY_NAME = 'gateway-console.api-key';

export function storedKey(): string | undefined {
  return sessionStorage.getItem(KEY_NAME) ?? undefined;
}

/** A reply the API refused, with its `{error, message, details?}` body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message);
  }
}

/** One key prompt at a time, however many requests were refused together. */
let asking: Promise<string> | undefined;

/** Fetches a gateway path; on 401 asks for the key and tries again with it. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const key = storedKey();
    const headers = new Headers(init.headers);
    if (key !== undefined) headers.set('Authorization', `Bearer ${key}`);
    const res = await fetch(path, { ...init, headers });
    if (res.status !== 401) return res;
    await res.body?.cancel();
    asking ??= askForKey(key === undefined ? 'This gateway needs its API key.' : 'That key was refused. Try again.').finally(() => (asking = undefined));
    sessionStorage.setItem(KEY_NAME, await asking);
    if (attempt > 20) throw new ApiError(401, { error: 'unauthorized', message: 'the API key was refused' });
  }
}

/** The reply's JSON and status; a 4xx/5xx becomes an ApiError. */
export async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (body !== undefined) init.headers = { 'Content-Type': 'application/json' };
  const res = await request(path, init);
  const text = await res.text();
  const parsed: unknown = text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : undefined;
  if (!res.ok) throw new ApiError(res.status, isErrorBody(parsed) ? parsed : { error: `http_${res.status}`, message: text.slice(0, 200) || res.statusText });
  return { status: res.status, body: parsed as T };
}

export const get = <T>(path: string) => call<T>('GET', path).then((reply) => reply.body);
export const post = <T>(path: string, body?: unknown) => call<T>('POST', path, body).then((reply) => reply.body);

function isErrorBody(value: unknown): value is ApiErrorBody {
  return typeof value === 'object' && value !== null && typeof (value as ApiErrorBody).error === 'string' && typeof (value as ApiErrorBody).message === 'string';
}

/** ws(s)://this-host/path, with the key as ?token= when the tab has one. */
export function socketUrl(path: string): string {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const key = storedKey();
  if (key !== undefined) url.searchParams.set('token', key);
  return url.href;
}

/** A path segment from an id the API gave us. */
export const seg = encodeURIComponent;

/** A failure as one line for the page: the API's message and code, or the error's own message. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return `${err.body.message} (${err.body.error})`;
  return err instanceof Error ? err.message : String(err);
}
