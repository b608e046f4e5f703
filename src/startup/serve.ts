// One gateway process at work: the gateway built and listening, its start-up banner and warnings,
// and its drain on SIGTERM/SIGINT. Run alone, or as one worker of a WORKERS > 1 fleet, whose
// primary (src/cluster/primary.ts) drains every worker through IPC. Loaded by src/main.ts only
// in a process that serves.
import { hostname } from 'node:os';
import path from 'node:path';
import { installFaultGuard } from '../call/fault-guard.js';
import { onPrimaryDrain, type IpcPort } from '../cluster/ipc.js';
import { ClusterChannel } from '../fleet/cluster-channel.js';
import type { Config } from '../config.js';
import { createGateway, VERSION, type Gateway } from '../gateway.js';
import { exitOnStartFailure } from './checks.js';
import { runtimeAdvice, storeRunsOnHooks } from './runtime-advice.js';
import { mediaStreamUrl } from '../twilio/twiml.js';
import { flushLogs } from '../telemetry/logger.js';

/** With signature checks on, every call gets its own single-use stream URL: the banner says so. */
function streamUrlForBanner(config: Config, local: string): string {
  if (!config.publicUrl) return `${local.replace('http:', 'ws:')}/twilio/media-stream`;
  const base = mediaStreamUrl(config.publicUrl);
  return config.twilio.authToken ? `${base}/<per-call token>` : base;
}

/** A member of a WORKERS > 1 fleet, as this worker process knows itself. */
export interface FleetMember {
  id: string;
  /** The first worker forked settles what the last run left, for the whole fleet. */
  settles: boolean;
}

export async function serve(config: Config, member: FleetMember | undefined): Promise<void> {
  // A drain asked for while starting is kept, and begins once the gateway is up.
  let drainAskedEarly: string | undefined;
  let drainAsked = (why: string): void => void (drainAskedEarly ??= why);
  const onDrain = (): void => drainAsked('the primary');
  // With DATABASE_URL the fleet is every worker of every instance, on PostgreSQL (the gateway
  // joins it); the primary's IPC then only asks for the drain.
  const onPostgres = config.databaseUrl !== undefined;
  if (member && onPostgres) onPrimaryDrain(primaryPort(), onDrain);
  const fleet = member && !onPostgres ? new ClusterChannel({ memberId: member.id, port: primaryPort(), onDrain }) : undefined;
  const gateway = await createGateway(config, {
    fleet,
    memberId: member && `${hostname()}-${member.id}`,
    // Each worker rotates its own service.log and telemetry file: two processes must not rotate one.
    logDir: member && path.join(config.dataDir, 'workers', member.id),
  }).catch(exitOnStartFailure);
  const { logger } = gateway;
  installFaultGuard(logger);
  const address = await gateway.listen(config.port, config.host, { settleLastRun: member?.settles ?? true }).catch(exitOnStartFailure);
  if (member) {
    process.send?.({ fleet: 'ready' });
    // The primary drains the fleet; a signal to a worker itself (a process manager signals the whole group) drains it the same way, once.
    drainAsked = drainOnce(config, gateway, member.id);
    process.on('SIGTERM', () => drainAsked('SIGTERM'));
    process.on('SIGINT', () => drainAsked('SIGINT'));
    if (drainAskedEarly !== undefined) drainAsked(drainAskedEarly);
    if (!member.settles) {
      logger.info('worker listening', { worker: member.id, port: address.port });
      return;
    }
  }
  const local = `http://${urlHost(config.host ?? 'localhost')}:${address.port}`;
  logger.info(`telephony gateway ${VERSION} listening on ${local}${config.host === undefined ? ' (every interface)' : ''}`, {
    agent: gateway.agentKind,
    agentBecause: config.agent.reason,
    voiceWebhook: `${config.publicUrl ?? local}/twilio/voice`,
    mediaStream: streamUrlForBanner(config, local),
    dataDir: config.dataDir,
    recordingsDir: config.recordingsDir,
  });
  if (!config.twilio.authToken) {
    logger.warn('TWILIO_AUTH_TOKEN is not set: Twilio webhooks and media streams are NOT signature-checked. Set it before exposing this gateway.');
  }
  if (config.agent.fallback) logger.warn(`agent=${config.agent.kind}: ${config.agent.reason}`);
  for (const { name, didYouMean } of config.unknownVariables) {
    // The name only: a mistyped variable may well hold a secret.
    logger.warn(`${name} is set but is not a variable this gateway reads${didYouMean ? `: did you mean ${didYouMean}?` : ''}`);
  }
  if (!config.apiKey) {
    const exposure = isLoopback(config.host)
      ? `anyone on this machine (HOST=${config.host})`
      : 'anyone who can reach this port; set HOST=127.0.0.1 to keep it to this machine';
    logger.warn(`API_KEY is not set: /api/* (call tasks, recordings, analysis, telemetry) answers ${exposure}. Set API_KEY before exposing this gateway.`);
  }
  if (!config.publicUrl) {
    logger.warn('PUBLIC_URL is not set: TwiML will point Twilio at the Host header of each webhook request.');
  }
  // Pipelines run for phone calls (AGENT_PROVIDER=livekit) and for rooms (the inline room agent worker).
  const roomAgents = config.livekit.url !== undefined && config.livekit.worker.mode === 'inline';
  const advice = runtimeAdvice({ nodeVersion: process.version, runsPipelines: gateway.agentKind === 'livekit' || roomAgents, storeOnHooks: storeRunsOnHooks() });
  if (advice) logger.warn(advice);
  if (member) return;

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting now`);
      // Bounded: a stalled disk must not hold up the exit that was asked for.
      await Promise.race([flushLogs(logger), new Promise((resolve) => setTimeout(resolve, 500))]);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal}: draining; press Ctrl-C again (or send another signal) to exit now`, {
      activeCalls: gateway.calls.size,
      timeoutS: config.drainTimeoutS,
    });
    const { endedEarly } = await gateway.drain(config.drainTimeoutS * 1000);
    if (endedEarly > 0) logger.warn('ended calls still active at the drain timeout', { calls: endedEarly });
    await gateway.close();
    logger.info('stopped');
    await flushLogs(logger);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** A fleet worker's drain: refuse new streams, let calls finish, exit 0. A second request changes nothing: the primary cuts it short. */
function drainOnce(config: Config, gateway: Gateway, memberId: string): (why: string) => void {
  let draining = false;
  return (why) => {
    if (draining) return;
    draining = true;
    gateway.logger.info(`${why}: draining`, { worker: memberId, activeCalls: gateway.calls.size, timeoutS: config.drainTimeoutS });
    void (async () => {
      const { endedEarly } = await gateway.drain(config.drainTimeoutS * 1000);
      if (endedEarly > 0) gateway.logger.warn('ended calls still active at the drain timeout', { worker: memberId, calls: endedEarly });
      await gateway.close();
      await flushLogs(gateway.logger);
      process.exit(0);
    })();
  };
}

/** This worker's end of the IPC link to the primary: a send after the link closed is dropped. */
function primaryPort(): IpcPort {
  return {
    send: (message) => (process.connected ? process.send?.(message) : false),
    on: (event, listener) => process.on(event, listener),
    off: (event, listener) => process.off(event, listener),
  };
}

/** An IPv6 literal goes in brackets in a URL. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function isLoopback(host: string | undefined): boolean {
  return host === 'localhost' || host === '::1' || (host !== undefined && host.startsWith('127.'));
}

