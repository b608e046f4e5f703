// A pool of agent worker threads, each hosting many calls' bridges, so heavy agents (a LiveKit
// pipeline session) never share the event loop that carries media frames. Workers start when an
// agent is first hosted (a gateway whose agents all run in-process has none) and load its code at
// once; each call goes to the least-loaded worker. A worker that dies fails its calls cleanly
// (each hears the apology) and is replaced.
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { Config } from '../../config.js';
import type { Telemetry } from '../../telemetry/events.js';
import type { Logger } from '../../telemetry/logger.js';
import type { AgentFactory } from '../bridge.js';
import { AudioRingWriter, createAudioRing } from './audio-ring.js';
import type { FromWorker, HostedAgentFactory, HostedAgentKind, ToWorker, WorkerSetup } from './protocol.js';
import { WorkerBridge, type BridgeHost } from './worker-bridge.js';

/** Under tsx (tests, `npm start`) the worker runs host.ts; in a compiled build, host.js. */
const HOST_ENTRY = new URL(import.meta.url.endsWith('.ts') ? './host.ts' : './host.js', import.meta.url);
/** How long a worker may take to close its bridges at shutdown before it is terminated. */
const SHUTDOWN_GRACE_MS = 5_000;
/** A worker that dies younger than this is replaced at the next call, not at once: no crash loop. */
const MIN_LIFETIME_FOR_RESPAWN_MS = 1_000;

export interface AgentWorkerPoolOptions {
  /** Worker threads at most; 0 runs hosted agents in-process. */
  size: number;
  /** Passed to every hosted agent factory (cloned into each worker). */
  config: Config;
  logger: Logger;
  /** Ring slots per worker (a power of two); the benchmark makes it hold a whole run. */
  ringSlots?: number;
  /** Where a call's dropped caller frames are reported when it ends (`agent_worker/frames_dropped`). */
  telemetry?: Telemetry;
}

/** One worker thread and the calls it hosts. */
class AgentWorker implements BridgeHost {
  readonly thread: Worker;
  readonly calls = new Map<number, WorkerBridge>();
  readonly exited: Promise<number>;
  private readonly ring: AudioRingWriter;
  private nextCallId = 1;
  private lastError: Error | undefined;
  /** `load` requests waiting for the worker's answer, by module#export. */
  private readonly loading = new Map<string, { resolve: () => void; reject: (err: Error) => void }>();

  constructor(
    setup: WorkerSetup,
    private readonly log: Logger,
    private readonly telemetry: Telemetry | undefined,
    onExit: (worker: AgentWorker, code: number) => void,
  ) {
    this.ring = new AudioRingWriter(setup.ring);
    const { entry, eval: isCode } = workerEntry();
    this.thread = new Worker(entry, { eval: isCode, workerData: setup });
    this.thread.on('message', (message: FromWorker) => this.onMessage(message));
    // An 'error' is always followed by 'exit'; keep it to say why.
    this.thread.on('error', (err) => (this.lastError = err));
    this.exited = new Promise((resolve) =>
      this.thread.once('exit', (code) => {
        this.failAll(code);
        onExit(this, code);
        resolve(code);
      }),
    );
  }

  get load(): number {
    return this.calls.size;
  }

  /** Frames dropped because this worker fell a whole ring behind. */
  get droppedFrames(): number {
    return this.ring.dropped;
  }

  host(kind: HostedAgentKind, ...args: Parameters<AgentFactory>): WorkerBridge {
    const bridge = new WorkerBridge(this, this.nextCallId++, kind, ...args);
    this.calls.set(bridge.callId, bridge);
    return bridge;
  }

  post(message: ToWorker): void {
    this.thread.postMessage(message);
  }

  /** Has the worker import an agent's code; rejects if it cannot, or if the worker dies first. */
  loadAgent(kind: HostedAgentKind): Promise<void> {
    return new Promise((resolve, reject) => {
      this.loading.set(`${kind.module}#${kind.export}`, { resolve, reject });
      this.post({ type: 'load', kind });
    });
  }

  pushAudio(callId: number, frame: Buffer, atMs: number): boolean {
    const pushed = this.ring.push(callId, frame, atMs);
    if (pushed === 'too-large') this.post({ type: 'audio', callId, frame: new Uint8Array(frame), atMs });
    return pushed !== 'dropped';
  }

  release(callId: number): void {
    const bridge = this.calls.get(callId);
    this.calls.delete(callId);
    if (bridge) this.reportDrops(bridge);
  }

  /** Asks the worker to close its bridges and exit; terminates it if it does not in time. */
  async shutdown(): Promise<void> {
    this.post({ type: 'shutdown' });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), SHUTDOWN_GRACE_MS).unref()));
    if ((await Promise.race([this.exited, late])) === 'late') await this.thread.terminate();
    clearTimeout(timer);
    await this.exited;
  }

  private onMessage(message: FromWorker): void {
    if (message.type === 'loaded') return this.onLoaded(message);
    if (message.type === 'priority') return this.onPriority(message);
    const bridge = this.calls.get(message.callId);
    if (!bridge) return;
    switch (message.type) {
      case 'sink':
        return bridge.deliver(message.event);
      case 'started':
        return bridge.started();
      case 'startFailed':
        return bridge.startFailed(message.message);
      case 'crashed':
        this.log.error('a hosted agent threw; ending its call', { callSid: bridge.callSid, agent: bridge.kind, error: message.message });
        return bridge.fail(new Error(`the ${bridge.kind} agent failed: ${message.message}`));
      case 'closed':
        return bridge.closed(message.droppedFrames);
    }
  }

  /** A worker that kept the media thread's priority still works; the operator learns why it could not yield. */
  private onPriority({ nice, ok, reason }: Extract<FromWorker, { type: 'priority' }>): void {
    if (ok) this.log.debug('an agent worker thread yields the CPU to the media thread', { nice });
    else this.log.warn('could not lower an agent worker thread\'s priority (AGENT_WORKER_NICE); it competes with the media thread', { nice, reason });
  }

  private onLoaded({ module, export: name, error }: Extract<FromWorker, { type: 'loaded' }>): void {
    const key = `${module}#${name}`;
    const waiting = this.loading.get(key);
    this.loading.delete(key);
    if (error) waiting?.reject(new Error(error));
    else waiting?.resolve();
  }

  private failAll(code: number): void {
    const why = this.lastError?.message ?? `exit code ${code}`;
    for (const waiting of this.loading.values()) waiting.reject(new Error(`the agent worker stopped before it loaded the agent (${why})`));
    this.loading.clear();
    if (this.calls.size > 0) this.log.error('an agent worker stopped; ending its calls', { threadId: this.thread.threadId, calls: this.calls.size, error: why });
    const err = new Error(`the agent worker stopped (${why})`);
    for (const bridge of [...this.calls.values()]) {
      bridge.fail(err);
      this.reportDrops(bridge);
    }
    this.calls.clear();
  }

  /**
   * Once per call, at its end: the caller audio its agent never got, because this worker fell a
   * whole ring behind (`agent_worker/frames_dropped`) or because the agent itself did (its own
   * input queue full: `agent/frames_dropped`).
   */
  private reportDrops(bridge: WorkerBridge): void {
    const ids = { callSid: bridge.callSid, streamSid: bridge.streamSid };
    const ring = bridge.droppedFrames;
    if (ring > 0) {
      this.telemetry?.record('agent_worker', 'frames_dropped', { ...ids, frames: ring });
      this.log.warn('the agent worker fell a whole ring behind; caller frames dropped', { ...ids, agent: bridge.kind, frames: ring });
    }
    const agent = bridge.agentDroppedFrames;
    if (agent > 0) {
      this.telemetry?.record('agent', 'frames_dropped', { ...ids, agent: bridge.kind, frames: agent });
      this.log.warn('the agent fell behind the caller\'s audio; caller frames dropped', { ...ids, agent: bridge.kind, frames: agent });
    }
  }
}

/**
 * Under tsx, a worker does not load a .ts entry even with tsx's flags inherited (Node 20 applies
 * `--import` hooks after a worker's entry is resolved), so the entry registers tsx itself and
 * then imports the host. A compiled build starts host.js directly.
 */
function workerEntry(): { entry: URL | string; eval: boolean } {
  if (!HOST_ENTRY.pathname.endsWith('.ts')) return { entry: HOST_ENTRY, eval: false };
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const host = JSON.stringify(HOST_ENTRY.href);
  return { entry: `import(${tsx}).then((tsx) => { tsx.register(); return import(${host}); });`, eval: true };
}

export class AgentWorkerPool {
  private readonly slots: Array<AgentWorker | undefined>;
  /** Agents hosted so far: every new worker loads their code at spawn. */
  private readonly kinds: HostedAgentKind[] = [];
  private closing = false;

  constructor(private readonly options: AgentWorkerPoolOptions) {
    this.slots = new Array<AgentWorker | undefined>(Math.max(0, options.size)).fill(undefined);
  }

  get size(): number {
    return this.slots.length;
  }

  /** The worker threads running now (tests watch them exit). */
  threads(): Worker[] {
    return this.slots.flatMap((w) => (w ? [w.thread] : []));
  }

  /** Caller frames the running workers lost by falling a whole ring behind (none while they keep up). */
  droppedFrames(): number {
    return this.slots.reduce((sum, w) => sum + (w?.droppedFrames ?? 0), 0);
  }

  /** Calls per running worker, in slot order. */
  loads(): number[] {
    return this.slots.flatMap((w) => (w ? [w.load] : []));
  }

  /**
   * A factory for `kind`: its bridges run in the pool's workers, or in-process when the pool has
   * none (AGENT_WORKERS=0); then the module is imported here, once.
   */
  async factoryFor(kind: HostedAgentKind): Promise<AgentFactory> {
    if (this.size === 0) {
      const found = ((await import(kind.module)) as Record<string, unknown>)[kind.export];
      if (typeof found !== 'function') throw new Error(`agent kind ${kind.name}: ${kind.module} has no function export ${kind.export}`);
      const build = found as HostedAgentFactory;
      return (call, sink) => build(call, sink, this.options.config);
    }
    for (let slot = 0; slot < this.slots.length; slot++) this.slots[slot] ??= this.spawn(slot);
    try {
      await Promise.all(this.slots.map((w) => w!.loadAgent(kind)));
    } catch (err) {
      // A start-up that fails leaves no thread behind.
      await this.close();
      throw new Error(`agent kind ${kind.name}: ${(err as Error).message}`);
    }
    this.kinds.push(kind);
    return (call, sink) => this.leastLoaded().host(kind, call, sink);
  }

  /** Asks every worker to close its bridges and exit; resolves once all have. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((w) => w?.shutdown()));
  }

  private leastLoaded(): AgentWorker {
    if (this.closing) throw new Error('the agent worker pool is closed');
    let best = 0;
    for (let i = 1; i < this.slots.length; i++) {
      if ((this.slots[i]?.load ?? 0) < (this.slots[best]?.load ?? 0)) best = i;
    }
    return (this.slots[best] ??= this.spawn(best));
  }

  private spawn(slot: number): AgentWorker {
    const setup: WorkerSetup = { config: this.options.config, ring: createAudioRing(this.options.ringSlots) };
    const bornAt = performance.now();
    const worker = new AgentWorker(setup, this.options.logger, this.options.telemetry, (dead, code) => {
      if (this.slots[slot] !== dead) return;
      this.slots[slot] = undefined;
      if (this.closing) return;
      const respawn = performance.now() - bornAt >= MIN_LIFETIME_FOR_RESPAWN_MS;
      this.options.logger.warn(respawn ? 'agent worker exited; starting a new one' : 'agent worker exited young; the next call starts a new one', { slot, code });
      if (respawn) this.slots[slot] = this.spawn(slot);
    });
    // A replacement loads what its predecessor had, before its first call needs it.
    for (const kind of this.kinds) void worker.loadAgent(kind).catch(() => undefined);
    this.options.logger.info('agent worker started', { slot, threadId: worker.thread.threadId });
    return worker;
  }
}
