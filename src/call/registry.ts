// The media streams open in this process, so health can count them, the call cap can hold, and
// a shutdown can drain them.
import type { EndReason } from './call-types.js';
import type { CallSession } from './session.js';

export interface StreamCounts {
  /** Streams that sent `start`: calls. */
  calls: number;
  /** Sockets open without a `start` yet (or refused at it and closing). */
  pending: number;
}

export class CallRegistry {
  private readonly sessions = new Map<string, CallSession>();
  private idleWaiters: Array<() => void> = [];

  /** Every open stream, started or not: each holds a socket and a slot under the call cap. */
  get size(): number {
    return this.sessions.size;
  }

  /** Counted on demand (a health check), so the per-frame path keeps no counters. */
  counts(): StreamCounts {
    let calls = 0;
    for (const session of this.sessions.values()) if (session.context !== undefined) calls++;
    return { calls, pending: this.sessions.size - calls };
  }

  add(session: CallSession): void {
    this.sessions.set(session.sessionId, session);
  }

  remove(session: CallSession): void {
    this.sessions.delete(session.sessionId);
    if (this.sessions.size === 0) {
      for (const wake of this.idleWaiters) wake();
      this.idleWaiters = [];
    }
  }

  list(): CallSession[] {
    return [...this.sessions.values()];
  }

  /** Resolves true once no call is left, or false when `timeoutMs` passes first. */
  waitUntilIdle(timeoutMs: number): Promise<boolean> {
    if (this.sessions.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async endAll(reason: EndReason): Promise<void> {
    await Promise.all(this.list().map((session) => session.end(reason)));
  }
}
