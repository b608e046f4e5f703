import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { openSqliteStreamClaims, type StreamClaims } from '../../src/twilio/stream-claims.js';
import { TASKS_DB_FILE } from '../../src/tasks/sqlite-store.js';

describe('SQLite stream claims', () => {
  let dir: string;
  let claims: StreamClaims;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'claims-'));
    claims = openSqliteStreamClaims(dir);
  });

  afterEach(async () => {
    await claims.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('grants the first claim of a ticket and refuses every later one', async () => {
    const expires = Date.now() + 60_000;
    expect(await claims.claim('ticket-1', expires)).to.equal(true);
    expect(await claims.claim('ticket-1', expires)).to.equal(false);
    expect(await claims.claim('ticket-2', expires)).to.equal(true);
  });

  it('gives up at once, not after seconds, when another process holds the write lock', async () => {
    // The claim runs inside the upgrade on the media thread: a long wait would stall every call.
    const other = new Database(path.join(dir, TASKS_DB_FILE));
    other.exec('BEGIN IMMEDIATE');
    try {
      const started = performance.now();
      const refusal = await claims.claim('ticket-1', Date.now() + 60_000).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(refusal?.message).to.match(/busy|locked/i);
      // SQLite's own wait was 5 s before; the bound now is 50 ms. The margin absorbs a loaded machine.
      expect(performance.now() - started).to.be.below(2000);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(await claims.claim('ticket-1', Date.now() + 60_000)).to.equal(true);
  });
});
