// Sessions whose agent never joins (no worker took the dispatch) would stay `created` forever:
// a periodic sweep fails those older than LIVEKIT_SESSION_START_TIMEOUT_S. Every process of a
// fleet sweeps; the store's conditional finish ends each session once.
import type { Logger } from '../telemetry/logger.js';
import { toError } from '../util/errors.js';
import type { RoomSessions } from './service.js';

/** Sweeps at most this far apart, however long the timeout: an overdue session is failed soon after. */
const MAX_SWEEP_INTERVAL_MS = 15_000;

export interface StartTimeoutSweep {
  /** No sweep from now on; resolves once one under way is done (then the store may close). */
  stop(): Promise<void>;
}

export function sweepUnstartedSessions(sessions: Pick<RoomSessions, 'failUnstarted'>, timeoutS: number, logger: Logger): StartTimeoutSweep {
  const timeoutMs = timeoutS * 1000;
  let running: Promise<void> | undefined;
  const sweep = (): void => {
    // A slow store: the next tick finds this sweep still running and leaves it be.
    if (running) return;
    running = sessions
      .failUnstarted(new Date(Date.now() - timeoutMs))
      .then(
        () => undefined,
        (err) => void logger.error('could not fail the room sessions no agent joined', { error: toError(err).message }),
      )
      .finally(() => (running = undefined));
  };
  const timer = setInterval(sweep, Math.min(MAX_SWEEP_INTERVAL_MS, timeoutMs / 2)).unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
