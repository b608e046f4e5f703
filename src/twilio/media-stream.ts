// The /twilio/media-stream WebSocket: one CallSession per connection. The upgrade itself is
// checked (signature, token, capacity, draining) before it completes, in the gateway's verifyClient.
import type { IncomingMessage } from 'node:http';
import type { Application } from 'express-ws';
import type WebSocket from 'ws';
import { CallSession, type CallSessionDeps, type MediaSocket } from '../call/session.js';
import type { CallRegistry } from '../call/registry.js';

export const MEDIA_STREAM_PATH = '/twilio/media-stream';

/**
 * The stream a request path asks for: `/twilio/media-stream` (no token) or
 * `/twilio/media-stream/<token>`; undefined for any other path.
 */
export function mediaStreamRoute(pathname: string): { token: string | undefined } | undefined {
  if (pathname === MEDIA_STREAM_PATH) return { token: undefined };
  if (!pathname.startsWith(`${MEDIA_STREAM_PATH}/`)) return undefined;
  const token = pathname.slice(MEDIA_STREAM_PATH.length + 1);
  return token !== '' && !token.includes('/') ? { token } : undefined;
}

function mediaSocket(ws: WebSocket): MediaSocket {
  return {
    send: (text) => ws.send(text),
    close: (code, reason) => ws.close(code, reason),
    get isOpen() {
      return ws.readyState === ws.OPEN;
    },
  };
}

/** `sessionDeps` sees the upgrade request, whose checks decide what the stream may be. */
export function mountMediaStream(app: Application, registry: CallRegistry, sessionDeps: (req: IncomingMessage) => CallSessionDeps): void {
  const onStream = (ws: WebSocket, req: IncomingMessage) => {
    const session = new CallSession(mediaSocket(ws), sessionDeps(req));
    registry.add(session);
    ws.on('message', (data: Buffer, isBinary: boolean) => session.handleMessage(data, isBinary));
    ws.on('close', (code: number) => session.handleSocketClosed(code));
    // A socket error is followed by close; the session ends there.
    ws.on('error', () => undefined);
    session.ended.then(() => registry.remove(session));
  };
  app.ws(MEDIA_STREAM_PATH, onStream);
  app.ws(`${MEDIA_STREAM_PATH}/:token`, onStream);
}
