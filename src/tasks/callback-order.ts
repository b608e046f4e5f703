// Twilio numbers each call's progress callbacks (SequenceNumber from 0) but may deliver them out
// of order. This puts one call's callbacks back in order: a callback that arrives early waits
// for the ones before it, for at most `holdMs` (a callback Twilio never delivers must not stall
// the task), then everything held is released in sequence order.

export interface Sequenced {
  sequenceNumber: number | undefined;
}

interface CallOrder<T> {
  /** The sequence number expected next. */
  next: number;
  held: Map<number, T>;
  timer: NodeJS.Timeout | undefined;
  release: (item: T) => void;
}

export class CallbackOrder<T extends Sequenced> {
  private readonly calls = new Map<string, CallOrder<T>>();

  constructor(
    private readonly holdMs: number,
    /** Told about callbacks dropped as older than one already released (duplicates, late ones). */
    private readonly onStale: (callSid: string, item: T) => void = () => undefined,
  ) {}

  /**
   * Passes `item` to `release` now, later (after the ones before it), or never (it is older than
   * one already released). Items without a sequence number are released at once.
   */
  accept(callSid: string, item: T, release: (item: T) => void): void {
    const seq = item.sequenceNumber;
    if (seq === undefined) return release(item);
    const order = this.orderFor(callSid, release);
    if (seq < order.next) return this.onStale(callSid, item);
    order.held.set(seq, item);
    this.releaseInOrder(order);
    if (order.held.size > 0 && !order.timer) {
      order.timer = setTimeout(() => this.releaseAll(order), this.holdMs);
      order.timer.unref();
    }
  }

  /** Drops a finished call's state. */
  forget(callSid: string): void {
    clearTimeout(this.calls.get(callSid)?.timer);
    this.calls.delete(callSid);
  }

  close(): void {
    for (const order of this.calls.values()) clearTimeout(order.timer);
    this.calls.clear();
  }

  private orderFor(callSid: string, release: (item: T) => void): CallOrder<T> {
    let order = this.calls.get(callSid);
    if (!order) this.calls.set(callSid, (order = { next: 0, held: new Map(), timer: undefined, release }));
    order.release = release;
    return order;
  }

  private releaseInOrder(order: CallOrder<T>): void {
    for (let item = order.held.get(order.next); item !== undefined; item = order.held.get(order.next)) {
      order.held.delete(order.next);
      order.next++;
      order.release(item);
    }
    if (order.held.size === 0) {
      clearTimeout(order.timer);
      order.timer = undefined;
    }
  }

  /** The wait is over: what is held goes out in order, gaps and all. */
  private releaseAll(order: CallOrder<T>): void {
    order.timer = undefined;
    const seqs = [...order.held.keys()].sort((a, b) => a - b);
    for (const seq of seqs) {
      const item = order.held.get(seq)!;
      order.held.delete(seq);
      order.next = seq + 1;
      order.release(item);
    }
  }
}
