// The outbox's sender: claims due records one at a time, delivers each, and settles it (sent,
// failed for good, or due again after a backoff). It wakes at once when a record is enqueued
// here, at the next due time otherwise, and at least every POLL_MS (records enqueued by other
// processes, leases of senders that died). Closing stops a delivery in flight and makes its
// record due again at once: it is retried by the next run, never lost.
import { performance } from 'node:perf_hooks';
import type { Telemetry } from '../telemetry/events.js';
import type { Logger } from '../telemetry/logger.js';
import { toError } from '../util/errors.js';
import { retryDelayMs, type RetryPolicy } from './backoff.js';
import type { ClaimedEntry, OutboxStore } from './outbox.js';
import type { DeliveryOutcome } from './service-client.js';

/** The longest the sender sleeps without looking at the outbox. */
const POLL_MS = 30_000;
/** After the store itself failed (a database that went away), look again this much later. */
const STORE_RETRY_MS = 5_000;
/** How far past the delivery timeout a claim's lease lasts: a sender that died leaves its record due again after that. */
const LEASE_MARGIN_MS = 30_000;

export interface OutboxSenderDeps {
  store: OutboxStore;
  deliver: (entry: ClaimedEntry, stop: AbortSignal) => Promise<DeliveryOutcome>;
  retry: RetryPolicy;
  /** Bounds a delivery; the claim's lease outlasts it. */
  deliveryTimeoutMs: number;
  logger: Logger;
  /** Each attempt as a `persistence` event (delivered, retry, refused) with its duration. */
  telemetry: Telemetry;
  now?: () => number;
}

export class OutboxSender {
  private readonly stop = new AbortController();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private wokenWhileRunning = false;
  private started = false;

  constructor(private readonly deps: OutboxSenderDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.started = true;
    this.wake();
  }

  /** Looks at the outbox now (a record was just enqueued); a no-op before start and after close. */
  wake(): void {
    if (!this.started || this.stop.signal.aborted) return;
    if (this.running) {
      this.wokenWhileRunning = true;
      return;
    }
    clearTimeout(this.timer);
    // sleep() reads the store too: its failure is caught here as well, or it would be an unhandled rejection.
    this.running = this.sendDue()
      .then(() => this.sleep())
      .catch((err) => {
        this.deps.logger.error('the persistence outbox could not be read; trying again shortly', { error: toError(err).message });
        this.schedule(STORE_RETRY_MS);
      })
      .finally(() => {
        this.running = undefined;
        if (this.wokenWhileRunning) {
          this.wokenWhileRunning = false;
          this.wake();
        }
      });
  }

  /** Stops: a delivery in flight is aborted and its record left due; resolves once nothing runs. */
  async close(): Promise<void> {
    this.stop.abort();
    clearTimeout(this.timer);
    await this.running;
    clearTimeout(this.timer);
  }

  private async sendDue(): Promise<void> {
    const leaseMs = this.deps.deliveryTimeoutMs + LEASE_MARGIN_MS;
    while (!this.stop.signal.aborted) {
      this.wokenWhileRunning = false;
      const entry = await this.deps.store.claimDue(leaseMs);
      if (entry === undefined) return;
      await this.sendOne(entry);
    }
  }

  private async sendOne(entry: ClaimedEntry): Promise<void> {
    const began = performance.now();
    const outcome = await this.deps.deliver(entry, this.stop.signal);
    const about = { kind: entry.kind, id: entry.key, attempt: entry.attempt, status: outcome.status };
    const { logger, store } = this.deps;
    this.deps.telemetry.record('persistence', outcome.result, { ...about, durationMs: performance.now() - began });
    let held: boolean;
    if (outcome.result === 'delivered') {
      held = await store.markSent(entry);
      logger.info('delivered a record to the persistence service', about);
    } else if (outcome.result === 'rejected') {
      held = await store.markFailed(entry, outcome);
      logger.error('the persistence service refused a record; it is kept as failed and not retried', { ...about, error: outcome.error });
    } else if (this.stop.signal.aborted) {
      // Closing: the next run (or another process) sends it, as soon as it looks.
      held = await store.retryAt(entry, this.now(), outcome);
      logger.info('left a record to the next run: the gateway is closing', about);
    } else {
      const delayMs = retryDelayMs(entry.attempt, this.deps.retry);
      held = await store.retryAt(entry, this.now() + delayMs, outcome);
      logger.warn('could not deliver a record to the persistence service; will retry', { ...about, error: outcome.error, retryInMs: delayMs });
    }
    // The lease ran out mid-delivery and another sender took the record: it settles it.
    if (!held) logger.warn('a record\'s claim ran out before its delivery settled; its new holder settles it', about);
  }

  /** Sleeps until the next record is due (at most POLL_MS). */
  private async sleep(): Promise<void> {
    if (this.stop.signal.aborted) return;
    const next = await this.deps.store.nextDueAt();
    this.schedule(next === undefined ? POLL_MS : Math.min(Math.max(next - this.now(), 0), POLL_MS));
  }

  private schedule(delayMs: number): void {
    if (this.stop.signal.aborted) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), delayMs);
    // A pending retry never keeps a process alive on its own.
    this.timer.unref();
  }
}
