import { expect } from 'chai';
import pg from 'pg';
import { openPgStreamClaims } from '../../src/twilio/pg-stream-claims.js';
import type { StreamClaims } from '../../src/twilio/stream-claims.js';
import { freshDatabase, query } from '../helpers/postgres.js';

describe('PostgreSQL stream claims', () => {
  let url: string;
  let opened: StreamClaims[];
  const open = async (now?: () => number): Promise<StreamClaims> => {
    const claims = await openPgStreamClaims(url, now ? { now } : {});
    opened.push(claims);
    return claims;
  };

  beforeEach(async () => {
    url = await freshDatabase();
    opened = [];
  });

  afterEach(async () => {
    await Promise.all(opened.map((claims) => claims.close()));
  });

  it('grants the first claim of a ticket and refuses every later one, on any instance', async () => {
    const [a, b] = [await open(), await open()];
    const expires = Date.now() + 60_000;
    expect(await a.claim('ticket-1', expires)).to.equal(true);
    expect(await a.claim('ticket-1', expires)).to.equal(false);
    expect(await b.claim('ticket-1', expires)).to.equal(false);
    expect(await b.claim('ticket-2', expires)).to.equal(true);
  });

  it('lets one of two instances claiming a ticket at once win', async () => {
    const [a, b] = [await open(), await open()];
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all([a, b].map((claims) => claims.claim(`ticket-${round}`, Date.now() + 60_000)));
      expect(results.filter(Boolean), `round ${round}`).to.have.length(1);
    }
  });

  it('deletes expired claims as it goes', async () => {
    let now = Date.now();
    const claims = await open(() => now);
    expect(await claims.claim('old', now + 1000)).to.equal(true);
    now += 120_000;
    expect(await claims.claim('new', now + 1000)).to.equal(true);
    const rows = await query<{ ticket_id: string }>(url, 'SELECT ticket_id FROM media_stream_claims');
    expect(rows.map((r) => r.ticket_id)).to.deep.equal(['new']);
  });

  it('rejects a claim the database does not answer in time instead of holding the upgrade', async function () {
    this.timeout(15_000);
    const claims = await open();
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE media_stream_claims IN ACCESS EXCLUSIVE MODE');
      let refused: unknown;
      await claims.claim('ticket-1', Date.now() + 60_000).catch((error: unknown) => (refused = error));
      expect(refused).to.be.instanceOf(Error);
      expect((refused as Error).message).to.match(/timeout|cancel/i);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    expect(await claims.claim('ticket-1', Date.now() + 60_000)).to.equal(true);
  });
});
