// Sessions whose agent never joins (no worker took the dispatch) would stay `created` forever:
// a periodic sweep fails those older than LIVEKIT_SESSION_START_TIMEOUT_S. Every process of a
// fleet sweeps; the store's conditional finish ends each session once.
import type { Logger } from '../telemetry/logger.js';
import { toError } from '../util/errors.js';
import { runPeriodically, type Periodic } from '../util/periodic.js';
import type { RoomSessions } from './service.js';

/** Sweeps at most this far apart, however long the timeout: an overdue session is failed soon after. */
const MAX_SWEEP_INTERVAL_MS = 15_000;

export function sweepUnstartedSessions(sessions: Pick<RoomSessions, 'failUnstarted'>, timeoutS: number, logger: Logger): Periodic {
  const timeoutMs = timeoutS * 1000;
  return runPeriodically(
    Math.min(MAX_SWEEP_INTERVAL_MS, timeoutMs / 2),
    () => sessions.failUnstarted(new Date(Date.now() - timeoutMs)),
    (err) => logger.error('could not fail the room sessions no agent joined', { error: toError(err).message }),
  );
}
