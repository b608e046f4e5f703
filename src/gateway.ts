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
import { AgentWorkerPool } from './agents/worker/pool.js';
import type { HostedAgentKind } from './agents/worker/protocol.js';
import { recoverPartialRecordings } from './audio/recording-recovery.js';
import { admitAll, type StreamStart } from './call/admission.js';
import { assertWritableDirs, listenError } from './startup/checks.js';
import { CallRegistry } from './call/registry.js';
import type { CallHooks, CallSessionDeps } from './call/call-types.js';
import { cors } from './http/cors.js';
import { errorHandler, notFound } from './http/errors.js';
import { requestLog } from './http/request-log.js';
import { requireApiKey } from './http/access.js';
import { LiveBus } from './live/bus.js';
import { checkLiveUpgrade, liveCallTaskId, mountLiveRoutes } from './live/routes.js';
import { LiveWatchers } from './live/watch.js';
import type { LlmClient } from './llm/types.js';
import { createTaskDomain } from './tasks/index.js';
import { taskRoutes } from './tasks/routes.js';
import { openSqliteTaskStore } from './tasks/sqlite-store.js';
import type { TaskStore } from './tasks/store.js';
import { taskView } from './tasks/view.js';
import { TwilioCallControl, type TwilioCalls } from './twilio/call-control.js';
import { createLogger, type Logger } from './telemetry/logger.js';
import { EventLoopMonitor } from './telemetry/event-loop.js';
import { Telemetry } from './telemetry/events.js';
import { telemetryRoutes } from './telemetry/routes.js';
import { mediaStreamRoute, mountMediaStream } from './twilio/media-stream.js';
import { MAX_INBOUND_FRAME_BYTES } from './twilio/protocol.js';
import { openSqliteStreamClaims, type StreamClaims } from './twilio/stream-claims.js';
import { StreamGate } from './twilio/stream-admission.js';
import { twilioWebhookRoutes, type CallStatusUpdate } from './twilio/webhooks.js';

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
  /** Called after the task service has applied the callback. */
  onCallStatus?: (update: CallStatusUpdate) => void | Promise<void>;
  /** The task store; by default SQLite in DATA_DIR. The gateway closes it. */
  taskStore?: TaskStore;
  /** The LLM for post-call analysis; by default made from LLM_* on first use. */
  llm?: LlmClient;
  /** How long an early Twilio status callback waits for the ones numbered before it (default 2000). */
  callbackHoldMs?: number;
  /** Single-use claims of media-stream tokens; by default in the SQLite database in DATA_DIR. The gateway closes them. */
  streamClaims?: StreamClaims;
  /** Wall clock (epoch ms) for stream-token expiry; tests move it forward. */
  clock?: () => number;
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
  listen(port?: number, host?: string): Promise<AddressInfo>;
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
  const logger =
    deps.logger ??
    createLogger({ level: config.logLevel, file: `${config.dataDir}/service.log`, maxFileBytes: config.logMaxFileBytes, maxFiles: config.logMaxFiles });
  const telemetry =
    deps.telemetry ??
    new Telemetry({
      file: `${config.dataDir}/telemetry_events.jsonl`,
      maxFileBytes: config.logMaxFileBytes,
      maxFiles: config.logMaxFiles,
      noisyEveryN: config.logNoisyEventsEveryN,
      onError: (err) => logger.error('telemetry events can no longer be written; keeping them in memory only', { error: err.message }),
    });
  const loopMonitor = new EventLoopMonitor(telemetry);
  // Workers start with the first call that needs one: a gateway whose agents all run in-process has none.
  const agentPool = new AgentWorkerPool({ size: config.agentWorkers, config, logger, telemetry });
  const agent = deps.agentFactory
    ? { kind: 'custom', factory: deps.agentFactory }
    : deps.offThreadAgent
      ? await offThread(agentPool, deps.offThreadAgent)
      : await configuredAgent(config, agentPool);
  const calls = new CallRegistry();
  const { accountSid, authToken } = config.twilio;
  const telephony = deps.telephony ?? (accountSid && authToken ? new TwilioCallControl(accountSid, authToken) : undefined);
  const startedAt = Date.now();
  let draining = false;

  const store = deps.taskStore ?? openSqliteTaskStore(config.dataDir);
  // With an auth token, every stream URL carries a per-call token (loadConfig guarantees PUBLIC_URL then).
  const gate = authToken
    ? new StreamGate({ authToken, publicUrl: config.publicUrl! }, deps.streamClaims ?? openSqliteStreamClaims(config.dataDir, deps.clock), deps.clock)
    : undefined;
  const streamTokens = gate?.tokens;
  const bus = new LiveBus((taskId, err) => logger.error('a live watcher failed', { taskId, error: err.message }));
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
    endLiveCall: (taskId, detail) => endLiveCall(calls, taskId, detail),
  });
  /** Repairs recordings no live process holds, then closes the tasks whose calls died with their process. */
  const settleLastRun = async (): Promise<void> => {
    try {
      const recovery = await recoverPartialRecordings(config.recordingsDir);
      if (recovery.repaired.length > 0) logger.warn('repaired recordings left by an earlier run', { files: recovery.repaired });
      if (recovery.inUse.length > 0) logger.info('left alone recordings another live process is writing', { files: recovery.inUse });
      await tasks.settleLastRun(recovery);
    } catch (err) {
      logger.error('could not settle what an earlier run left', { error: (err as Error).message });
    }
  };
  const watchers = new LiveWatchers({ bus, logger, snapshot: (id) => optional(store.get(id), taskView) });

  const app = express();
  const server = http.createServer(app);
  const verifyClient: VerifyClientCallbackAsync<IncomingMessage> = (info, done) => {
    const path = new URL(info.req.url ?? '/', 'http://gateway').pathname;
    const liveTaskId = liveCallTaskId(path);
    if (liveTaskId !== undefined) {
      const verdict = checkLiveUpgrade(info.req, liveTaskId, {
        apiKey: config.apiKey,
        allowedOrigins: config.corsOrigins,
        taskExists: (id) => store.get(id) !== undefined,
      });
      if (verdict.ok) return done(true);
      // A missing key or an unknown task is the client's own mistake, like a 4xx on the API: info.
      logger.info('refused a live watcher', { status: verdict.status, remote: info.req.socket.remoteAddress });
      return done(false, verdict.status, verdict.message);
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
    if (gate) {
      const verdict = gate.checkUpgrade(info.req, stream.token);
      if (!verdict.ok) {
        // A bad signature usually means PUBLIC_URL no longer matches the URL Twilio calls (a new tunnel).
        const checked = verdict.why === 'bad_signature' ? { checkedUrl: gate.checkedUrl() } : {};
        const error = verdict.error === undefined ? {} : { error: verdict.error };
        logger.log(verdict.status >= 500 ? 'error' : 'warn', 'refused a media-stream upgrade', { why: verdict.why, ...checked, ...error, remote });
        telemetry.record('media_stream', 'stream_refused', { reason: verdict.why });
        return done(false, verdict.status, verdict.message);
      }
    }
    done(true);
  };
  const ws = expressWs(app, server, { wsOptions: { verifyClient, maxPayload: MAX_WS_PAYLOAD } });
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
    // The task service hears of the call first, so the caller's hooks see an up-to-date task.
    hooks: guardedHooks(logger, tasks.callHooks, deps.hooks),
    callOverrides: (taskId) => deps.callOverrides?.(taskId) ?? tasks.service.callOverrides(taskId),
    telephony,
  };
  const taskAdmission = (start: StreamStart) => tasks.callHooks.admit(start);
  // Per stream: its start must match its URL's token (when there is one) and may not take over a task.
  const streamDeps = (req: IncomingMessage): CallSessionDeps => ({
    ...sessionDeps,
    admit: gate ? admitAll(gate.admission(req), taskAdmission) : taskAdmission,
  });

  app.disable('x-powered-by');
  app.use(requestLog(logger));
  mountMediaStream(ws.app, calls, streamDeps);
  app.get('/health', (_req, res) => {
    res.json({
      status: draining ? 'draining' : 'ok',
      version: VERSION,
      uptime_s: Math.round((Date.now() - startedAt) / 1000),
      agent: agent.kind,
      ...streamFigures(calls, config.maxConcurrentCalls),
    });
  });
  app.use(
    '/twilio',
    twilioWebhookRoutes({
      signature: { authToken: config.twilio.authToken, publicUrl: config.publicUrl },
      logger,
      telemetry,
      isDraining: () => draining,
      atCapacity: () => calls.size >= config.maxConcurrentCalls,
      streamTokens,
      onCallStatus: async (update) => {
        tasks.statusCallbacks.handle(update);
        await deps.onCallStatus?.(update);
      },
    }),
  );
  mountLiveRoutes(ws.app, watchers);
  // CORS before the key check: a browser's preflight carries no Authorization header.
  app.use('/api', cors(config.corsOrigins, logger), requireApiKey(config.apiKey, logger));
  app.use('/api/tasks', taskRoutes(tasks.service, logger));
  app.use('/api/telemetry', telemetryRoutes(telemetry, logger, { noisyEveryN: config.logNoisyEventsEveryN, since: new Date(startedAt) }));

  app.use(notFound(logger));
  app.use(errorHandler(logger));

  return {
    app,
    server,
    calls,
    logger,
    telemetry,
    agentKind: agent.kind,
    agentPool,
    /**
     * Listens, then settles what an earlier run left. In that order: a second gateway started by
     * mistake fails on the taken port before it looks at the recordings the first one is writing.
     */
    async listen(port = config.port, host?: string) {
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
      await settleLastRun();
      return address;
    },
    async drain(timeoutMs) {
      draining = true;
      const idle = await calls.waitUntilIdle(timeoutMs);
      const endedEarly = idle ? 0 : calls.size;
      await calls.endAll('shutdown');
      return { endedEarly };
    },
    async close() {
      draining = true;
      // Calls ending now still record their end in the store; no new analysis starts.
      tasks.stop();
      await calls.endAll('shutdown');
      await agentPool.close();
      for (const client of ws.getWss().clients) client.terminate();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      store.close();
      gate?.close();
      loopMonitor.stop();
      await telemetry.close();
    },
  };
}

/** Calls (streams that sent `start`) apart from sockets still waiting for one; both count toward the cap. */
function streamFigures(calls: CallRegistry, max: number): Record<string, number> {
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
    dtmf: (call, digit) => each('dtmf', (h) => h.dtmf?.(call, digit)),
    ended: (summary) => each('ended', (h) => h.ended?.(summary)),
  };
}
