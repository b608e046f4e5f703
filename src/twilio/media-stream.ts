// The /twilio/media-stream WebSocket: one CallSession per connection. The upgrade itself is
// checked (signature, token, capacity, draining) before it completes, in the gateway's verifyClient.
import type { IncomingMessage } from 'node:http';
import type { Application } from 'express-ws';
import type WebSocket from 'ws';
import type { CallSessionDeps, MediaSocket } from '../call/call-types.js';
import { CallSession, DEFAULT_MEDIA_IDLE_TIMEOUT_S } from '../call/session.js';
import type { CallRegistry } from '../call/registry.js';
import { watchLiveness } from './stream-liveness.js';

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

/**
 * Unsent bytes a media socket may hold before its call ends (`send_buffer_full`): over two minutes
 * of audio as Twilio frames it. Twilio reads as fast as we send, so only a peer that stopped
 * reading gets here; without a bound its buffer would grow with every frame the agent speaks.
 */
const MAX_SEND_BUFFER_BYTES = 2 * 1024 * 1024;
const STALLED_DETAIL = `over ${MAX_SEND_BUFFER_BYTES} bytes unsent: the peer stopped reading`;
/** Default seconds between pings when the deps do not say. */
const DEFAULT_PING_INTERVAL_S = 10;

/** The socket as the session sees it. `onStalled` runs (repeatedly) while the peer is not reading. */
function mediaSocket(ws: WebSocket, onStalled: () => void): MediaSocket {
  return {
    send: (text) => {
      // bufferedAmount is a getter over counters: the check costs nothing per frame.
      if (ws.bufferedAmount > MAX_SEND_BUFFER_BYTES) return onStalled();
      ws.send(text);
    },
    // A peer that is not reading would not read our close frame either.
    close: (code, reason) => (ws.bufferedAmount > MAX_SEND_BUFFER_BYTES ? ws.terminate() : ws.close(code, reason)),
    get isOpen() {
      return ws.readyState === ws.OPEN;
    },
  };
}

/** `sessionDeps` sees the upgrade request, whose checks decide what the stream may be. */
export function mountMediaStream(app: Application, registry: CallRegistry, sessionDeps: (req: IncomingMessage) => CallSessionDeps): void {
  const onStream = (ws: WebSocket, req: IncomingMessage) => {
    const deps = sessionDeps(req);
    const stalled = (): void => void session.end('send_buffer_full', STALLED_DETAIL);
    const session = new CallSession(mediaSocket(ws, stalled), deps);
    registry.add(session);
    const stopWatching = watchLiveness(ws, session, {
      pingIntervalMs: (deps.mediaPingIntervalS ?? DEFAULT_PING_INTERVAL_S) * 1000,
      idleTimeoutMs: (deps.mediaIdleTimeoutS ?? DEFAULT_MEDIA_IDLE_TIMEOUT_S) * 1000,
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => session.handleMessage(data, isBinary));
    ws.on('close', (code: number) => session.handleSocketClosed(code));
    // Other socket errors are followed by close, and the session ends there. A message over
    // maxPayload makes ws close this socket with 1009: say so, rather than "socket closed".
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') void session.end('message_too_big', err.message);
    });
    session.ended.then(() => {
      stopWatching();
      registry.remove(session);
    });
  };
  app.ws(MEDIA_STREAM_PATH, onStream);
  app.ws(`${MEDIA_STREAM_PATH}/:token`, onStream);
}
