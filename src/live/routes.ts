// WS /ws/call/{id}: watch a task, or a call by its own id, live. The upgrade is checked before it
// completes (API key, browser origin, that the task or call exists), so a refused watcher gets a
// plain HTTP status.
import type { IncomingMessage } from 'node:http';
import type { Application } from 'express-ws';
import { upgradeCarriesKey } from '../http/access.js';
import { isSameOrigin } from '../http/cors.js';
import type { LiveWatchers } from './watch.js';

const LIVE_CALL_PATH = /^\/ws\/call\/([^/]+)\/?$/;

/** The task id of a /ws/call/{id} path, or undefined for any other path. */
export function liveCallTaskId(pathname: string): string | undefined {
  return pathId(LIVE_CALL_PATH, pathname);
}

/** The decoded id `pattern` captures from `pathname`; undefined when it does not match or the id is not valid percent-encoding. */
export function pathId(pattern: RegExp, pathname: string): string | undefined {
  const raw = pattern.exec(pathname)?.[1];
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

export interface LiveUpgradePolicy {
  apiKey: string | undefined;
  /** CORS_ORIGINS: a browser page elsewhere must not read live transcripts. */
  allowedOrigins: readonly string[];
  /** Whether the watched thing (a task, a room session) exists. */
  exists: (id: string) => Promise<boolean>;
}

export type UpgradeVerdict = { ok: true } | { ok: false; status: 401 | 403 | 404; message: string };

/** The key and the origin are checked before the store is asked whether the task (or session) exists. */
export async function checkLiveUpgrade(req: IncomingMessage, id: string, policy: LiveUpgradePolicy): Promise<UpgradeVerdict> {
  if (policy.apiKey !== undefined && !upgradeCarriesKey(policy.apiKey, req)) return { ok: false, status: 401, message: 'Unauthorized' };
  // Browsers always send Origin on a WebSocket; other clients usually send none. The gateway's own
  // console is same-origin and needs no CORS_ORIGINS entry.
  const origin = req.headers.origin;
  if (origin !== undefined && !policy.allowedOrigins.includes(origin) && !isSameOrigin(origin, req.headers.host)) return { ok: false, status: 403, message: 'Forbidden' };
  if (!(await policy.exists(id))) return { ok: false, status: 404, message: 'Not Found' };
  return { ok: true };
}

export function mountLiveRoutes(app: Application, watchers: LiveWatchers): void {
  app.ws('/ws/call/:id', (socket, req) => void watchers.attach(socket, String(req.params.id)));
}
