// Messages between the members of a fleet: the worker processes of one machine today, instances
// sharing PostgreSQL (LISTEN/NOTIFY) later. Every implementation promises the same three things,
// which the live bus, fleet requests and callback routing rely on:
//   - a published message reaches every member, the sender included;
//   - every member sees all messages in one and the same order (one sequencer per fleet);
//   - no member sees a message twice.
// Payloads are plain JSON values: they may cross a process or a database.

/** A handler gets the payload and the id of the member that published it. */
export type FleetHandler<T = unknown> = (payload: T, from: string) => void;

/** Called with the ids of the members alive now (this one included), whenever that set changes. */
export type MembersHandler = (members: readonly string[]) => void;

export interface FleetChannel {
  /** This member's id, unique in the fleet, e.g. `worker-2`. */
  readonly memberId: string;
  /** The members alive now, this one included, sorted, so every member sees the same list. */
  members(): readonly string[];
  /** Hears of members joining and leaving (a dead worker's pending replies are given up on). */
  watchMembers(handler: MembersHandler): () => void;
  /** Sends to every member, this one included; never throws (a message after close() is dropped). */
  publish(topic: string, payload: unknown): void;
  /** Returns the unsubscribe function; calling it twice is harmless. */
  subscribe<T = unknown>(topic: string, handler: FleetHandler<T>): () => void;
  /** Stops delivery and leaves the fleet; later publishes are dropped. */
  close(): void | Promise<void>;
}

/**
 * Handlers per topic, shared by the implementations. A throwing handler is reported and the
 * others still run: one bad subscriber must not starve the rest.
 */
export class TopicHandlers {
  private readonly byTopic = new Map<string, Set<FleetHandler>>();

  constructor(private readonly onHandlerError: (topic: string, error: Error) => void) {}

  add(topic: string, handler: FleetHandler): () => void {
    let set = this.byTopic.get(topic);
    if (!set) this.byTopic.set(topic, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0 && this.byTopic.get(topic) === set) this.byTopic.delete(topic);
    };
  }

  deliver(topic: string, payload: unknown, from: string): void {
    const set = this.byTopic.get(topic);
    if (!set) return;
    // A copy: a handler may unsubscribe itself mid-loop.
    for (const handler of [...set]) {
      try {
        handler(payload, from);
      } catch (err) {
        this.onHandlerError(topic, err as Error);
      }
    }
  }

  clear(): void {
    this.byTopic.clear();
  }
}

/**
 * A fleet of one process: delivery is synchronous, inside publish(), so a single gateway behaves
 * exactly as it did before there were fleets and pays nothing for them.
 */
export class LocalChannel implements FleetChannel {
  readonly memberId: string;
  private readonly handlers: TopicHandlers;
  private closed = false;

  constructor(options: { memberId?: string; onHandlerError?: (topic: string, error: Error) => void } = {}) {
    this.memberId = options.memberId ?? `pid-${process.pid}`;
    this.handlers = new TopicHandlers(options.onHandlerError ?? (() => undefined));
  }

  members(): readonly string[] {
    return [this.memberId];
  }

  watchMembers(): () => void {
    // One member, for as long as it lives: the set never changes.
    return () => undefined;
  }

  publish(topic: string, payload: unknown): void {
    if (!this.closed) this.handlers.deliver(topic, payload, this.memberId);
  }

  subscribe<T = unknown>(topic: string, handler: FleetHandler<T>): () => void {
    return this.handlers.add(topic, handler as FleetHandler);
  }

  close(): void {
    this.closed = true;
    this.handlers.clear();
  }
}
