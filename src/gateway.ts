// createGateway builds the whole server without listening, so tests run it on port 0 with fakes
// injected; src/main.ts only reads configuration, listens, and drains on a signal.
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import express from 'express';
import expressWs from 'express-ws';
import type { VerifyClientCallbackAsync } from 'ws';
import type { Config } from './config.js';
import type { AgentFactory } from './agents/bridge.js';
import { configuredAgent, offThread } from './agents/index.js';
import { createCallDomain } from './calls/index.js';
import { openCallStore } from './calls/open-store.js';
import { callRoutes } from './calls/routes.js';
import type { CallStore } from './calls/store.js';
import { callView } from './calls/view.js';
import { AgentWorkerPool } from './agents/worker/pool.js';
import type { HostedAgentKind } from './agents/worker/protocol.js';
import { recordAsMember } from './audio/part-owner.js';
import { recoverPartialRecordings } from './audio/recording-recovery.js';
import { admitAll, type AdmissionCheck, type StreamStart } from './call/admission.js';
import { assertWritableDirs, listenError } from './startup/checks.js';
import { CallRegistry } from './call/registry.js';
import type { CallHooks, CallSessionDeps } from './call/call-types.js';
import { consoleRoutes } from './console/server.js';
import { cors } from './http/cors.js';
import { errorHandler, notFound } from './http/errors.js';
import { requestLog } from './http/request-log.js';
import { requireApiKey } from './http/access.js';
import { LocalChannel, type FleetChannel } from './fleet/channel.js';
import { GatewayFleet } from './fleet/gateway-fleet.js';
import { openPgChannel } from './fleet/pg-channel.js';
import { describeDatabaseUrl } from './db/url.js';
import { healthRoutes, refuseWhileDraining, type Readiness } from './health/routes.js';
import { LiveBus } from './live/bus.js';
import { checkLiveUpgrade, liveCallTaskId, mountLiveRoutes } from './live/routes.js';
import { LiveWatchers } from './live/watch.js';
import { FleetMetrics, instanceKey } from './metrics/fleet-metrics.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { metricsRoutes } from './metrics/routes.js';
import { API_ROUTES } from './openapi/api-routes.js';
import { buildOpenApiDocument } from './openapi/document.js';
import { openApiRoutes } from './openapi/routes.js';
import type { LlmClient } from './llm/types.js';
import { finishedRoomSession, openPersistence, type Persistence } from './persistence/index.js';
import type { RoomSession } from './rooms/store.js';
import { ownersInFleet } from './tasks/fleet-settle.js';
import { createTaskDomain } from './tasks/index.js';
import { taskRoutes } from './tasks/routes.js';
import { openStreamClaims, openTaskStore } from './tasks/open-store.js';
import type { TaskStore } from './tasks/store.js';
import { taskView } from './tasks/view.js';
import { TwilioCallControl, type TwilioCalls } from './twilio/call-control.js';
import { loggingRoomSessionSink, startInlineRoomAgents, type InlineRoomAgents, type RoomAgentRetry } from './rooms/agent-worker-inline.js';
import { createLogger, type Logger } from './telemetry/logger.js';
import { EventLoopMonitor } from './telemetry/event-loop.js';
import { Telemetry } from './telemetry/events.js';
import { telemetryRoutes } from './telemetry/routes.js';
import { mediaStreamRoute, mountMediaStream } from './twilio/media-stream.js';
import { MAX_INBOUND_FRAME_BYTES } from './twilio/protocol.js';
import type { StreamClaims } from './twilio/stream-claims.js';
import { StreamGate } from './twilio/stream-admission.js';
import { twilioWebhookRoutes, type CallStatusUpdate } from './twilio/webhooks.js';
import { createRoomsDomain, type RoomSessionSink, type SessionEndedHook, type SessionGatekeeper } from './rooms/index.js';

export interface GatewayDeps {
  logger?: Logger;
  telemetry?: Telemetry;
  /** Overrides the configured agent (tests inject fakes here). */
  agentFactory?: AgentFactory;
  /** Overrides the configured agent with one hosted in the gateway's agent worker pool. */
  offThreadAgent?: HostedAgentKind;
  /** Twilio REST; by default built from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN when both are set. */
  telephony?: TwilioCalls;
  /** Called after the task service has heard of the call. */
  hooks?: CallHooks;
  /** Consulted before the task's own prompt and greeting. */
  callOverrides?: CallSessionDeps['callOverrides'];
  /** An extra admission check at each stream's `start`, before the task's (tests delay it here). */
  admit?: AdmissionCheck;
  /** Called after the task service has applied the callback. */
  onCallStatus?: (update: CallStatusUpdate) => void | Promise<void>;
  /** The task store; by default PostgreSQL with DATABASE_URL, else SQLite in DATA_DIR. The gateway closes it. */
  taskStore?: TaskStore;
  /** The LLM for post-call analysis; by default made from LLM_* on first use. */
  llm?: LlmClient;
  /** How long an early Twilio status callback waits for the ones numbered before it (default 2000). */
  callbackHoldMs?: number;
  /** The call records; by default beside the tasks (calls/open-store.ts). The gateway closes it. */
  callStore?: CallStore;
  /** Single-use claims of media-stream tokens; by default beside the tasks (open-store.ts). The gateway closes them. */
  streamClaims?: StreamClaims;
  /** Wall clock (epoch ms) for stream-token expiry; tests move it forward. */
  clock?: () => number;
  /** Messages between the members of the fleet; by default PostgreSQL's with DATABASE_URL, else this process alone. The gateway closes it. */
  fleet?: FleetChannel;
  /** This member's id in a fleet on PostgreSQL (default `<host>-<pid>`); a cluster worker passes `<host>-worker-<n>`. */
  memberId?: string;
  /** Folder of service.log and telemetry_events.jsonl (default DATA_DIR): each worker of a fleet rotates its own. */
  logDir?: string;
  /** Asked before POST /session starts a room session (the persistence service); absent = always allowed. */
  sessionGatekeeper?: SessionGatekeeper;
  /** Hears of each room session that ended after its agent was dispatched. */
  onSessionEnded?: SessionEndedHook;
  /** Where the room agent's session events go (default: the rooms domain's own: the store and the live bus). */
  roomSessionSink?: RoomSessionSink;
  /** Run the room agent worker here (default: LIVEKIT_AGENT_WORKER=inline, with LIVEKIT_* set); tests give it shorter retries. */
  roomAgentWorker?: boolean | RoomAgentRetry;
}

export interface ListenOptions {
  /** Settle what the last run left (default true); in a fleet, one member does it for all. */
  settleLastRun?: boolean;
}

export interface Gateway {
  readonly app: express.Application;
  readonly server: http.Server;
  readonly calls: CallRegistry;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly agentKind: string;
  /** The worker threads that host off-thread agents; closed with the gateway. */
  readonly agentPool: AgentWorkerPool;
  /** This member's id in the fleet (the X-Gateway-Worker header of every response). */
  readonly memberId: string;
  /** The persistence service (DJANGO_BASE_URL): its session gatekeeper and onSessionEnded for the rooms; undefined when off. */
  readonly persistence: Persistence | undefined;
  /** Where an in-process room agent reports its session; undefined without LIVEKIT_* configuration. */
  readonly roomSessions: RoomSessionSink | undefined;
  listen(port?: number, host?: string, options?: ListenOptions): Promise<AddressInfo>;
  /** Refuses new streams, lets active calls finish for up to `timeoutMs`, then ends the rest. */
  drain(timeoutMs: number): Promise<{ endedEarly: number }>;
  close(): Promise<void>;
}

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * The largest WebSocket message any route takes: the protocol's largest frame plus room for
 * framing. Twilio's text frames are about 400 bytes; ones over MAX_INBOUND_FRAME_BYTES up to this
 * are skipped and the call goes on; a bigger one makes ws close that socket alone with 1009 (the
 * call ends as `message_too_big`, its recording kept) before it is buffered. express-ws shares one
 * server for all WebSocket routes: live watchers (/ws/call/{id}) only listen, so they need no more.
 */
const MAX_WS_PAYLOAD = MAX_INBOUND_FRAME_BYTES + 4 * 1024;

export async function createGateway(config: Config, deps: GatewayDeps = {}): Promise<Gateway> {
  // Before anything writes there: one line naming the variable, not an ENOENT from deep inside.
  assertWritableDirs([
    ['DATA_DIR', config.dataDir],
    ['RECORDINGS_DIR', config.recordingsDir],
  ]);
  const logDir = deps.logDir ?? config.dataDir;
  const logger =
    deps.logger ??
    createLogger({ level: config.logLevel, file: `${logDir}/service.log`, maxFileBytes: config.logMaxFileBytes, maxFiles: config.logMaxFiles });
  const opened = new OpenedResources(logger);
  try {
    return await assembleGateway(config, deps, logDir, logger, opened);
  } catch (err) {
    // A start that fails half-way (a database that refuses us, agent code that cannot load)
    // leaves nothing open behind it: an embedder that tries again, or a test, gets a clean slate.
    await opened.closeAll();
    throw err;
  }
}

/**
 * What a start has opened so far, each with its closing, in order: closed in reverse when a later
 * step fails. After a successful start the gateway's own close() takes over.
 */
class OpenedResources {
  private readonly closers: Array<{ what: string; close: () => unknown }> = [];

  constructor(private readonly logger: Logger) {}

  add<T>(what: string, resource: T, close: (resource: T) => unknown): T {
    this.closers.push({ what, close: () => close(resource) });
    return resource;
  }

  async closeAll(): Promise<void> {
    for (const { what, close } of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        this.logger.warn(`could not close the ${what} after a failed start`, { error: (err as Error).message });
      }
    }
  }
}

async function assembleGateway(config: Config, deps: GatewayDeps, logDir: string, logger: Logger, opened: OpenedResources): Promise<Gateway> {
  const telemetry =
    deps.telemetry ??
    new Telemetry({
      file: `${logDir}/telemetry_events.jsonl`,
      maxFileBytes: config.logMaxFileBytes,
      maxFiles: config.logMaxFiles,
      noisyEveryN: config.logNoisyEventsEveryN,
      onError: (err) => logger.error('telemetry events can no longer be written; keeping them in memory only', { error: err.message }),
    });
  opened.add('telemetry', telemetry, (t) => t.close());
  const loopMonitor = new EventLoopMonitor(telemetry);
  // Workers start with the first call that needs one: a gateway whose agents all run in-process has none.
  const agentPool = opened.add('agent worker pool', new AgentWorkerPool({ size: config.agentWorkers, config, logger, telemetry }), (pool) => pool.close());
  const agent = deps.agentFactory
    ? { kind: 'custom', factory: deps.agentFactory }
    : deps.offThreadAgent
      ? await offThread(agentPool, deps.offThreadAgent)
      : await configuredAgent(config, agentPool);
  const calls = new CallRegistry();
  const metrics = new GatewayMetrics({
    liveCalls: () => calls.list().map((session) => session.counters),
    activeCalls: () => calls.counts().calls,
    eventLoop: () => loopMonitor.latest,
  });
  const { accountSid, authToken } = config.twilio;
  const telephony = deps.telephony ?? (accountSid && authToken ? new TwilioCallControl(accountSid, authToken) : undefined);
  const startedAt = Date.now();
  let draining = false;
  // Ready once listening and done settling: a load balancer sends nothing new before, nor while draining.
  let started = false;
  const readiness: Readiness = { isDraining: () => draining, isStarted: () => started };
  const channel = opened.add(
    'fleet channel',
    deps.fleet ?? (config.databaseUrl === undefined ? new LocalChannel() : await joinPgFleet(config.databaseUrl, deps.memberId, logger)),
    (c) => c.close(),
  );
  // In a fleet every line says which member wrote it: workers share one console, instances one log store.
  if (!(channel instanceof LocalChannel)) logger.defaultMeta = { ...logger.defaultMeta, worker: channel.memberId };

  const store = opened.add('task store', deps.taskStore ?? (await openTaskStore(config, logger)), (s) => s.close());
  const persistence = opened.add('persistence service', await openPersistence(config, { logger, telemetry, agent: agent.kind }), (p) => p?.close());
  const callStore = opened.add('call store', deps.callStore ?? (await openCallStore(config, logger)), (s) => s.close());
  // With an auth token, every stream URL carries a per-call token (loadConfig guarantees PUBLIC_URL then).
  const gate = opened.add(
    'stream token claims',
    authToken ? new StreamGate({ authToken, publicUrl: config.publicUrl! }, deps.streamClaims ?? (await openStreamClaims(config, logger, deps.clock)), deps.clock) : undefined,
    (g) => g?.close(),
  );
  const streamTokens = gate?.tokens;
  const bus = new LiveBus((taskId, err) => logger.error('a live watcher failed', { taskId, error: err.message }), channel);
  const fleet: GatewayFleet = new GatewayFleet({
    channel,
    logger,
    local: {
      endLiveCall: (taskId, detail) => endLiveCall(calls, taskId, detail),
      health: () => ({ ...streamFigures(calls, config.maxConcurrentCalls), uptime_s: Math.round((Date.now() - startedAt) / 1000) }),
      telemetrySummary: () => telemetry.summary(),
      telemetryRecent: (query) => telemetry.recent(query),
    },
  });
  const tasks = createTaskDomain({
    config,
    store,
    bus,
    logger,
    telemetry,
    telephony,
    llm: deps.llm,
    callbackHoldMs: deps.callbackHoldMs,
    streamTokens,
    endLiveCall: (taskId, detail) => fleet.endLiveCall(taskId, detail),
    fleet,
    metrics,
  });
  opened.add('task domain', tasks, (t) => {
    t.stop();
    return t.idle();
  });
  const fleetMetrics = new FleetMetrics(metrics, fleet.requests, () => channel.members(), instanceKey(channel.memberId));
  const callDomain = createCallDomain({
    config,
    store: callStore,
    taskStore: store,
    taskService: tasks.service,
    bus,
    logger,
    telemetry,
    agent: agent.kind,
    streamTokens,
    llm: deps.llm,
    memberId: channel.memberId,
    // A call a crash ended never reached the call hooks: its record is made from the stored call.
    onCallSettled: persistence && ((call) => persistence.onCallSettled(call)),
  });
  opened.add('call domain', callDomain, (d) => {
    d.stop();
    return d.idle();
  });
  // On PostgreSQL the fleet spans machines sharing RECORDINGS_DIR: owner records name the member,
  // and survivors settle what a lost member leaves (tasks/fleet-settle.ts).
  const onPgFleet = !deps.fleet && config.databaseUrl !== undefined;
  if (onPgFleet) recordAsMember(channel.memberId);
  let settlingLost: Promise<void> = Promise.resolve();
  /** One run at a time: a member that leaves while one runs is looked at in the next. */
  const settleLostMembers = (starting: boolean): Promise<void> =>
    (settlingLost = settlingLost.then(() =>
      Promise.all([tasks.settleLostMembers(starting), callDomain.settleDeadCalls((member) => channel.members().includes(member))]).then(
        () => undefined,
        (err: Error) => void logger.error('could not settle what a lost fleet member left', { error: err.message }),
      ),
    ));
  /** Repairs recordings no live process holds, then closes the tasks whose calls died with their process. */
  const settleLastRun = async (): Promise<void> => {
    try {
      if (onPgFleet) await settleLostMembers(true);
      const judge = onPgFleet ? ownersInFleet(channel.members(), channel.memberId) : undefined;
      const recovery = await recoverPartialRecordings(config.recordingsDir, judge);
      if (recovery.repaired.length > 0) logger.warn('repaired recordings left by an earlier run', { files: recovery.repaired });
      if (recovery.inUse.length > 0) logger.info('left alone recordings another live process is writing', { files: recovery.inUse });
      await tasks.settleLastRun(recovery);
      // This member's id on a call is an earlier process's at start: only another, alive, counts.
      await callDomain.settleDeadCalls((member) => member !== channel.memberId && channel.members().includes(member), recovery);
      await callDomain.importEarlierRecordings();
    } catch (err) {
      logger.error('could not settle what an earlier run left', { error: (err as Error).message });
    }
  };
  let stopWatchingMembers = (): void => undefined;
  const watchers = new LiveWatchers({
    bus,
    logger,
    snapshot: async (id) => optional(await store.get(id), taskView),
    callSnapshot: async (id) => optional(await callStore.get(id), callView),
  });
  const rooms = opened.add(
    'rooms domain',
    await createRoomsDomain({
      config,
      logger,
      channel,
      ...sessionSeams(deps, persistence),
    }),
    (r) => r.close(),
  );

  const app = express();
  const server = http.createServer(app);
  const verifyClient: VerifyClientCallbackAsync<IncomingMessage> = (info, done) => {
    const path = new URL(info.req.url ?? '/', 'http://gateway').pathname;
    // Live watchers (/ws/call/{id}, /ws/transcript/{id}) are refused with a plain HTTP status before the upgrade.
    const liveTaskId = liveCallTaskId(path);
    const watcherVerdict =
      liveTaskId === undefined
        ? rooms.checkUpgrade(info.req, path)
        : checkLiveUpgrade(info.req, liveTaskId, {
            apiKey: config.apiKey,
            allowedOrigins: config.corsOrigins,
            // A task's id or a call's: both are watched on /ws/call/{id}.
            exists: async (id: string) => (await store.get(id)) !== undefined || (await callStore.get(id)) !== undefined,
          });
    if (watcherVerdict !== undefined) {
      watcherVerdict.then(
        (verdict) => {
          if (verdict.ok) return done(true);
          // A missing key or an unknown task is the client's own mistake, like a 4xx on the API: info.
          logger.info('refused a live watcher', { status: verdict.status, remote: info.req.socket.remoteAddress });
          done(false, verdict.status, verdict.message);
        },
        (err: Error) => {
          logger.error('could not check a live watcher', { error: err.message });
          done(false, 503, 'Service Unavailable');
        },
      );
      return;
    }
    const stream = mediaStreamRoute(path);
    // Tokens are issued only with signature checks on; without them only the bare URL exists.
    if (!stream || (!gate && stream.token !== undefined)) return done(false, 404, 'Not Found');
    const remote = info.req.socket.remoteAddress ?? 'unknown';
    if (draining) return done(false, 503, 'Service Unavailable');
    if (calls.size >= config.maxConcurrentCalls) {
      logger.warn('refused a media stream: MAX_CONCURRENT_CALLS streams are open', { open: calls.size, max: config.maxConcurrentCalls, remote });
      telemetry.record('media_stream', 'stream_refused', { reason: 'at_capacity' });
      return done(false, 503, 'Service Unavailable');
    }
    if (!gate) return done(true);
    // A claim the store cannot make is already a 503 verdict; the rejection handler is for the unforeseen.
    gate.checkUpgrade(info.req, stream.token).then(
      (verdict) => {
        if (verdict.ok) return done(true);
        // A bad signature usually means PUBLIC_URL no longer matches the URL Twilio calls (a new tunnel).
        const checked = verdict.why === 'bad_signature' ? { checkedUrl: gate.checkedUrl() } : {};
        const error = verdict.error === undefined ? {} : { error: verdict.error };
        logger.log(verdict.status >= 500 ? 'error' : 'warn', 'refused a media-stream upgrade', { why: verdict.why, ...checked, ...error, remote });
        if (verdict.why === 'bad_signature') metrics.signatureRefused('media_stream');
        telemetry.record('media_stream', 'stream_refused', { reason: verdict.why });
        done(false, verdict.status, verdict.message);
      },
      (err: Error) => {
        logger.error('could not check a media-stream upgrade', { error: err.message, remote });
        done(false, 503, 'Service Unavailable');
      },
    );
  };
  const ws = expressWs(app, server, { wsOptions: { verifyClient, maxPayload: MAX_WS_PAYLOAD } });
  // The upgrade's 101 names the worker too: a watcher or a stream can tell where it landed.
  ws.getWss().on('headers', (headers: string[]) => headers.push(`X-Gateway-Worker: ${channel.memberId}`));
  // ws re-emits the HTTP server's errors (e.g. EADDRINUSE) on its own server, where an unheard
  // 'error' would crash the process with a stack trace. listen() reports a failed start; one
  // after it is logged once here, and the server goes on.
  ws.getWss().on('error', (err: Error) => {
    if (server.listening) logger.error('the HTTP server reported an error', { error: err.message });
  });

  const sessionDeps: CallSessionDeps = {
    agentFactory: agent.factory,
    recordingsDir: config.recordingsDir,
    vad: config.vad,
    streamStartTimeoutS: config.streamStartTimeoutS,
    mediaIdleTimeoutS: config.mediaIdleTimeoutS,
    mediaPingIntervalS: config.mediaPingIntervalS,
    maxMediaLeadMs: config.mediaMaxLeadS * 1000,
    logger,
    telemetry,
    logEveryN: config.logNoisyEventsEveryN,
    logDtmfDigits: config.logDtmfDigits,
    // The fleet hears first (a stream's end is on the channel before the analysis trigger it
    // causes), then the task service, so the caller's hooks see an up-to-date task.
    hooks: guardedHooks(logger, fleet.callHooks, tasks.callHooks, callDomain.records, persistence?.callHooks, deps.hooks),
    callOverrides: deps.callOverrides,
    telephony,
    metrics,
  };
  const taskAdmission = (start: StreamStart) => tasks.callHooks.admit(start);
  // Last: it takes a browser call over, so no check after it may refuse the stream.
  const callAdmission = (start: StreamStart) => callDomain.records.admit(start);
  const checks = deps.admit ? [deps.admit, taskAdmission, callAdmission] : [taskAdmission, callAdmission];
  // Per stream: its start must match its URL's token (when there is one) and may not take over a task.
  const streamDeps = (req: IncomingMessage): CallSessionDeps => ({
    ...sessionDeps,
    admit: gate ? admitAll(gate.admission(req), ...checks) : admitAll(...checks),
  });

  app.disable('x-powered-by');
  // Which worker served: operators (and the fleet's tests) can see requests spread.
  app.use((_req, res, next) => {
    res.setHeader('X-Gateway-Worker', channel.memberId);
    next();
  });
  app.use(requestLog(logger));
  mountMediaStream(ws.app, calls, streamDeps);
  app.use(
    healthRoutes({
      readiness,
      version: VERSION,
      agent: agent.kind,
      memberId: channel.memberId,
      figures: () => fleet.health(),
      ownCalls: () => calls.counts().calls,
    }),
  );
  app.use(
    '/twilio',
    twilioWebhookRoutes({
      signature: { authToken: config.twilio.authToken, publicUrl: config.publicUrl },
      logger,
      telemetry,
      isDraining: () => draining,
      atCapacity: () => calls.size >= config.maxConcurrentCalls,
      streamTokens,
      onSignatureRefused: () => metrics.signatureRefused('webhook'),
      // Any worker of any instance takes any callback: the store puts a call's callbacks in order.
      onCallStatus: async (update) => {
        await tasks.statusCallbacks.handle(update);
        // Tests hear of a callback once it is handled; a failing listener is not Twilio's business.
        await Promise.resolve(deps.onCallStatus?.(update)).catch((err: Error) => logger.error('a status callback listener failed', { error: err.message }));
      },
    }),
  );
  mountLiveRoutes(ws.app, watchers);
  app.use(metricsRoutes({ token: config.metricsToken, contentType: metrics.contentType, scrape: () => fleetMetrics.scrape(), logger }));
  app.use(openApiRoutes(() => buildOpenApiDocument(API_ROUTES, { version: VERSION })));
  rooms.mount(ws.app);
  // The operator console (the page and its bundles); its data comes from the API below, key and all.
  app.use(consoleRoutes(logger, { publicUrl: config.publicUrl }));
  // CORS before the key check: a browser's preflight carries no Authorization header.
  app.use('/api', cors(config.corsOrigins, logger), requireApiKey(config.apiKey, logger));
  app.post('/api/tasks/:id/call', refuseWhileDraining(readiness, logger));
  app.use('/api/tasks', taskRoutes(tasks.service, logger, { callIdsOf: (taskId) => callStore.idsOfTask(taskId) }));
  app.post('/api/calls/browser', refuseWhileDraining(readiness, logger));
  app.use('/api/calls', callRoutes(callDomain.service, logger));
  app.use(
    '/api/telemetry',
    telemetryRoutes(telemetry, logger, {
      noisyEveryN: config.logNoisyEventsEveryN,
      since: new Date(startedAt),
      source: { summary: () => fleet.telemetrySummary(), recent: (query) => fleet.telemetryRecent(query) },
    }),
  );

  app.use(notFound(logger));
  app.use(errorHandler(logger));
  let roomAgents: InlineRoomAgents | undefined;

  return {
    app,
    server,
    calls,
    logger,
    telemetry,
    agentKind: agent.kind,
    agentPool,
    memberId: channel.memberId,
    persistence,
    roomSessions: rooms.sink,
    /**
     * Listens, then settles what an earlier run left. In that order: a second gateway started by
     * mistake fails on the taken port before it looks at the recordings the first one is writing.
     */
    async listen(port = config.port, host?: string, options: ListenOptions = {}) {
      const address = await new Promise<AddressInfo>((resolve, reject) => {
        const failed = (err: Error) => reject(listenError(err, port));
        server.once('error', failed);
        server.listen(port, host, () => {
          // Errors after this point are the server's own, logged below, not a failed start.
          server.off('error', failed);
          resolve(server.address() as AddressInfo);
        });
      });
      loopMonitor.start();
      roomAgents = await startInlineRoomAgents(config, logger, deps.roomSessionSink ?? rooms.sink ?? loggingRoomSessionSink(logger), deps.roomAgentWorker);
      if (options.settleLastRun ?? true) await settleLastRun();
      // A member that leaves the fleet from now on leaves its calls to the survivors.
      if (onPgFleet) stopWatchingMembers = fleet.watchMembers(() => void settleLostMembers(false));
      persistence?.start();
      started = true;
      return address;
    },
    async drain(timeoutMs) {
      draining = true;
      // Room sessions wind down beside the calls: the agent worker takes no new job meanwhile.
      const [idle] = await Promise.all([calls.waitUntilIdle(timeoutMs), roomAgents?.drain(timeoutMs)]);
      const endedEarly = idle ? 0 : calls.size;
      await calls.endAll('shutdown');
      return { endedEarly };
    },
    async close() {
      draining = true;
      // Calls ending now still record their end in the store; no new analysis starts.
      tasks.stop();
      callDomain.stop();
      stopWatchingMembers();
      await calls.endAll('shutdown');
      await Promise.all([agentPool.close(), roomAgents?.close()]);
      for (const client of ws.getWss().clients) client.terminate();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // The ended calls' last writes are queued behind the store's answers: let them land first.
      await Promise.all([tasks.idle(), callDomain.idle(), settlingLost]);
      // The ended calls' records are queued by now; a delivery in flight is left for the next run.
      await persistence?.close();
      fleet.close();
      // Leaves the fleet before the store closes: the others hear of it at once.
      await channel.close();
      await store.close();
      await rooms.close();
      await callStore.close();
      await gate?.close();
      loopMonitor.stop();
      await telemetry.close();
    },
  };
}

/** POST /session asks the persistence service first, and a finished session is queued for it; tests may inject their own. */
function sessionSeams(deps: GatewayDeps, persistence: Persistence | undefined): { gatekeeper?: SessionGatekeeper; onSessionEnded?: SessionEndedHook } {
  const gatekeeper = deps.sessionGatekeeper ?? persistence?.gatekeeper;
  const onSessionEnded = deps.onSessionEnded ?? (persistence && ((session: RoomSession) => persistence.onSessionEnded(finishedRoomSession(session))));
  return { ...(gatekeeper && { gatekeeper }), ...(onSessionEnded && { onSessionEnded }) };
}

/** Joins the instances sharing DATABASE_URL; a failure names the database, never its password. */
async function joinPgFleet(url: string, memberId: string | undefined, logger: Logger): Promise<FleetChannel> {
  const database = describeDatabaseUrl(url);
  const channel = await openPgChannel(url, {
    memberId,
    onError: (what, error) => logger.error(`the fleet channel failed on ${what}`, { database, error: error.message }),
  }).catch((error: Error) => {
    throw new Error(`could not join the fleet in PostgreSQL at ${database} (DATABASE_URL): ${error.message}`);
  });
  logger.info('joined the fleet on PostgreSQL', { member: channel.memberId, members: channel.members() });
  return channel;
}

/** Calls (streams that sent `start`) apart from sockets still waiting for one; both count toward the cap. */
function streamFigures(calls: CallRegistry, max: number): { active_calls: number; pending_streams: number; max_concurrent_calls: number } {
  const { calls: active, pending } = calls.counts();
  return { active_calls: active, pending_streams: pending, max_concurrent_calls: max };
}

const optional = <T, R>(value: T | undefined, map: (value: T) => R): R | undefined => (value === undefined ? undefined : map(value));

/** Ends the task's live media streams in this process; false when it has none. */
async function endLiveCall(calls: CallRegistry, taskId: string, detail: string): Promise<boolean> {
  const sessions = calls.list().filter((session) => session.context?.taskId === taskId && !session.isEnded);
  await Promise.all(sessions.map((session) => session.end('operator_stop', detail)));
  return sessions.length > 0;
}

/**
 * Runs each set of hooks in turn, each call guarded: a failing hook is logged and the next one
 * still runs, and nothing is ever thrown back into the call.
 */
function guardedHooks(logger: Logger, ...sets: Array<CallHooks | undefined>): CallHooks {
  const present = sets.filter((hooks): hooks is CallHooks => hooks !== undefined);
  const each = (name: keyof CallHooks, run: (hooks: CallHooks) => void): void => {
    for (const hooks of present) {
      try {
        run(hooks);
      } catch (err) {
        logger.error('a call hook failed', { hook: name, error: (err as Error).message });
      }
    }
  };
  return {
    started: (call) => each('started', (h) => h.started?.(call)),
    transcript: (call, line) => each('transcript', (h) => h.transcript?.(call, line)),
    latency: (call, metric, ms) => each('latency', (h) => h.latency?.(call, metric, ms)),
    dtmf: (call, digit, atMs) => each('dtmf', (h) => h.dtmf?.(call, digit, atMs)),
    turn: (call, turn) => each('turn', (h) => h.turn?.(call, turn)),
    bargeIn: (call, bargeIn) => each('bargeIn', (h) => h.bargeIn?.(call, bargeIn)),
    agentError: (call, error) => each('agentError', (h) => h.agentError?.(call, error)),
    abandoned: (callId, reason) => each('abandoned', (h) => h.abandoned?.(callId, reason)),
    ended: (summary) => each('ended', (h) => h.ended?.(summary)),
  };
}
