// createGateway builds the whole server without listening, so tests run it on port 0 with fakes
// injected; src/main.ts only reads configuration, listens, and drains on a signal.
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import express, { type NextFunction, type Request, type Response } from 'express';
import expressWs from 'express-ws';
import type { VerifyClientCallbackAsync } from 'ws';
import type { Config } from './config.js';
import type { AgentFactory } from './agents/bridge.js';
import { selectAgent } from './agents/index.js';
import { recoverPartialRecordings } from './audio/recording-recovery.js';
import { CallRegistry } from './call/registry.js';
import type { CallHooks, CallSessionDeps } from './call/session.js';
import { TwilioCallControl, type TwilioCalls } from './twilio/call-control.js';
import { createLogger, type Logger } from './telemetry/logger.js';
import { Telemetry } from './telemetry/events.js';
import { telemetryRoutes } from './telemetry/routes.js';
import { isValidUpgradeSignature } from './twilio/signature.js';
import { MEDIA_STREAM_PATH, mountMediaStream } from './twilio/media-stream.js';
import { twilioWebhookRoutes, type CallStatusUpdate } from './twilio/webhooks.js';

export interface GatewayDeps {
  logger?: Logger;
  telemetry?: Telemetry;
  /** Overrides the configured agent (tests inject fakes here). */
  agentFactory?: AgentFactory;
  /** Twilio REST; by default built from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN when both are set. */
  telephony?: TwilioCalls;
  hooks?: CallHooks;
  callOverrides?: CallSessionDeps['callOverrides'];
  onCallStatus?: (update: CallStatusUpdate) => void | Promise<void>;
}

export interface Gateway {
  readonly app: express.Application;
  readonly server: http.Server;
  readonly calls: CallRegistry;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly agentKind: string;
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /** Refuses new streams, lets active calls finish for up to `timeoutMs`, then ends the rest. */
  drain(timeoutMs: number): Promise<{ endedEarly: number }>;
  close(): Promise<void>;
}

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Text frames from Twilio are about 400 bytes; bigger ones up to this are skipped, not fatal. */
const MAX_WS_PAYLOAD = 1024 * 1024;

export async function createGateway(config: Config, deps: GatewayDeps = {}): Promise<Gateway> {
  const logger = deps.logger ?? createLogger({ level: config.logLevel, file: `${config.dataDir}/service.log` });
  const telemetry =
    deps.telemetry ??
    new Telemetry({
      file: `${config.dataDir}/telemetry_events.jsonl`,
      noisyEveryN: config.logNoisyEventsEveryN,
      onError: (err) => logger.error('telemetry events can no longer be written; keeping them in memory only', { error: err.message }),
    });
  const agent = deps.agentFactory ? { kind: 'custom', factory: deps.agentFactory } : selectAgent(config);
  const calls = new CallRegistry();
  const { accountSid, authToken } = config.twilio;
  const telephony = deps.telephony ?? (accountSid && authToken ? new TwilioCallControl(accountSid, authToken) : undefined);
  const startedAt = Date.now();
  let draining = false;

  const repaired = await recoverPartialRecordings(config.recordingsDir);
  if (repaired.length > 0) logger.warn('repaired recordings left by an earlier run', { files: repaired });

  const app = express();
  const server = http.createServer(app);
  const verifyClient: VerifyClientCallbackAsync<IncomingMessage> = (info, done) => {
    const path = new URL(info.req.url ?? '/', 'http://gateway').pathname;
    if (path !== MEDIA_STREAM_PATH) return done(false, 404, 'Not Found');
    if (draining) return done(false, 503, 'Service Unavailable');
    // loadConfig guarantees PUBLIC_URL whenever a Twilio auth token is set.
    const authToken = config.twilio.authToken;
    if (authToken && !isValidUpgradeSignature({ authToken, publicUrl: config.publicUrl! }, info.req)) {
      logger.warn('rejected a media-stream upgrade with a missing or invalid signature', { remote: info.req.socket.remoteAddress });
      return done(false, 403, 'Forbidden');
    }
    done(true);
  };
  const ws = expressWs(app, server, { wsOptions: { verifyClient, maxPayload: MAX_WS_PAYLOAD } });

  const sessionDeps: CallSessionDeps = {
    agentFactory: agent.factory,
    recordingsDir: config.recordingsDir,
    vad: config.vad,
    streamStartTimeoutS: config.streamStartTimeoutS,
    logger,
    telemetry,
    logEveryN: config.logNoisyEventsEveryN,
    hooks: deps.hooks,
    callOverrides: deps.callOverrides,
    telephony,
  };

  app.disable('x-powered-by');
  mountMediaStream(ws.app, calls, () => sessionDeps);
  app.get('/health', (_req, res) => {
    res.json({
      status: draining ? 'draining' : 'ok',
      version: VERSION,
      uptime_s: Math.round((Date.now() - startedAt) / 1000),
      agent: agent.kind,
      active_calls: calls.size,
    });
  });
  app.use(
    '/twilio',
    twilioWebhookRoutes({
      signature: { authToken: config.twilio.authToken, publicUrl: config.publicUrl },
      logger,
      telemetry,
      isDraining: () => draining,
      onCallStatus: deps.onCallStatus,
    }),
  );
  app.use('/api/telemetry', telemetryRoutes(telemetry));


  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', message: `no route for ${req.method} ${req.path}` });
  });
  app.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 600 ? err.status : 500;
    if (status >= 500) logger.error('request failed', { method: req.method, path: req.path, error: err.message });
    res.status(status).json({
      error: status >= 500 ? 'internal_error' : (err.type ?? 'bad_request'),
      message: status >= 500 ? 'the gateway could not complete this request' : err.message,
    });
  });

  return {
    app,
    server,
    calls,
    logger,
    telemetry,
    agentKind: agent.kind,
    listen(port = config.port, host?: string) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve(server.address() as AddressInfo));
      });
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
      await calls.endAll('shutdown');
      for (const client of ws.getWss().clients) client.terminate();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await telemetry.close();
    },
  };
}
