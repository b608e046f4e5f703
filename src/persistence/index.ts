// The persistence service, put together: when DJANGO_BASE_URL is set, finished phone calls (via
// CallHooks) and finished room sessions (via onSessionEnded) are queued in the durable outbox and
// delivered by its sender; new room sessions ask the service first (the gatekeeper). Unset, none
// of it exists and nothing is queued.
import type { CallContext } from '../agents/bridge.js';
import type { CallHooks, CallSummary } from '../call/call-types.js';
import type { Config, PersistenceConfig } from '../config.js';
import { describeServiceUrl } from '../config/persistence.js';
import type { Logger } from '../telemetry/logger.js';
import { toError } from '../util/errors.js';
import { openOutbox } from './open-outbox.js';
import type { NewOutboxEntry, OutboxStore, OutboxStoreOptions } from './outbox.js';
import { callRecord, partiesOf, sessionRecord, type CallParties, type FinishedRoomSession } from './records.js';
import { OutboxSender } from './sender.js';
import { PersistenceClient } from './service-client.js';

export type { FinishedRoomSession } from './records.js';

/** The seam POST /session asks before it starts a session (rooms service). */
export interface SessionGatekeeper {
  mayStart(request: { sessionId: string; room: string; identity?: string; metadata?: unknown }): Promise<'allowed' | 'denied' | 'unreachable'>;
}

export interface Persistence {
  /** Register among the gateway's call hooks: each finished call is queued. */
  readonly callHooks: CallHooks;
  readonly gatekeeper: SessionGatekeeper;
  /** Queues a finished room session; resolves once it is stored (never rejects: a failure is logged). */
  onSessionEnded(session: FinishedRoomSession): Promise<void>;
  /** Starts delivering (the gateway does it once it listens). */
  start(): void;
  /** Waits for records being queued, stops the sender (a delivery in flight is left due), closes the outbox. */
  close(): Promise<void>;
}

export interface PersistenceDeps {
  logger: Logger;
  /** The agent kind calls are answered by, for the call records. */
  agent: string;
  /** An outbox already open (tests); by default opened beside the tasks. Closed with the rest. */
  outbox?: OutboxStore;
  now?: () => number;
}

/** Undefined when DJANGO_BASE_URL is not set: then nothing is queued or sent. */
export async function openPersistence(
  config: Pick<Config, 'persistence' | 'databaseUrl' | 'dataDir'>,
  deps: PersistenceDeps,
): Promise<Persistence | undefined> {
  if (config.persistence === undefined) return undefined;
  const options: OutboxStoreOptions = deps.now ? { now: deps.now } : {};
  const outbox = deps.outbox ?? (await openOutbox(config, deps.logger, options));
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
      now: deps.now,
    });
    this.callHooks = new CallRecordHooks((summary, parties) => {
      const record = callRecord(summary, parties, deps.agent);
      if (record !== undefined) void this.enqueue({ kind: 'call', recordId: record.call_id, body: JSON.stringify(record) });
    });
    this.gatekeeper = new HttpSessionGatekeeper(client, deps.logger);
  }

  onSessionEnded(session: FinishedRoomSession): Promise<void> {
    return this.enqueue({ kind: 'session', recordId: session.sessionId, body: JSON.stringify(sessionRecord(session)) });
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
    const about = { kind: entry.kind, id: `${entry.kind}:${entry.recordId}` };
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

/** Remembers each live call's parties from its start, and hands them over with its summary at the end. */
class CallRecordHooks implements CallHooks {
  private readonly parties = new Map<string, CallParties>();

  constructor(private readonly finished: (summary: CallSummary, parties: CallParties | undefined) => void) {}

  started(call: CallContext): void {
    this.parties.set(call.streamSid, partiesOf(call));
  }

  ended(summary: CallSummary): void {
    const parties = summary.streamSid === undefined ? undefined : this.parties.get(summary.streamSid);
    if (summary.streamSid !== undefined) this.parties.delete(summary.streamSid);
    this.finished(summary, parties);
  }
}

/** Asks the service; its verdict in time, or `unreachable` (POST /session then answers 502). */
class HttpSessionGatekeeper implements SessionGatekeeper {
  constructor(
    private readonly client: PersistenceClient,
    private readonly logger: Logger,
  ) {}

  async mayStart(request: { sessionId: string; room: string; identity?: string; metadata?: unknown }): Promise<'allowed' | 'denied' | 'unreachable'> {
    const outcome = await this.client.validate({
      session_id: request.sessionId,
      room: request.room,
      identity: request.identity ?? null,
      metadata: request.metadata ?? null,
    });
    const about = { sessionId: request.sessionId, room: request.room };
    if (outcome.verdict === 'denied') this.logger.info('the persistence service refused a session', { ...about, reason: outcome.reason });
    if (outcome.verdict === 'unreachable') this.logger.warn('the persistence service did not validate a session in time', { ...about, status: outcome.status, error: outcome.error });
    return outcome.verdict;
  }
}
