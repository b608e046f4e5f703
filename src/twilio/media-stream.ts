// The /twilio/media-stream WebSocket: one CallSession per connection. The upgrade itself is
// checked (signature, draining) before it completes, in the gateway's verifyClient.
import type { Application } from 'express-ws';
import type WebSocket from 'ws';
import { CallSession, type CallSessionDeps, type MediaSocket } from '../call/session.js';
import type { CallRegistry } from '../call/registry.js';

export const MEDIA_STREAM_PATH = '/twilio/media-stream';

function mediaSocket(ws: WebSocket): MediaSocket {
  return {
    send: (text) => ws.send(text),
    close: (code, reason) => ws.close(code, reason),
    get isOpen() {
      return ws.readyState === ws.OPEN;
    },
  };
}

export function mountMediaStream(app: Application, registry: CallRegistry, sessionDeps: () => CallSessionDeps): void {
  app.ws(MEDIA_STREAM_PATH, (ws) => {
    const session = new CallSession(mediaSocket(ws), sessionDeps());
    registry.add(session);
    ws.on('message', (data: Buffer, isBinary: boolean) => session.handleMessage(data, isBinary));
    ws.on('close', (code: number) => session.handleSocketClosed(code));
    // A socket error is followed by close; the session ends there.
    ws.on('error', () => undefined);
    session.ended.then(() => registry.remove(session));
  });
}
