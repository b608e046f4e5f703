// A browser call whose stream never opens (the page closed, the microphone refused) would stay
// `pending` forever: past BROWSER_CALL_CONNECT_TIMEOUT_S — as long as its stream token lives — it
// is failed as `never_connected`, and a stream naming it afterwards is refused (call-hooks.ts
// claims only calls created within the timeout). Every process sweeps; the store ends each once.
import type { LiveBus } from '../live/bus.js';
import type { Logger } from '../telemetry/logger.js';
import { toError } from '../util/errors.js';
import { runPeriodically, type Periodic } from '../util/periodic.js';
import type { CallStore } from './store.js';

export const NEVER_CONNECTED = 'never_connected';

/** Sweeps at most this far apart: an expired call shows as failed soon after its time is up. */
const MAX_SWEEP_INTERVAL_MS = 15_000;

export interface PendingExpiryDeps {
  store: CallStore;
  bus: LiveBus;
  logger: Logger;
  timeoutMs: number;
}

/** Fails the browser calls pending for longer than the timeout; resolves with their ids. */
export async function expirePendingCalls(deps: PendingExpiryDeps, now = new Date()): Promise<string[]> {
  const expired = await deps.store.expirePending(new Date(now.getTime() - deps.timeoutMs), {
    endedAt: now.toISOString(),
    endReason: NEVER_CONNECTED,
    endDetail: `no stream opened within ${Math.round(deps.timeoutMs / 1000)} s of the call's creation`,
  });
  for (const id of expired) deps.bus.publish(id, { type: 'call_status', status: 'failed' });
  if (expired.length > 0) deps.logger.info('failed browser calls whose stream never opened', { calls: expired });
  return expired;
}

export function sweepPendingCalls(deps: PendingExpiryDeps): Periodic {
  return runPeriodically(
    Math.min(MAX_SWEEP_INTERVAL_MS, deps.timeoutMs / 2),
    () => expirePendingCalls(deps),
    (err) => deps.logger.error('could not fail the browser calls whose stream never opened', { error: toError(err).message }),
  );
}
