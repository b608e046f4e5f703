// Reaping media streams whose caller is gone. A socket can stay open with nobody behind it (a
// half-open TCP connection, a peer that froze): Twilio then sends nothing, reads nothing, and the
// call would keep its agent session (a paid one, kept up by KeepAlive) and its recording open for
// ever. Two checks per stream, both on coarse timers, nothing per frame:
// - WebSocket pings: a socket that has not answered the previous ping by the next is dropped;
// - media inactivity: Twilio sends a caller frame every 20 ms even in silence, so a started call
//   with no caller frame for the idle timeout has lost its caller.
// Either way the call ends with a reason that says which, and its recording is kept.
import type WebSocket from 'ws';
import type { EndReason } from '../call/call-types.js';

/** The call as the checks need it (CallSession). */
export interface WatchedCall {
  /** Defined once the stream has sent `start`; before it, the start timeout applies. */
  readonly context: unknown;
  readonly isEnded: boolean;
  /** Milliseconds since the last caller media frame (or since the stream opened). */
  mediaIdleMs(): number;
  end(reason: EndReason, detail?: string): Promise<unknown>;
}

export interface LivenessOptions {
  pingIntervalMs: number;
  idleTimeoutMs: number;
}

/** Idle checks run a few times per timeout (so a call ends at most a quarter late), never more often than this. */
const MIN_IDLE_CHECK_MS = 50;
const MAX_IDLE_CHECK_MS = 1000;

/**
 * Starts both checks on a media socket; returns the function that stops them (call it on close).
 * Each verdict waits for setImmediate: after an event-loop stall, timers run before the socket
 * reads that are already waiting, so a pong or a frame that did arrive is seen before judging.
 */
export function watchLiveness(ws: WebSocket, call: WatchedCall, options: LivenessOptions): () => void {
  let answered = true;
  const onPong = (): void => {
    answered = true;
  };
  const judgePing = (): void => {
    if (call.isEnded) return;
    if (answered) {
      answered = false;
      ws.ping();
      return;
    }
    // Ending first keeps the reason; the session's own close could not finish on a dead socket.
    void call.end('ping_timeout', `no pong within ${options.pingIntervalMs} ms`);
    ws.terminate();
  };
  const judgeIdle = (): void => {
    if (call.isEnded || call.context === undefined) return;
    const idleMs = call.mediaIdleMs();
    if (idleMs >= options.idleTimeoutMs) void call.end('media_timeout', `no caller media for ${Math.round(idleMs)} ms`);
  };
  ws.on('pong', onPong);
  const pings = setInterval(() => setImmediate(judgePing), options.pingIntervalMs);
  const idleCheckMs = Math.min(MAX_IDLE_CHECK_MS, Math.max(MIN_IDLE_CHECK_MS, options.idleTimeoutMs / 4));
  const idleChecks = setInterval(() => setImmediate(judgeIdle), idleCheckMs);
  pings.unref();
  idleChecks.unref();
  return () => {
    clearInterval(pings);
    clearInterval(idleChecks);
    ws.off('pong', onPong);
  };
}
