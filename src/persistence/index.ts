// The persistence service, put together: when DJANGO_BASE_URL is set, finished phone calls (via
// CallHooks) and finished room sessions (via onSessionEnded) are queued in the durable outbox and
// delivered by its sender; new room sessions ask the service first (the gatekeeper). Unset, none
// of it exists and nothing is queued.
import type { CallHooks } from '../call/call-types.js';
import type { Call } from '../calls/model.js';
import type { Config, PersistenceConfig } from '../config.js';
import { describeServiceUrl } from '../config/persistence.js';
import type { Telemetry } from '../telemetry/events.js';
import type { Logger } from '../telemetry/logger.js';
import { toError } from '../util/errors.js';
import { openOutbox } from './open-outbox.js';
import { idempotencyKey, type NewOutboxEntry, type OutboxStore } from './outbox.js';
import { CallRecordHooks } from './call-hooks.js';
import { HttpSessionGatekeeper, type SessionGatekeeper } from './gatekeeper.js';
import { callRecord, sessionRecord, storedCallRecord, type FinishedRoomSession } from './records.js';
import { OutboxSender } from './sender.js';
import { PersistenceClient } from './service-client.js';

export { finishedRoomSession, type FinishedRoomSession } from './records.js';
export type { SessionGatekeeper } from './gatekeeper.js';

export interface Persistence {
  /** Register among the gateway's call hooks: each finished call is queued. */
  readonly callHooks: CallHooks;
  readonly gatekeeper: SessionGatekeeper;
  /**
   * Queues a call ended without its process (a crash: calls/restart-settle.ts) from its stored
   * form; resolves once stored (never rejects). Queued already by its process, it stays as first queued.
   */
  onCallSettled(call: Call): Promise<void>;
  /** Queues a finished room session; resolves once it is stored (never rejects: a failure is logged). */
  onSessionEnded(session: FinishedRoomSession): Promise<void>;
  /** Starts delivering (the gateway does it once it listens). */
  start(): void;
  /** Waits for records being queued, stops the sender (a delivery in flight is left due), closes the outbox. */
  close(): Promise<void>;
}

export interface PersistenceDeps {
  logger: Logger;
  telemetry: Telemetry;
  /** The agent kind calls are answered by, for the call records. */
  agent: string;
}

/** Undefined when DJANGO_BASE_URL is not set: then nothing is queued or sent. */
export async function openPersistence(
  config: Pick<Config, 'persistence' | 'databaseUrl' | 'dataDir'>,
  deps: PersistenceDeps,
): Promise<Persistence | undefined> {
  if (config.persistence === undefined) return undefined;
  const outbox = await openOutbox(config, deps.logger);
  deps.logger.info('finished calls and sessions go to the persistence service', { service: describeServiceUrl(config.persistence.baseUrl) });
  return new PersistenceService(config.persistence, outbox, deps);
}

class PersistenceService implements Persistence {
  readonly callHooks: CallHooks;
  readonly gatekeeper: SessionGatekeeper;
  private readonly sender: OutboxSender;
  /** Enqueues not yet stored: close waits for them, so a call that ends during shutdown is kept. */
  private readonly queuing = new Set<Promise<void>>();

  constructor(
    config: PersistenceConfig,
    private readonly outbox: OutboxStore,
    private readonly deps: PersistenceDeps,
  ) {
    const client = new PersistenceClient(config);
    this.sender = new OutboxSender({
      store: outbox,
      deliver: (entry, stop) => client.deliver(entry, stop),
      retry: { minMs: config.retryMinMs, maxMs: config.retryMaxMs },
      deliveryTimeoutMs: config.ingestTimeoutMs,
      logger: deps.logger,
      telemetry: deps.telemetry,
    });
    this.callHooks = new CallRecordHooks((summary, parties) => {
      const record = callRecord(summary, parties, deps.agent);
      if (record !== undefined) void this.enqueue({ kind: 'call', recordId: record.call_id, body: JSON.stringify(record) });
    });
    this.gatekeeper = new HttpSessionGatekeeper(client, deps.logger);
  }

  async onCallSettled(call: Call): Promise<void> {
    const record = storedCallRecord(call);
    if (record === undefined) return;
    await this.enqueue({ kind: 'call', recordId: record.call_id, body: JSON.stringify(record) });
  }

  async onSessionEnded(session: FinishedRoomSession): Promise<void> {
    let body: string;
    try {
      body = JSON.stringify(sessionRecord(session));
    } catch (err) {
      this.deps.logger.error('could not make a record of a finished session: it will not be sent', { sessionId: session.sessionId, error: toError(err).message });
      return;
    }
    await this.enqueue({ kind: 'session', recordId: session.sessionId, body });
  }

  start(): void {
    this.sender.start();
  }

  async close(): Promise<void> {
    await Promise.all(this.queuing);
    await this.sender.close();
    await this.outbox.close();
  }

  private enqueue(entry: NewOutboxEntry): Promise<void> {
    const about = { kind: entry.kind, id: idempotencyKey(entry.kind, entry.recordId) };
    const queued = this.outbox.enqueue(entry).then(
      (added) => {
        if (added) this.sender.wake();
        else this.deps.logger.info('a record was already queued for the persistence service; kept the first', about);
      },
      (err) => void this.deps.logger.error('could not queue a record for the persistence service: it will not be sent', { ...about, error: toError(err).message }),
    );
    const tracked = queued.finally(() => this.queuing.delete(tracked));
    this.queuing.add(tracked);
    return tracked;
  }
}
