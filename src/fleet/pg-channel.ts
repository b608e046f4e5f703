// The fleet channel of instances sharing one PostgreSQL (DATABASE_URL): LISTEN/NOTIFY.
//
// Order: PostgreSQL delivers notifications to every listener in the order their transactions
// committed, so every member sees one order; each member publishes on one connection, so its own
// messages keep the order it published them in. A payload too big for NOTIFY (under 8000 bytes)
// is written to `fleet_messages` and the notification carries the row id; receivers fetch such
// rows in turn, so a big message never overtakes a small one.
//
// Members: each holds a session advisory lock keyed by its row in `fleet_members` on its listening
// connection. A member that exits or crashes loses its connection and with it the lock, so the
// members are exactly the rows whose lock is held, checked when one says it joined or left and
// every few seconds for the ones that could not say so.
//
// Limit: a notification sent while a member's listening connection is down is not delivered to it
// (LISTEN/NOTIFY keeps no backlog); a lost connection is reported, and the member should restart.
import { hostname } from 'node:os';
import pg from 'pg';
import { TopicHandlers, type FleetChannel, type FleetHandler, type MembersHandler } from './channel.js';

export interface PgChannelOptions {
  /** Unique in the fleet; default `<hostname>-<pid>`. */
  memberId?: string;
  /** A subscriber threw, or a message could not be sent or read; the channel goes on. */
  onError?: (what: string, error: Error) => void;
  /** How often members are re-checked for ones that died without a word (default 5 s). */
  membersPollMs?: number;
}

const CHANNEL = 'gateway_fleet';
/** NOTIFY refuses a payload of 8000 bytes or more; the envelope around it needs some room. */
const MAX_INLINE_BYTES = 7000;
/** Marks a notification that carries a fleet_messages row id instead of the message. */
const BY_REFERENCE = '#';
/** Not a user topic: someone joined or left, so every member re-reads the members. */
const MEMBERS_CHANGED = '\u0000members';
/** The first key of the members' advisory locks (the second is their fleet_members key): "flt". */
const LOCK_SPACE = 0x666c74;
/** Big messages are kept this long, for members slow to fetch them, then deleted. */
const KEEP_MESSAGES_MS = 5 * 60_000;

/** The members whose advisory lock is held, i.e. whose listening connection is alive. */
const LIVE_MEMBERS = `SELECT m.member_id FROM fleet_members m
  JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
    AND l.classid::bigint = $1 AND l.objid::bigint = m.key
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  ORDER BY m.member_id`;

interface Envelope {
  t: string;
  f: string;
  p: unknown;
}

export async function openPgChannel(url: string, options: PgChannelOptions = {}): Promise<PgChannel> {
  const memberId = options.memberId ?? `${hostname()}-${process.pid}`;
  const client = () => new pg.Client({ connectionString: url, application_name: `telephony-gateway fleet ${memberId}`, keepAlive: true });
  const listener = client();
  const publisher = client();
  try {
    await Promise.all([listener.connect(), publisher.connect()]);
    await createTables(publisher);
    const { rows } = await publisher.query<{ key: number }>(
      `INSERT INTO fleet_members (member_id) VALUES ($1)
       ON CONFLICT (member_id) DO UPDATE SET member_id = EXCLUDED.member_id RETURNING key`,
      [memberId],
    );
    const locked = await listener.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LOCK_SPACE, rows[0]!.key]);
    if (!locked.rows[0]?.ok) throw new Error(`fleet member id "${memberId}" is already taken by a live member`);
    await listener.query(`LISTEN ${CHANNEL}`);
  } catch (error) {
    await Promise.allSettled([listener.end(), publisher.end()]);
    throw error;
  }
  const channel = new PgChannel(memberId, listener, publisher, options);
  await channel.start();
  return channel;
}

/** The channel's tables: transient (unlogged, outside the store's migrations), made once under a lock. */
async function createTables(client: pg.Client): Promise<void> {
  await client.query(`SELECT pg_advisory_lock(hashtext('telephony-gateway fleet tables'))`);
  try {
    await client.query(`CREATE UNLOGGED TABLE IF NOT EXISTS fleet_messages (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      body       text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
    await client.query(`CREATE TABLE IF NOT EXISTS fleet_members (
      key       integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      member_id text COLLATE "C" NOT NULL UNIQUE
    )`);
  } finally {
    await client.query(`SELECT pg_advisory_unlock(hashtext('telephony-gateway fleet tables'))`);
  }
}

export class PgChannel implements FleetChannel {
  private readonly handlers: TopicHandlers;
  private readonly memberWatchers = new Set<MembersHandler>();
  private current: readonly string[];
  private closed = false;
  /** Messages are handled one after another: a fetched big one holds back those behind it. */
  private inbox: Promise<void> = Promise.resolve();
  /** The publishing connection's queries, one at a time in call order (pg 9 drops its own queue). */
  private outbox: Promise<unknown> = Promise.resolve();
  private poll: NodeJS.Timeout | undefined;
  private prunedAt = 0;

  constructor(
    readonly memberId: string,
    private readonly listener: pg.Client,
    private readonly publisher: pg.Client,
    private readonly options: PgChannelOptions,
  ) {
    this.handlers = new TopicHandlers((topic, error) => this.report(`a subscriber of ${topic}`, error));
    this.current = [memberId];
    listener.on('notification', (message) => {
      if (message.channel === CHANNEL && message.payload !== undefined) this.enqueue(message.payload);
    });
    // A broken connection must not crash the process; the member is told and should restart.
    listener.on('error', (error) => this.report('the listening connection', error));
    publisher.on('error', (error) => this.report('the publishing connection', error));
  }

  /** Reads the members, tells the others this one joined, and starts the check for silent exits. */
  async start(): Promise<void> {
    await this.refreshMembers();
    this.send(MEMBERS_CHANGED, null);
    this.poll = setInterval(() => void this.refreshMembers(), this.options.membersPollMs ?? 5000);
    this.poll.unref();
  }

  members(): readonly string[] {
    return this.current;
  }

  watchMembers(handler: MembersHandler): () => void {
    this.memberWatchers.add(handler);
    return () => this.memberWatchers.delete(handler);
  }

  publish(topic: string, payload: unknown): void {
    if (!this.closed) this.send(topic, payload);
  }

  subscribe<T = unknown>(topic: string, handler: FleetHandler<T>): () => void {
    return this.handlers.add(topic, handler as FleetHandler);
  }

  /** Leaves the fleet: the lock goes with the listening connection, and the others are told. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.poll);
    this.handlers.clear();
    this.memberWatchers.clear();
    await this.listener.end().catch(() => undefined);
    this.send(MEMBERS_CHANGED, null);
    await this.outbox;
    await this.publisher.end().catch(() => undefined);
  }

  private send(topic: string, payload: unknown): void {
    let envelope: string;
    try {
      envelope = JSON.stringify({ t: topic, f: this.memberId, p: payload } satisfies Envelope);
    } catch (error) {
      return this.report(`a message on ${topic} (not JSON)`, error as Error);
    }
    const sent =
      Buffer.byteLength(envelope) <= MAX_INLINE_BYTES
        ? this.onPublisher((db) => db.query('SELECT pg_notify($1, $2)', [CHANNEL, envelope]))
        : this.sendByReference(envelope);
    sent.catch((error: Error) => this.report(`a message on ${topic}`, error));
  }

  /** The row and its notification commit together, in this connection's order. */
  private sendByReference(envelope: string): Promise<unknown> {
    const now = Date.now();
    if (now - this.prunedAt > KEEP_MESSAGES_MS / 5) {
      this.prunedAt = now;
      const prune = `DELETE FROM fleet_messages WHERE created_at < now() - $1 * interval '1 millisecond'`;
      this.onPublisher((db) => db.query(prune, [KEEP_MESSAGES_MS])).catch((error: Error) => this.report('pruning old messages', error));
    }
    const insertAndNotify = `WITH message AS (INSERT INTO fleet_messages (body) VALUES ($2) RETURNING id)
      SELECT pg_notify($1, $3 || id) FROM message`;
    return this.onPublisher((db) => db.query(insertAndNotify, [CHANNEL, envelope, BY_REFERENCE]));
  }

  private onPublisher<T>(work: (db: pg.Client) => Promise<T>): Promise<T> {
    const next = this.outbox.then(() => work(this.publisher));
    this.outbox = next.catch(() => undefined);
    return next;
  }

  private enqueue(text: string): void {
    this.inbox = this.inbox.then(() => this.receive(text)).catch((error: Error) => this.report('a received message', error));
  }

  private async receive(text: string): Promise<void> {
    const body = text.startsWith(BY_REFERENCE) ? await this.fetch(text.slice(BY_REFERENCE.length)) : text;
    if (body === undefined || this.closed) return;
    const { t: topic, f: from, p: payload } = JSON.parse(body) as Envelope;
    if (topic === MEMBERS_CHANGED) return this.refreshMembers();
    this.handlers.deliver(topic, payload, from);
  }

  private async fetch(id: string): Promise<string | undefined> {
    const { rows } = await this.listener.query<{ body: string }>('SELECT body FROM fleet_messages WHERE id = $1', [id]);
    if (!rows[0]) this.report(`message ${id}`, new Error('its row was already deleted'));
    return rows[0]?.body;
  }

  private async refreshMembers(): Promise<void> {
    if (this.closed) return;
    try {
      const { rows } = await this.onPublisher((db) => db.query<{ member_id: string }>(LIVE_MEMBERS, [LOCK_SPACE]));
      const ids = rows.map((r) => r.member_id);
      // Until its lock shows, a member is still one to itself.
      const members = ids.includes(this.memberId) ? ids : [...ids, this.memberId].sort();
      if (this.closed || sameMembers(members, this.current)) return;
      this.current = members;
      for (const watcher of [...this.memberWatchers]) watcher(members);
    } catch (error) {
      this.report('reading the members', error as Error);
    }
  }

  private report(what: string, error: Error): void {
    if (!this.closed) this.options.onError?.(what, error);
  }
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}
