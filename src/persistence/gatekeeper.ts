// Whether a room session may start, as the persistence service decides: the seam POST /session
// (src/rooms/) asks before it dispatches an agent.
import type { Logger } from '../telemetry/logger.js';
import type { PersistenceClient } from './service-client.js';

export interface SessionStartRequest {
  sessionId: string;
  room: string;
  identity?: string;
  metadata?: unknown;
}

/** `denied` → 403 to the client, `unreachable` → 502. */
export type SessionVerdict = 'allowed' | 'denied' | 'unreachable';

/** The seam POST /session asks before it starts a session (rooms service). */
export interface SessionGatekeeper {
  mayStart(request: SessionStartRequest): Promise<SessionVerdict>;
}

/** Asks the service; its verdict in time, or `unreachable` (POST /session then answers 502). */
export class HttpSessionGatekeeper implements SessionGatekeeper {
  constructor(
    private readonly client: PersistenceClient,
    private readonly logger: Logger,
  ) {}

  async mayStart(request: SessionStartRequest): Promise<SessionVerdict> {
    const outcome = await this.client.validate({
      session_id: request.sessionId,
      room: request.room,
      identity: request.identity ?? null,
      metadata: request.metadata ?? null,
    });
    const about = { sessionId: request.sessionId, room: request.room };
    if (outcome.verdict === 'denied') this.logger.info('the persistence service refused a session', { ...about, reason: outcome.reason });
    if (outcome.verdict === 'unreachable') this.logger.warn('the persistence service did not validate a session in time', { ...about, status: outcome.status, error: outcome.error });
    return outcome.verdict;
  }
}
