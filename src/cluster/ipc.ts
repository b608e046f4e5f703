// The messages between the cluster's primary and its workers, over node:cluster's IPC channel.
// Node's own cluster messages carry `cmd`; ours carry `fleet`, so neither side mistakes the other's.

/** What a worker tells the primary. */
export type WorkerMessage =
  /** Relay this to every worker (the sender included), in the order the primary receives them. */
  | { fleet: 'publish'; topic: string; payload: unknown }
  /** Listening, and done with what runs at start: count this worker as a member of the fleet. */
  | { fleet: 'ready' };

/** What the primary tells a worker. */
export type PrimaryMessage =
  | { fleet: 'deliver'; topic: string; payload: unknown; from: string }
  /** The members alive now, sorted; sent to every worker whenever the set changes. */
  | { fleet: 'members'; members: string[] }
  /** Refuse new streams, let calls finish up to DRAIN_TIMEOUT_S, then exit 0. */
  | { fleet: 'drain' };

/** Either end of one IPC link: `process` in a worker, a cluster.Worker in the primary. */
export interface IpcPort {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/** One of ours (it carries `fleet`), not one of node:cluster's own (`cmd`). Each end knows which way it flows. */
export function isFleetMessage<T extends WorkerMessage | PrimaryMessage>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { fleet?: unknown }).fleet === 'string';
}

/** A worker's member id, from node:cluster's worker id (never reused while the primary lives). */
export function memberIdOf(workerId: number): string {
  return `worker-${workerId}`;
}

/** Calls `onDrain` when the primary asks this worker to drain (a worker whose fleet is on PostgreSQL hears only that). */
export function onPrimaryDrain(port: IpcPort, onDrain: () => void): void {
  port.on('message', (message) => {
    if (isFleetMessage<PrimaryMessage>(message) && message.fleet === 'drain') onDrain();
  });
}
