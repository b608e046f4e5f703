// The rooms domain put together for the gateway: GET /token, /session, WS /ws/transcript/{id} and
// the sink the room agent feeds. Without LIVEKIT_URL/KEY/SECRET it opens nothing and its routes
// answer 503, so the rest of the gateway runs as before.
import type { IncomingMessage } from 'node:http';
import type { Application } from 'express-ws';
import type { Config } from '../config.js';
import type { FleetChannel } from '../fleet/channel.js';
import { requireApiKey } from '../http/access.js';
import { cors } from '../http/cors.js';
import { LiveBus } from '../live/bus.js';
import { checkLiveUpgrade, pathId, type UpgradeVerdict } from '../live/routes.js';
import type { Logger } from '../telemetry/logger.js';
import { LiveKitDispatcher } from './dispatch.js';
import { liveKitServer } from './livekit-server.js';
import { openSessionStore } from './open-store.js';
import { liveKitNotConfigured, sessionRoutes, tokenRoute } from './routes.js';
import { RoomSessions, type SessionGatekeeper } from './service.js';
import { sweepUnstartedSessions } from './start-timeout.js';
import { SESSION_EVENTS_TOPIC, StoredSessionSink, type RoomSessionSink, type SessionEndedHook, type SessionEvent } from './session-events.js';
import { transcriptWatchers } from './transcript-watch.js';
import { sessionView } from './view.js';

export type { RoomSessionSink, SessionEndedHook } from './session-events.js';
export type { SessionGatekeeper } from './service.js';

export interface RoomsDeps {
  config: Config;
  logger: Logger;
  /** Session events travel on it, so a transcript watcher on any member sees every line. */
  channel: FleetChannel;
  gatekeeper?: SessionGatekeeper;
  onSessionEnded?: SessionEndedHook;
}

export interface RoomsDomain {
  /** Where the room agent reports; undefined while LiveKit is not configured. */
  readonly sink: RoomSessionSink | undefined;
  /** Mounts /token, /session and /ws/transcript/{id}. */
  mount(app: Application): void;
  /** The verdict on a WebSocket upgrade to /ws/transcript/{id}; undefined for any other path. */
  checkUpgrade(req: IncomingMessage, pathname: string): Promise<TranscriptUpgradeVerdict> | undefined;
  close(): Promise<void>;
}

export type TranscriptUpgradeVerdict = UpgradeVerdict | { ok: false; status: 503; message: string };

/**
 * The sink for a room agent running outside the gateway's process (a job process, `npm run
 * agent`): the same store, and a bus on `channel`, so the gateway's transcript watchers hear each
 * change when `channel` reaches them (the PostgreSQL fleet channel across processes and machines).
 * Close it when the agent is done.
 */
export async function openRoomSessionSink(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  deps: { logger: Logger; channel: FleetChannel; onSessionEnded?: SessionEndedHook },
): Promise<{ sink: RoomSessionSink; close(): Promise<void> }> {
  const store = await openSessionStore(config, deps.logger);
  const bus = sessionEventBus(deps.channel, deps.logger);
  // The end is decided in the store, so the hook runs once, in whichever process ended the session.
  const sink = new StoredSessionSink({ store, bus, logger: deps.logger, ...(deps.onSessionEnded && { onSessionEnded: deps.onSessionEnded }) });
  return { sink, close: () => store.close() };
}

/** The bus session events travel on, beside the tasks' own. */
function sessionEventBus(channel: FleetChannel, logger: Logger): LiveBus<SessionEvent> {
  return new LiveBus<SessionEvent>((sessionId, err) => logger.error('a transcript watcher failed', { sessionId, error: err.message }), channel, SESSION_EVENTS_TOPIC);
}

const TRANSCRIPT_PATH = /^\/ws\/transcript\/([^/]+)\/?$/;
/** The browser's DELETE /session/{id} and a retried POST's key need a preflight's blessing. */
const ROOMS_CORS = { methods: 'GET, POST, DELETE', headers: 'Authorization, Content-Type, Idempotency-Key' };

export async function createRoomsDomain(deps: RoomsDeps): Promise<RoomsDomain> {
  const { config, logger } = deps;
  const server = liveKitServer(config.livekit);
  const guard = [cors(config.corsOrigins, logger, ROOMS_CORS), requireApiKey(config.apiKey, logger)];
  if (!server) {
    return {
      sink: undefined,
      mount(app) {
        app.use(['/token', '/session'], ...guard, liveKitNotConfigured(logger));
      },
      checkUpgrade: (_req, pathname) =>
        pathId(TRANSCRIPT_PATH, pathname) === undefined ? undefined : Promise.resolve({ ok: false, status: 503, message: 'Service Unavailable' }),
      close: async () => undefined,
    };
  }

  const store = await openSessionStore(config, logger);
  const bus = sessionEventBus(deps.channel, logger);
  const sink = new StoredSessionSink({ store, bus, logger, ...(deps.onSessionEnded && { onSessionEnded: deps.onSessionEnded }) });
  const sessions = new RoomSessions({
    store,
    sink,
    dispatcher: new LiveKitDispatcher(server, config.livekit.agentName),
    ...(deps.gatekeeper && { gatekeeper: deps.gatekeeper }),
    logger,
  });
  const startTimeout = sweepUnstartedSessions(sessions, config.livekit.sessionStartTimeoutS, logger);
  const watchers = transcriptWatchers({
    bus,
    logger,
    snapshot: async (id) => {
      const session = await store.get(id);
      return session && sessionView(session);
    },
  });
  const tokens = { server, ttlS: config.livekit.tokenTtlS, agentName: config.livekit.agentName, dispatchAgent: config.livekit.tokenDispatchesAgent };

  return {
    sink,
    mount(app) {
      app.use('/token', ...guard, tokenRoute(tokens, logger));
      app.use('/session', ...guard, sessionRoutes(sessions, logger));
      app.ws('/ws/transcript/:id', (socket, req) => void watchers.attach(socket, String(req.params.id)));
    },
    checkUpgrade(req, pathname) {
      const id = pathId(TRANSCRIPT_PATH, pathname);
      if (id === undefined) return undefined;
      return checkLiveUpgrade(req, id, {
        apiKey: config.apiKey,
        allowedOrigins: config.corsOrigins,
        exists: async (sessionId) => (await store.get(sessionId)) !== undefined,
      });
    },
    async close() {
      await startTimeout.stop();
      await store.close();
    },
  };
}
