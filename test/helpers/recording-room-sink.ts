// A RoomSessionSink that keeps every call in order, for tests to wait on and assert.
import type { RoomSessionSink } from '../../src/rooms/session-events.js';
import type { SessionLine as RoomTranscriptLine } from '../../src/rooms/store.js';

export type SinkCall =
  | { op: 'started'; sessionId: string; info: { participant?: string; jobId?: string } }
  | { op: 'line'; sessionId: string; line: RoomTranscriptLine }
  | { op: 'ended'; sessionId: string; reason: string };

export class RecordingRoomSink implements RoomSessionSink {
  readonly calls: SinkCall[] = [];
  private readonly waiters: Array<{ match: (c: SinkCall) => boolean; resolve: (c: SinkCall) => void }> = [];

  async started(sessionId: string, info: { participant?: string; jobId?: string }): Promise<void> {
    this.push({ op: 'started', sessionId, info });
  }

  async line(sessionId: string, line: RoomTranscriptLine): Promise<void> {
    this.push({ op: 'line', sessionId, line });
  }

  async ended(sessionId: string, reason: string): Promise<void> {
    this.push({ op: 'ended', sessionId, reason });
  }

  /** The first call of this kind (already made or still to come). */
  next<K extends SinkCall['op']>(op: K, timeoutMs = 30_000): Promise<Extract<SinkCall, { op: K }>> {
    const match = (c: SinkCall): boolean => c.op === op;
    const seen = this.calls.find(match);
    if (seen) return Promise.resolve(seen as Extract<SinkCall, { op: K }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the sink got no ${op} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (c) => {
          clearTimeout(timer);
          resolve(c as Extract<SinkCall, { op: K }>);
        },
      });
    });
  }

  private push(call: SinkCall): void {
    this.calls.push(call);
    for (const waiter of this.waiters.filter((w) => w.match(call))) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(call);
    }
  }
}
