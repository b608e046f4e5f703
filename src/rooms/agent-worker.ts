// The LiveKit agent worker: registers with the LiveKit server under LIVEKIT_AGENT_NAME (explicit
// dispatch only, so it joins just the rooms POST /session dispatches it to), and runs each job it
// accepts, the room agent (room-agent.ts), in a job process the framework forks. The gateway runs
// one by default (LIVEKIT_AGENT_WORKER=inline); `npm run agent` runs more as processes of their
// own. Nothing heavy stays in the worker's process: the pipelines run in the job processes.
//
// LiveKit unreachable is never fatal: the framework retries a connection up to `maxRetry` times
// and then gives up (its run() rejects); this class then logs once for the whole outage, waits
// with a growing backoff, and starts a fresh server, for as long as the process lives.
import { AgentServer, ServerOptions } from '@livekit/agents';
import { AccessToken } from 'livekit-server-sdk';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import type { LiveKitConfig, LogLevel } from '../config.js';
import { initializeFrameworkLogger } from '../agents/livekit/framework-logger.js';
import type { Logger } from '../telemetry/logger.js';
import { JobSinkRelay } from './agent-sink-relay.js';
import type { RoomSessionSink } from './session-events.js';

/** The job entry, by path: the framework imports it in each job process (tsx carries .ts through execArgv). */
export const ROOM_AGENT_FILE = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './room-agent.ts' : './room-agent.js', import.meta.url));

export interface RoomAgentWorkerOptions {
  config: { livekit: LiveKitConfig; logLevel: LogLevel };
  logger: Logger;
  /** Where the jobs' session events go (the session store and live bus in the gateway). */
  sink: RoomSessionSink;
  /** The framework's connection attempts before a server gives up (default 10, its own: ≈ 80 s of retries). */
  maxRetry?: number;
  /** Wait before starting a fresh server after one gave up: doubles from `firstMs` up to `maxMs`. */
  backoff?: { firstMs: number; maxMs: number };
  /** Tests: another job entry. */
  agentFile?: string;
}

const DEFAULT_BACKOFF = { firstMs: 5_000, maxMs: 60_000 };
/** A probe handshake that takes longer has failed. */
const PROBE_TIMEOUT_MS = 10_000;
/** Shutdown of one job process: its pipeline closes and its last lines reach the relay. */
const JOB_SHUTDOWN_TIMEOUT_MS = 15_000;

type Credentials = { url: string; apiKey: string; apiSecret: string };

export class RoomAgentWorker {
  private server: AgentServer | undefined;
  private relay: JobSinkRelay | undefined;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Aborted when the worker closes, and with it the probe in flight. */
  private readonly closing = new AbortController();
  /** Consecutive servers that gave up since the last registration (0 = no outage). */
  private failures = 0;
  private registeredOnce = false;

  constructor(private readonly options: RoomAgentWorkerOptions) {}

  private get stopped(): boolean {
    return this.closing.signal.aborted;
  }

  /** Whether LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET are all set. */
  static configured(livekit: LiveKitConfig): boolean {
    return Boolean(livekit.url && livekit.apiKey && livekit.apiSecret);
  }

  /** Starts the relay, then connects in the background; never rejects for LiveKit being away. */
  async start(): Promise<void> {
    const { livekit, logLevel } = this.options.config;
    const { url, apiKey, apiSecret } = livekit;
    if (!url || !apiKey || !apiSecret) throw new Error('the room agent worker needs LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET');
    initializeFrameworkLogger(logLevel);
    this.relay = await JobSinkRelay.listen(this.options.sink, this.options.logger);
    this.running = this.keepRunning({ url, apiKey, apiSecret });
  }

  /** Takes no new jobs and waits up to `timeoutMs` for the running ones to end. */
  async drain(timeoutMs: number): Promise<void> {
    const server = this.server;
    // The framework takes a timeout of 0 for "no timeout": waiting for nothing is not waiting at all.
    if (!server || this.stopped || timeoutMs <= 0) return;
    await server.drain(timeoutMs).catch((error: Error) => {
      this.options.logger.warn('room agent jobs were still running at the drain timeout', { error: error.message });
    });
  }

  /** Stops connecting, ends the job processes, closes the relay (after their last lines). */
  async close(): Promise<void> {
    this.closing.abort();
    this.wake?.();
    await this.server?.close().catch(() => undefined);
    await this.running;
    await this.relay?.close();
  }

  /**
   * Probes LiveKit until it answers, then runs a server until it gives up, and again. The probe
   * is one WebSocket handshake: a server forks its job processes (and the framework's inference
   * process) as it starts, which an outage must not repeat every few seconds.
   */
  private async keepRunning(credentials: Credentials): Promise<void> {
    while (!this.stopped) {
      try {
        await probeLivekit(credentials, this.closing.signal);
      } catch (error) {
        if (this.stopped) return;
        this.onUnreachable(error as Error);
        await this.sleep(this.retryDelayMs());
        continue;
      }
      if (this.stopped) return;
      try {
        this.server = this.newServer(credentials);
        await this.server.run();
      } catch (error) {
        if (!this.stopped) this.onUnreachable(error as Error);
      }
      await this.server?.close().catch(() => undefined);
      this.server = undefined;
      if (!this.stopped) await this.sleep(this.retryDelayMs());
    }
  }

  /** Doubles with each server that gave up in this outage, from `firstMs` up to `maxMs`. */
  private retryDelayMs(): number {
    const { firstMs, maxMs } = this.options.backoff ?? DEFAULT_BACKOFF;
    return Math.min(firstMs * 2 ** Math.max(0, this.failures - 1), maxMs);
  }

  private newServer({ url, apiKey, apiSecret }: Credentials): AgentServer {
    const { livekit } = this.options.config;
    const server = new AgentServer(
      new ServerOptions({
        agent: this.options.agentFile ?? ROOM_AGENT_FILE,
        agentName: livekit.agentName,
        wsURL: url,
        apiKey,
        apiSecret,
        port: livekit.worker.healthPort,
        // Loopback: the health server is for this machine's probes, not the world.
        host: '127.0.0.1',
        numIdleProcesses: livekit.worker.idleProcesses,
        maxRetry: this.options.maxRetry ?? 10,
        shutdownProcessTimeout: JOB_SHUTDOWN_TIMEOUT_MS,
        logLevel: this.options.config.logLevel,
      }),
    );
    server.event.on('worker_registered', (workerId: string) => this.onRegistered(workerId));
    return server;
  }

  private onRegistered(workerId: string): void {
    const { logger, config } = this.options;
    const fields = { workerId, agentName: config.livekit.agentName, url: config.livekit.url };
    if (this.failures > 0) logger.info('room agent worker reached LiveKit again and registered', { ...fields, failedAttempts: this.failures });
    else if (!this.registeredOnce) logger.info('room agent worker registered with LiveKit', fields);
    this.failures = 0;
    this.registeredOnce = true;
  }

  /** One line per outage at warn; the retries after it at debug. */
  private onUnreachable(error: Error): void {
    const { logger, config } = this.options;
    this.failures++;
    const fields = { url: config.livekit.url, error: error.message, retryInS: Math.round(this.retryDelayMs() / 1000) };
    if (this.failures === 1) {
      logger.warn('room agent worker cannot reach LiveKit; retrying until it can (phone calls are not affected)', fields);
    } else {
      logger.debug('room agent worker still cannot reach LiveKit', { ...fields, failures: this.failures });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/**
 * Opens and closes the worker endpoint the framework connects to (`<LIVEKIT_URL>/agent`, with an
 * agent token), built the framework's way; rejects with why it could not.
 */
export async function probeLivekit({ url, apiKey, apiSecret }: Credentials, signal?: AbortSignal): Promise<void> {
  const base = new URL(url);
  base.protocol = base.protocol.replace('http', 'ws');
  const token = new AccessToken(apiKey, apiSecret, { ttl: 60 });
  token.addGrant({ agent: true });
  const socket = new WebSocket(new URL(`${base.toString()}agent`), { headers: { authorization: `Bearer ${await token.toJwt()}` }, handshakeTimeout: PROBE_TIMEOUT_MS });
  let abort = (): void => undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      abort = () => reject(new Error('the worker is closing'));
      if (signal?.aborted) return abort();
      signal?.addEventListener('abort', abort);
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_req, res) => reject(new Error(`the server answered ${res.statusCode}`)));
      socket.once('error', reject);
      socket.once('close', (code) => reject(new Error(`the socket closed (${code})`)));
    });
  } finally {
    signal?.removeEventListener('abort', abort);
    socket.removeAllListeners();
    socket.on('error', () => undefined);
    socket.terminate();
  }
}
