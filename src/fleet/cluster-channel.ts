// The fleet channel of a cluster worker: publishing goes to the primary, which relays every
// message to every worker in the order it received them (src/cluster/relay.ts). The sender hears
// its own message only when the relay sends it back, so it sees the same order as everyone else.
import { isFleetMessage, type IpcPort, type PrimaryMessage } from '../cluster/ipc.js';
import { TopicHandlers, type FleetChannel, type FleetHandler, type MembersHandler } from './channel.js';

export interface ClusterChannelOptions {
  memberId: string;
  /** `process` in a cluster worker; tests give a stand-in that behaves like it. */
  port: IpcPort;
  onHandlerError?: (topic: string, error: Error) => void;
  /** The primary asked this worker to drain. */
  onDrain?: () => void;
}

export class ClusterChannel implements FleetChannel {
  readonly memberId: string;
  private readonly handlers: TopicHandlers;
  private readonly memberWatchers = new Set<MembersHandler>();
  private current: readonly string[];
  private closed = false;
  private readonly onMessage = (message: unknown) => this.receive(message);

  constructor(private readonly options: ClusterChannelOptions) {
    this.memberId = options.memberId;
    this.handlers = new TopicHandlers(options.onHandlerError ?? (() => undefined));
    // Until the primary says otherwise, this worker knows only of itself.
    this.current = [this.memberId];
    options.port.on('message', this.onMessage);
  }

  members(): readonly string[] {
    return this.current;
  }

  watchMembers(handler: MembersHandler): () => void {
    this.memberWatchers.add(handler);
    return () => this.memberWatchers.delete(handler);
  }

  publish(topic: string, payload: unknown): void {
    if (this.closed) return;
    try {
      this.options.port.send({ fleet: 'publish', topic, payload });
    } catch {
      // The primary is gone (the worker is about to be torn down): nobody is left to hear it.
    }
  }

  subscribe<T = unknown>(topic: string, handler: FleetHandler<T>): () => void {
    return this.handlers.add(topic, handler as FleetHandler);
  }

  close(): void {
    this.closed = true;
    this.options.port.off('message', this.onMessage);
    this.handlers.clear();
    this.memberWatchers.clear();
  }

  private receive(message: unknown): void {
    if (this.closed || !isFleetMessage<PrimaryMessage>(message)) return;
    switch (message.fleet) {
      case 'deliver':
        return this.handlers.deliver(message.topic, message.payload, message.from);
      case 'members': {
        // A worker that has not said it is ready is not listed yet, but it is still a member to itself.
        const { members } = message;
        this.current = members.includes(this.memberId) ? members : [...members, this.memberId].sort();
        for (const watcher of [...this.memberWatchers]) watcher(this.current);
        return;
      }
      case 'drain':
        return this.options.onDrain?.();
    }
  }
}
