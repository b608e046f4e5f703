// Agent sessions in LiveKit rooms: start one (the gatekeeper asked, the agent dispatched, the
// session stored), stop it, list and read them. Routes call one method each.
import type { Logger } from '../telemetry/logger.js';
import { toError } from '../util/errors.js';
import type { FieldError } from '../util/field-error.js';
import type { AgentDispatcher } from './dispatch.js';
import { LiveKitError } from './dispatch.js';
import type { CreateSessionRequest } from './schemas.js';
import type { StoredSessionSink } from './session-events.js';
import { InvalidSessionCursorError, isOver, type RoomSession, type SessionListOptions, type SessionPage, type SessionStore } from './store.js';

/** Asks the persistence service whether a session may start (R3's, over HTTP); absent = always allowed. */
export interface SessionGatekeeper {
  mayStart(request: { sessionId: string; room: string; identity?: string; metadata?: unknown }): Promise<'allowed' | 'denied' | 'unreachable'>;
}

/** The end reason of a session whose agent did not join within LIVEKIT_SESSION_START_TIMEOUT_S. */
export const AGENT_NEVER_JOINED = 'agent_never_joined';

export type RoomsErrorCode =
  | 'invalid_request'
  | 'session_not_found'
  | 'idempotency_key_reused'
  | 'session_refused'
  | 'persistence_unreachable'
  | 'livekit_error'
  | 'livekit_not_configured';

export class RoomsError extends Error {
  constructor(
    readonly code: RoomsErrorCode,
    message: string,
    readonly details?: FieldError[],
  ) {
    super(message);
    this.name = 'RoomsError';
  }
}

/** What the agent's job reads from its dispatch (R2's room agent parses it). */
export interface DispatchMetadata {
  session_id: string;
  system_prompt?: string;
  greeting?: string;
  metadata?: unknown;
}

export interface StartOutcome {
  session: RoomSession;
  /** False when an earlier request with the same Idempotency-Key made it. */
  created: boolean;
}

export interface RoomSessionsDeps {
  store: SessionStore;
  sink: StoredSessionSink;
  dispatcher: AgentDispatcher;
  gatekeeper?: SessionGatekeeper;
  logger: Logger;
}

export class RoomSessions {
  constructor(private readonly deps: RoomSessionsDeps) {}

  /**
   * Starts an agent session in `request.room`. With an idempotency key, a retry gets the first
   * request's session and never a second dispatch; a session that failed to start gives its key
   * up, so the retry after a 502 starts afresh.
   */
  async start(request: CreateSessionRequest, idempotencyKey?: string): Promise<StartOutcome> {
    const { store, sink, logger } = this.deps;
    if (idempotencyKey !== undefined) {
      const earlier = await store.findByIdempotencyKey(idempotencyKey);
      if (earlier) return { session: this.sameRequest(earlier, request), created: false };
    }
    const { session, changed } = await store.create({
      room: request.room,
      ...(request.identity !== undefined && { identity: request.identity }),
      ...(request.system_prompt !== undefined && { systemPrompt: request.system_prompt }),
      ...(request.greeting !== undefined && { greeting: request.greeting }),
      ...(request.metadata !== undefined && { metadata: request.metadata }),
      ...(idempotencyKey !== undefined && { idempotencyKey }),
    });
    // Another request with this key got in first, between the lookup and the insert.
    if (!changed) return { session: this.sameRequest(session, request), created: false };

    const verdict = await this.askGatekeeper(session);
    if (verdict !== 'allowed') {
      await sink.finish(session.id, 'failed', verdict === 'denied' ? 'refused' : 'persistence_unreachable');
      if (verdict === 'denied') throw new RoomsError('session_refused', 'the persistence service refused this session');
      throw new RoomsError('persistence_unreachable', 'the persistence service could not be asked whether this session may start; try again');
    }

    let dispatchId: string;
    try {
      dispatchId = await this.deps.dispatcher.dispatch(session.room, JSON.stringify(dispatchMetadata(session)));
    } catch (err) {
      await sink.finish(session.id, 'failed', 'dispatch_failed');
      const message = err instanceof LiveKitError ? err.message : 'could not create the agent dispatch';
      logger.error('could not dispatch the room agent', { sessionId: session.id, room: session.room, error: toError(err).message });
      throw new RoomsError('livekit_error', message);
    }
    const dispatched = await store.setDispatch(session.id, dispatchId);
    // Stopped while LiveKit was dispatching: take the agent out again rather than leave it in the room.
    if (isOver(dispatched.state)) await this.cancelDispatch(dispatched).catch(() => undefined);
    logger.info('started a room session', { sessionId: session.id, room: session.room, dispatchId });
    return { session: dispatched, created: true };
  }

  /** Ends the session and takes its agent out of the room; a session already over is answered as it is. */
  async stop(id: string): Promise<RoomSession> {
    const session = await this.get(id);
    if (isOver(session.state)) return session;
    if (session.dispatchId !== undefined) await this.cancelDispatch(session);
    return (await this.deps.sink.finish(id, 'ended', 'stopped')).session;
  }

  /**
   * Fails the sessions still `created` since before `cutoff` (no worker took the dispatch) and
   * deletes their dispatches, so a worker that comes later does not join an abandoned room. The
   * store ends each once: in a fleet only the process that ended it deletes its dispatch.
   */
  async failUnstarted(cutoff: Date): Promise<string[]> {
    const failed: string[] = [];
    for (const overdue of await this.deps.store.createdBefore(cutoff)) {
      const { session, changed } = await this.deps.sink.finish(overdue.id, 'failed', AGENT_NEVER_JOINED);
      if (!changed) continue;
      failed.push(session.id);
      this.deps.logger.warn('no room agent joined the session in time: failed it', { sessionId: session.id, room: session.room, createdAt: session.createdAt });
      // Its dispatch being deleted is a courtesy to LiveKit: the session is over either way (cancelDispatch logs a failure).
      if (session.dispatchId !== undefined) await this.cancelDispatch(session).catch(() => undefined);
    }
    return failed;
  }

  async get(id: string): Promise<RoomSession> {
    const session = await this.deps.store.get(id);
    if (!session) throw new RoomsError('session_not_found', `no session ${id}`);
    return session;
  }

  async list(options: SessionListOptions): Promise<SessionPage> {
    try {
      return await this.deps.store.list(options);
    } catch (err) {
      if (err instanceof InvalidSessionCursorError) {
        throw new RoomsError('invalid_request', 'the list query is not valid', [{ field: 'cursor', message: err.message }]);
      }
      throw err;
    }
  }

  private async cancelDispatch(session: RoomSession): Promise<void> {
    try {
      const outcome = await this.deps.dispatcher.cancel(session.room, session.dispatchId!);
      this.deps.logger.info('took the room agent out of its room', { sessionId: session.id, room: session.room, dispatch: outcome });
    } catch (err) {
      const message = err instanceof LiveKitError ? err.message : 'could not delete the agent dispatch';
      this.deps.logger.error('could not delete a room agent dispatch', { sessionId: session.id, room: session.room, error: toError(err).message });
      throw new RoomsError('livekit_error', message);
    }
  }

  /** A gatekeeper that throws is as good as unreachable: the client may retry. */
  private async askGatekeeper(session: RoomSession): Promise<'allowed' | 'denied' | 'unreachable'> {
    const { gatekeeper, logger } = this.deps;
    if (!gatekeeper) return 'allowed';
    try {
      return await gatekeeper.mayStart({
        sessionId: session.id,
        room: session.room,
        ...(session.identity !== undefined && { identity: session.identity }),
        ...(session.metadata !== undefined && { metadata: session.metadata }),
      });
    } catch (err) {
      logger.error('the session gatekeeper failed', { sessionId: session.id, error: toError(err).message });
      return 'unreachable';
    }
  }

  /** A key names one request: reusing it for another room is the client's mistake, not a retry. */
  private sameRequest(earlier: RoomSession, request: CreateSessionRequest): RoomSession {
    if (earlier.room !== request.room || earlier.identity !== request.identity) {
      throw new RoomsError('idempotency_key_reused', 'this Idempotency-Key was used for a session in another room or for another identity');
    }
    return earlier;
  }
}

function dispatchMetadata(session: RoomSession): DispatchMetadata {
  return {
    session_id: session.id,
    ...(session.systemPrompt !== undefined && { system_prompt: session.systemPrompt }),
    ...(session.greeting !== undefined && { greeting: session.greeting }),
    ...(session.metadata !== undefined && { metadata: session.metadata }),
  };
}
