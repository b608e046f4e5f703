// The seam the room agent feeds: its session started, each transcript line, its end. The
// implementation writes the store first, then publishes on the live bus (which rides the fleet
// channel), so a transcript watcher on any worker or instance sees each change once, in order,
// and a watcher that attaches later finds it in the snapshot.
import type { LiveBus } from '../live/bus.js';
import type { Logger } from '../telemetry/logger.js';
import { toError } from '../util/errors.js';
import type { SessionState, TranscriptLineView } from './schemas.js';
import { type Changed, type FinalState, type RoomSession, type SessionLine, type SessionStore } from './store.js';
import { lineView } from './view.js';

/** Where a room agent reports its session: the gateway's own store and bus, or a relay to them from a job process. */
export interface RoomSessionSink {
  started(sessionId: string, info: { participant?: string; jobId?: string }): Promise<void>;
  line(sessionId: string, line: SessionLine): Promise<void>;
  ended(sessionId: string, reason: string): Promise<void>;
}

/**
 * What the bus carries for a session. `seq` places a line in the session's transcript (its
 * position), so a watcher drops one its snapshot already holds; a state is placed by its order.
 */
export type SessionEvent =
  | { type: 'transcript'; line: TranscriptLineView; seq: number }
  | { type: 'state'; state: SessionState; at: string; reason?: string };

/** The fleet channel's topic for session events (tasks' events travel on `live`). */
export const SESSION_EVENTS_TOPIC = 'room-sessions';

/** Called once per session that ended after it was dispatched (R3's persistence sends it on). */
export type SessionEndedHook = (session: RoomSession) => void | Promise<void>;

export interface StoredSessionSinkDeps {
  store: SessionStore;
  bus: LiveBus<SessionEvent>;
  logger: Logger;
  onSessionEnded?: SessionEndedHook;
}

export class StoredSessionSink implements RoomSessionSink {
  constructor(private readonly deps: StoredSessionSinkDeps) {}

  async started(sessionId: string, info: { participant?: string; jobId?: string }): Promise<void> {
    const { session, changed } = await this.deps.store.markStarted(sessionId, info);
    if (changed) this.deps.bus.publish(sessionId, { type: 'state', state: 'active', at: session.startedAt! });
  }

  async line(sessionId: string, line: { role: 'user' | 'assistant'; text: string; atMs: number; interrupted?: boolean }): Promise<void> {
    const seq = await this.deps.store.appendLine(sessionId, line);
    this.deps.bus.publish(sessionId, { type: 'transcript', line: lineView(line), seq });
  }

  async ended(sessionId: string, reason: string): Promise<void> {
    await this.finish(sessionId, 'ended', reason);
  }

  /**
   * Ends the session unless it is over already, whoever asks (the agent, a client's DELETE, a
   * failed start): the store decides once, and only that caller tells watchers and the hook.
   */
  async finish(sessionId: string, state: FinalState, reason: string): Promise<Changed> {
    const result = await this.deps.store.finish(sessionId, state, reason);
    if (!result.changed) return result;
    const { session } = result;
    this.deps.bus.publish(sessionId, { type: 'state', state, at: session.endedAt!, reason });
    if (state === 'ended') await this.announceEnd(session);
    return result;
  }

  /** The hook's failure is logged, never thrown back at the agent or the client that ended the session. */
  private async announceEnd(session: RoomSession): Promise<void> {
    try {
      await this.deps.onSessionEnded?.(session);
    } catch (err) {
      this.deps.logger.error('the session-ended hook failed', { sessionId: session.id, error: toError(err).message });
    }
  }
}

const STATE_ORDER: Readonly<Record<SessionState, number>> = { created: 0, active: 1, ended: 2, failed: 2 };

/** Whether a snapshot showing `transcriptLines` lines in `state` already holds `event`. */
export function sessionShows(extent: { state: SessionState; transcriptLines: number }, event: SessionEvent): boolean {
  if (event.type === 'transcript') return event.seq < extent.transcriptLines;
  return STATE_ORDER[event.state] <= STATE_ORDER[extent.state];
}
