// The primary's half of the fleet channel: one sequencer for the whole machine. Every message a
// worker publishes is sent on to every connected worker, the sender included, in the order the
// primary received it; since each IPC link keeps order, every worker sees one and the same order,
// and each message once. The primary also keeps the member list (workers that said they are
// ready) and tells every worker when it changes.
import { isFleetMessage, type IpcPort, type PrimaryMessage, type WorkerMessage } from './ipc.js';

interface Link {
  port: IpcPort;
  ready: boolean;
  listener: (message: unknown) => void;
}

export class FleetRelay {
  private readonly links = new Map<string, Link>();

  constructor(private readonly onReady: (memberId: string) => void = () => undefined) {}

  /** Starts relaying for a worker as soon as it is forked: its publishes during start are relayed too. */
  attach(memberId: string, port: IpcPort): void {
    const listener = (message: unknown) => {
      if (isFleetMessage<WorkerMessage>(message)) this.receive(memberId, message);
    };
    port.on('message', listener);
    this.links.set(memberId, { port, ready: false, listener });
  }

  /** A worker that exited: it is no longer sent anything, and the others hear it left. */
  detach(memberId: string): void {
    const link = this.links.get(memberId);
    if (!link) return;
    link.port.off('message', link.listener);
    this.links.delete(memberId);
    if (link.ready) this.announceMembers();
  }

  members(): string[] {
    return [...this.links].filter(([, link]) => link.ready).map(([id]) => id).sort();
  }

  /** Sends to every connected worker. */
  broadcast(message: PrimaryMessage): void {
    for (const [, link] of this.links) safeSend(link.port, message);
  }

  private receive(from: string, message: WorkerMessage): void {
    switch (message.fleet) {
      case 'publish':
        return this.broadcast({ fleet: 'deliver', topic: message.topic, payload: message.payload, from });
      case 'ready': {
        const link = this.links.get(from);
        if (!link || link.ready) return;
        link.ready = true;
        this.announceMembers();
        this.onReady(from);
        return;
      }
    }
  }

  private announceMembers(): void {
    this.broadcast({ fleet: 'members', members: this.members() });
  }
}

/** A worker whose link just closed cannot be sent to; its exit event follows and detaches it. */
function safeSend(port: IpcPort, message: PrimaryMessage): void {
  try {
    port.send(message);
  } catch {
    // ERR_IPC_CHANNEL_CLOSED: the worker is exiting.
  }
}
