// A stand-in for node:cluster's IPC between the primary and a set of workers, in one process: each
// link carries messages both ways asynchronously, in order, as copies (as the real channel
// serializes them), so the fleet's relay and channels run unchanged and a test can cut a link as
// a dying worker would.
import { EventEmitter } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { IpcPort } from '../../src/cluster/ipc.js';
import { ClusterChannel } from '../../src/fleet/cluster-channel.js';
import { FleetRelay } from '../../src/cluster/relay.js';

export interface IpcLink {
  /** The worker's end (`process` in a real worker). */
  worker: IpcPort;
  /** The primary's end (a cluster.Worker). */
  primary: IpcPort;
  /** The link breaks: nothing more goes either way. */
  cut(): void;
}

export function ipcLink(): IpcLink {
  const toWorker = new EventEmitter();
  const toPrimary = new EventEmitter();
  let open = true;
  const end = (inbox: EventEmitter, outbox: EventEmitter): IpcPort => ({
    send(message) {
      if (!open) return false;
      const copy: unknown = JSON.parse(JSON.stringify(message));
      setImmediate(() => open && outbox.emit('message', copy));
      return true;
    },
    on: (event, listener) => inbox.on(event, listener),
    off: (event, listener) => inbox.off(event, listener),
  });
  return { worker: end(toWorker, toPrimary), primary: end(toPrimary, toWorker), cut: () => void (open = false) };
}

export interface TestFleet {
  relay: FleetRelay;
  channels: ClusterChannel[];
  links: IpcLink[];
  /** A worker dies: its link is cut and the primary hears it exited. */
  kill(index: number): void;
  close(): void;
}

/** `size` workers, all ready and each knowing every member, as after the primary forked them. */
export async function startTestFleet(size: number): Promise<TestFleet> {
  const relay = new FleetRelay();
  const links: IpcLink[] = [];
  const channels: ClusterChannel[] = [];
  for (let i = 1; i <= size; i++) {
    const link = ipcLink();
    relay.attach(`worker-${i}`, link.primary);
    channels.push(new ClusterChannel({ memberId: `worker-${i}`, port: link.worker }));
    links.push(link);
    link.worker.send({ fleet: 'ready' });
  }
  while (!channels.every((c) => c.members().length === size)) await nextTurn();
  return {
    relay,
    channels,
    links,
    kill(index) {
      links[index]!.cut();
      relay.detach(`worker-${index + 1}`);
    },
    close() {
      for (const channel of channels) channel.close();
    },
  };
}

/** Lets every message in flight arrive (each hop is one turn of the event loop). */
export async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await nextTurn();
}
