// The calls in progress, so health can count them and a shutdown can drain them.
import type { CallSession, EndReason } from './session.js';

export class CallRegistry {
  private readonly sessions = new Map<string, CallSession>();
  private idleWaiters: Array<() => void> = [];

  get size(): number {
    return this.sessions.size;
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
