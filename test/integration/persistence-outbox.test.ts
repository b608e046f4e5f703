// The persistence outbox on both engines: one behaviour, run against SQLite files and a real
// PostgreSQL. Several stores opened on one place stand for several processes or instances.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import type { ClaimedEntry, OutboxStore } from '../../src/persistence/outbox.js';
import { openPgOutbox } from '../../src/persistence/pg-outbox.js';
import { openSqliteOutbox } from '../../src/persistence/sqlite-outbox.js';
import { freshDatabase } from '../helpers/postgres.js';

interface OutboxEngine {
  freshLocation(): Promise<string>;
  open(location: string, now: () => number): Promise<OutboxStore>;
  dispose?(location: string): void;
}

const LEASE_MS = 60_000;
const body = (id: string) => JSON.stringify({ call_id: id, transcript: [{ role: 'user', text: 'héllo "there"', at_ms: 1.5 }], z: 1, a: 2 });

function defineOutboxSuite(engine: OutboxEngine): void {
  let location: string;
  let opened: OutboxStore[];
  /** The one clock every store of a test reads: tests move it. */
  let clock: number;
  const open = async (): Promise<OutboxStore> => {
    const store = await engine.open(location, () => clock);
    opened.push(store);
    return store;
  };

  beforeEach(async () => {
    opened = [];
    clock = Date.parse('2026-12-03T11:00:00.000Z');
    location = await engine.freshLocation();
  });
  afterEach(async () => {
    await Promise.all(opened.map((s) => s.close()));
    engine.dispose?.(location);
  });

  it('enqueues a record once per key, keeping the first body byte for byte', async () => {
    const store = await open();
    expect(await store.enqueue({ kind: 'call', recordId: 'MZ1', body: body('MZ1') })).to.equal(true);
    expect(await store.enqueue({ kind: 'call', recordId: 'MZ1', body: '{"other":true}' })).to.equal(false);
    // The same id of another kind is another record.
    expect(await store.enqueue({ kind: 'session', recordId: 'MZ1', body: '{}' })).to.equal(true);
    const entry = await store.find('call', 'MZ1');
    expect(entry).to.deep.include({ kind: 'call', key: 'call:MZ1', body: body('MZ1'), state: 'pending', attempts: 0, nextAttemptAtMs: clock });
    expect(entry?.createdAt).to.equal('2026-12-03T11:00:00.000Z');
    expect(await store.find('session', 'MZ1')).to.deep.include({ key: 'session:MZ1', body: '{}' });
    expect(await store.find('call', 'MZ2')).to.equal(undefined);
  });

  it('gives a due record to exactly one of two senders claiming at once', async () => {
    const [a, b] = [await open(), await open()];
    await a.enqueue({ kind: 'call', recordId: 'MZ1', body: body('MZ1') });
    for (let round = 0; round < 5; round++) {
      const claims = await Promise.all([a.claimDue(LEASE_MS), b.claimDue(LEASE_MS)]);
      const taken = claims.filter((c): c is ClaimedEntry => c !== undefined);
      if (round === 0) {
        expect(taken).to.have.length(1);
        expect(taken[0]).to.deep.include({ kind: 'call', key: 'call:MZ1', body: body('MZ1'), attempt: 1 });
      } else {
        expect(taken, 'leased: nobody else may take it').to.have.length(0);
      }
    }
    expect(await a.find('call', 'MZ1')).to.deep.include({ attempts: 1, nextAttemptAtMs: clock + LEASE_MS });
  });

  it('hands out two due records to two concurrent senders, one each, oldest first', async () => {
    const [a, b] = [await open(), await open()];
    await a.enqueue({ kind: 'session', recordId: 's1', body: '{"n":1}' });
    clock += 1;
    await a.enqueue({ kind: 'session', recordId: 's2', body: '{"n":2}' });
    const claims = await Promise.all([a.claimDue(LEASE_MS), b.claimDue(LEASE_MS)]);
    expect(claims.map((c) => c?.key).sort()).to.deep.equal(['session:s1', 'session:s2']);
    expect(await a.claimDue(LEASE_MS)).to.equal(undefined);
  });

  it('lets two senders draining at once deliver every record exactly once between them', async () => {
    const [a, b] = [await open(), await open()];
    const ids = Array.from({ length: 20 }, (_, i) => `MZ${i}`);
    for (const id of ids) await a.enqueue({ kind: 'call', recordId: id, body: body(id) });
    const drain = async (store: OutboxStore): Promise<string[]> => {
      const keys: string[] = [];
      for (let claim = await store.claimDue(LEASE_MS); claim; claim = await store.claimDue(LEASE_MS)) {
        keys.push(claim.key);
        expect(await store.markSent(claim)).to.equal(true);
      }
      return keys;
    };
    const [byA, byB] = await Promise.all([drain(a), drain(b)]);
    expect([...byA, ...byB].sort()).to.deep.equal(ids.map((id) => `call:${id}`).sort());
  });

  it('keeps a record that failed until its retry time, counting the attempts', async () => {
    const store = await open();
    await store.enqueue({ kind: 'call', recordId: 'MZ1', body: body('MZ1') });
    const first = (await store.claimDue(LEASE_MS))!;
    expect(await store.retryAt(first, clock + 1000, { status: 503, error: 'HTTP 503: down' })).to.equal(true);
    expect(await store.find('call', 'MZ1')).to.deep.include({ state: 'pending', attempts: 1, lastStatus: 503, lastError: 'HTTP 503: down' });
    expect(await store.nextDueAt()).to.equal(clock + 1000);
    clock += 999;
    expect(await store.claimDue(LEASE_MS), 'not due yet').to.equal(undefined);
    clock += 1;
    const second = (await store.claimDue(LEASE_MS))!;
    expect(second.attempt).to.equal(2);
    expect(await store.retryAt(second, clock + 2000, { error: 'fetch failed: ECONNREFUSED' })).to.equal(true);
    const entry = await store.find('call', 'MZ1');
    expect(entry).to.deep.include({ attempts: 2, lastError: 'fetch failed: ECONNREFUSED' });
    expect(entry).not.to.have.property('lastStatus');
  });

  it('never hands out a sent record again', async () => {
    const store = await open();
    await store.enqueue({ kind: 'call', recordId: 'MZ1', body: body('MZ1') });
    const claim = (await store.claimDue(LEASE_MS))!;
    clock += 250;
    expect(await store.markSent(claim)).to.equal(true);
    expect(await store.find('call', 'MZ1')).to.deep.include({ state: 'sent', attempts: 1, sentAt: '2026-12-03T11:00:00.250Z' });
    clock += 10 * LEASE_MS;
    expect(await store.claimDue(LEASE_MS)).to.equal(undefined);
    expect(await store.nextDueAt()).to.equal(undefined);
    // Enqueuing the same finished call again changes nothing: it was delivered.
    expect(await store.enqueue({ kind: 'call', recordId: 'MZ1', body: body('MZ1') })).to.equal(false);
    expect(await store.find('call', 'MZ1')).to.deep.include({ state: 'sent' });
  });

  it('keeps a permanently refused record as failed, with its status and error, and never retries it', async () => {
    const store = await open();
    await store.enqueue({ kind: 'session', recordId: 's1', body: '{}' });
    const claim = (await store.claimDue(LEASE_MS))!;
    expect(await store.markFailed(claim, { status: 422, error: 'HTTP 422: ' + 'x'.repeat(2000) })).to.equal(true);
    const entry = (await store.find('session', 's1'))!;
    expect(entry).to.deep.include({ state: 'failed', lastStatus: 422, attempts: 1 });
    expect(entry.lastError!.length, 'the stored error is bounded').to.be.at.most(500);
    clock += 10 * LEASE_MS;
    expect(await store.claimDue(LEASE_MS)).to.equal(undefined);
  });

  it('lets another sender take a record whose claim ran out, and refuses the old claim afterwards', async () => {
    const [a, b] = [await open(), await open()];
    await a.enqueue({ kind: 'call', recordId: 'MZ1', body: body('MZ1') });
    const stale = (await a.claimDue(LEASE_MS))!;
    clock += LEASE_MS - 1;
    expect(await b.claimDue(LEASE_MS)).to.equal(undefined);
    clock += 1;
    const fresh = (await b.claimDue(LEASE_MS))!;
    expect(fresh).to.deep.include({ key: 'call:MZ1', attempt: 2 });
    expect(await a.markSent(stale), 'the stale holder no longer settles it').to.equal(false);
    expect(await a.retryAt(stale, clock, { error: 'x' })).to.equal(false);
    expect(await a.find('call', 'MZ1')).to.deep.include({ state: 'pending' });
    expect(await b.markSent(fresh)).to.equal(true);
  });

  it('keeps its records across a reopen (a restart)', async () => {
    const first = await open();
    await first.enqueue({ kind: 'call', recordId: 'MZ1', body: body('MZ1') });
    await first.close();
    opened = opened.filter((s) => s !== first);
    const second = await open();
    expect((await second.claimDue(LEASE_MS))?.body).to.equal(body('MZ1'));
  });
}

describe('persistence outbox, SQLite', () => {
  defineOutboxSuite({
    freshLocation: async () => mkdtempSync(path.join(tmpdir(), 'outbox-')),
    open: async (dir, now) => openSqliteOutbox(dir, { now }),
    dispose: (dir) => rmSync(dir, { recursive: true, force: true }),
  });
});

describe('persistence outbox, PostgreSQL', () => {
  defineOutboxSuite({
    freshLocation: freshDatabase,
    open: (url, now) => openPgOutbox(url, { now }),
  });

  it('skips a row another sender is claiming (locked) rather than waiting for it', async () => {
    const url = await freshDatabase();
    let clock = Date.parse('2026-12-03T11:00:00.000Z');
    const store = await openPgOutbox(url, { now: () => clock });
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      await store.enqueue({ kind: 'call', recordId: 'older', body: '{}' });
      clock += 1;
      await store.enqueue({ kind: 'call', recordId: 'newer', body: '{}' });
      // Another instance's claim, caught between its lock and its commit.
      await other.query('BEGIN');
      await other.query(`SELECT id FROM persistence_outbox WHERE idempotency_key = 'call:older' FOR UPDATE`);
      const claim = await store.claimDue(LEASE_MS);
      expect(claim?.key).to.equal('call:newer');
      await other.query('COMMIT');
    } finally {
      await other.end();
      await store.close();
    }
  });
});
