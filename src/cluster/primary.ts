// WORKERS > 1: this process is node:cluster's primary. It serves no request itself: it forks the
// gateway workers that share the port (a call lives in the worker whose socket took it), relays
// the fleet channel between them, restarts a worker that dies, and on SIGTERM/SIGINT drains them
// all and exits 0.
//
// The first worker settles what the last run left (repaired recordings, tasks whose call died
// with it) before the others start, so that runs once per fleet and no worker can take a call
// while a half-settled store would judge it left over.
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config.js';
import { flushLogs, type Logger } from '../telemetry/logger.js';
import { memberIdOf, type IpcPort } from './ipc.js';
import { FleetRelay } from './relay.js';

/** node:cluster numbers workers from 1 in fork order, never reusing an id: the first forked is 1. */
export const SETTLING_WORKER_ID = 1;

/** A worker that dies this soon after it was forked is replaced after RESTART_DELAY_MS: a crash loop must not spin. */
const QUICK_DEATH_MS = 5000;
const RESTART_DELAY_MS = 1000;

export interface PrimaryOptions {
  config: Config;
  logger: Logger;
}

export function runPrimary({ config, logger }: PrimaryOptions): void {
  const relay = new FleetRelay((memberId) => onReady(memberId));
  const workers = new Set<Worker>();
  /** Workers that ever said they were ready: a worker that dies before is not restarted (it would fail again). */
  const everReady = new Set<number>();
  let stopping = false;
  /** Set when a worker failed to start: the primary then exits with its code. */
  let failure: number | undefined;

  const forkedAt = new Map<number, number>();
  const fork = (): void => {
    if (stopping) return;
    const worker = cluster.fork();
    forkedAt.set(worker.id, Date.now());
    workers.add(worker);
    relay.attach(memberIdOf(worker.id), ipcPortOf(worker));
    // A send to a worker whose link just closed reports here; its exit follows.
    worker.on('error', (err: Error) => logger.warn('a worker\'s IPC link failed', { worker: memberIdOf(worker.id), error: err.message }));
    worker.once('exit', (code, signal) => onExit(worker, code, signal));
  };

  const onReady = (memberId: string): void => {
    const worker = [...workers].find((w) => memberIdOf(w.id) === memberId);
    if (!worker || stopping) return;
    everReady.add(worker.id);
    logger.info('worker ready', { worker: memberId, pid: worker.process.pid, workers: relay.members().length });
    // The settling worker is ready: the rest of the fleet starts now.
    if (worker.id === SETTLING_WORKER_ID) for (let i = 1; i < config.workers; i++) fork();
  };

  const onExit = (worker: Worker, code: number | null, signal: string | null): void => {
    workers.delete(worker);
    relay.detach(memberIdOf(worker.id));
    if (stopping) {
      if (workers.size === 0) void finish(failure ?? 0);
      return;
    }
    const details = { worker: memberIdOf(worker.id), pid: worker.process.pid, exitCode: code, signal };
    if (!everReady.has(worker.id)) {
      // Failing at start (a taken port, a folder it cannot write): another fork would too.
      logger.error('a worker failed to start; stopping the gateway', details);
      stopping = true;
      failure = code !== null && code > 0 ? code : 1;
      for (const other of workers) other.kill('SIGKILL');
      if (workers.size === 0) void finish(failure);
      return;
    }
    logger.error('a worker died; starting another', details);
    const livedMs = Date.now() - (forkedAt.get(worker.id) ?? 0);
    forkedAt.delete(worker.id);
    if (livedMs < QUICK_DEATH_MS) setTimeout(fork, RESTART_DELAY_MS);
    else fork();
  };

  const finish = async (code: number): Promise<void> => {
    if (code === 0) logger.info('stopped');
    // Bounded: a stalled disk must not hold up the exit.
    await Promise.race([flushLogs(logger), new Promise((resolve) => setTimeout(resolve, 1000))]);
    process.exit(code);
  };

  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn(`${signal} again: stopping the workers now`);
      for (const worker of workers) worker.kill('SIGKILL');
      void finish(1);
      return;
    }
    stopping = true;
    logger.info(`${signal}: draining ${workers.size} workers; press Ctrl-C again (or send another signal) to exit now`, { timeoutS: config.drainTimeoutS });
    if (workers.size === 0) return void finish(0);
    relay.broadcast({ fleet: 'drain' });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  logger.info(`starting ${config.workers} gateway workers`, { workers: config.workers, agentWorkersEach: config.agentWorkers });
  fork();
}

/** A cluster.Worker as one end of the fleet's IPC: a send to a worker already gone is dropped. */
function ipcPortOf(worker: Worker): IpcPort {
  return {
    send: (message) => (worker.isConnected() ? worker.send(message as object) : false),
    on: (event, listener) => worker.on(event, listener),
    off: (event, listener) => worker.off(event, listener),
  };
}
