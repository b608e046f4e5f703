// WS /ws/transcript/{session_id}: the shared live watchers (src/live/watch.ts) for room sessions.
// The snapshot is the session with its transcript so far; after it, each line and state change
// the bus carries, except those the snapshot already showed (a line by its position, a state by
// its order), so a watcher sees every change once whichever member reported it.
import type { LiveBus } from '../live/bus.js';
import { Watchers } from '../live/watch.js';
import type { Logger } from '../telemetry/logger.js';
import type { SessionView, TranscriptSocketMessage } from './schemas.js';
import { sessionShows, type SessionEvent } from './session-events.js';

export interface TranscriptWatchersDeps {
  bus: LiveBus<SessionEvent>;
  /** The session as a watcher first sees it; undefined when there is none. */
  snapshot: (sessionId: string) => Promise<SessionView | undefined>;
  logger: Logger;
  maxBufferedBytes?: number;
}

export type TranscriptWatchers = Watchers<SessionView, SessionEvent, Parameters<typeof sessionShows>[0]>;

export function transcriptWatchers(deps: TranscriptWatchersDeps): TranscriptWatchers {
  return new Watchers({
    bus: deps.bus,
    logger: deps.logger,
    ...(deps.maxBufferedBytes !== undefined && { maxBufferedBytes: deps.maxBufferedBytes }),
    kind: {
      noun: 'session',
      snapshot: deps.snapshot,
      snapshotMessage: (session) => ({ type: 'snapshot', session }) satisfies TranscriptSocketMessage,
      extent: (session) => ({ state: session.state, transcriptLines: session.transcript.length }),
      shownBy: sessionShows,
      // A line's position is for placing it, not for the watcher.
      message: (event): TranscriptSocketMessage => (event.type === 'transcript' ? { type: 'transcript', line: event.line } : event),
    },
  });
}
