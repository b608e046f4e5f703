// The room agent worker inside the gateway (LIVEKIT_AGENT_WORKER=inline, the default, with
// LIVEKIT_URL/KEY/SECRET set). Every gateway process runs its own, so with WORKERS > 1 each cluster
// worker registers one: LiveKit spreads the jobs over them by load, and a cluster worker that dies
// and is replaced brings its agent worker back with it. The framework is imported only here and
// only then, so a gateway without rooms never loads it.
import type { Config } from '../config.js';
import type { Logger } from '../telemetry/logger.js';
import type { RoomAgentWorkerOptions } from './agent-worker.js';
import type { RoomSessionSink } from './session-events.js';

/** Tests: a worker that gives up and retries sooner than an operator's would. */
export type RoomAgentRetry = Pick<RoomAgentWorkerOptions, 'maxRetry' | 'backoff'>;

/** What the gateway holds of its agent worker. */
export interface InlineRoomAgents {
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the agent worker when the configuration asks for it (`wanted` overrides the mode; retry
 * timings count as wanted), or returns undefined. Never throws: rooms failing to start must not
 * stop phone calls.
 */
export async function startInlineRoomAgents(
  config: Config,
  logger: Logger,
  sink: RoomSessionSink,
  wanted: boolean | RoomAgentRetry = config.livekit.worker.mode === 'inline',
): Promise<InlineRoomAgents | undefined> {
  const { url, apiKey, apiSecret } = config.livekit;
  if (wanted === false || !url || !apiKey || !apiSecret) return undefined;
  try {
    const { RoomAgentWorker } = await import('./agent-worker.js');
    const worker = new RoomAgentWorker({ config, logger, sink, ...(wanted === true ? {} : wanted) });
    await worker.start();
    return worker;
  } catch (error) {
    logger.error('the room agent worker could not start; rooms get no agent from this process', { error: (error as Error).message });
    return undefined;
  }
}

/**
 * The sink until the rooms API's own (src/rooms/session-events.ts) is connected: the session's
 * start and end are logged; the lines are not (they are what people said), only counted.
 */
export function loggingRoomSessionSink(logger: Logger): RoomSessionSink {
  return {
    async started(sessionId, info) {
      logger.info('room session started', { sessionId, ...info });
    },
    async line(sessionId, line) {
      logger.debug('room session transcript line', { sessionId, role: line.role, chars: line.text.length, interrupted: line.interrupted });
    },
    async ended(sessionId, reason) {
      logger.info('room session ended', { sessionId, reason });
    },
  };
}
