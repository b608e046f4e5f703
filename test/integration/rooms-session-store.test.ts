import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openPgSessionStore } from '../../src/rooms/pg-store.js';
import { openSqliteSessionStore } from '../../src/rooms/sqlite-store.js';
import { freshDatabase } from '../helpers/postgres.js';
import { defineSessionStoreSuite } from './lib/rooms-store-suite.js';

describe('room sessions store', () => {
  describe('on SQLite', () => {
    defineSessionStoreSuite({
      freshLocation: async () => mkdtempSync(path.join(tmpdir(), 'session-store-')),
      open: async (dir, options) => openSqliteSessionStore(dir, options),
      dispose: (dir) => rmSync(dir, { recursive: true, force: true }),
    });
  });

  describe('on PostgreSQL', function () {
    this.timeout(60_000);
    defineSessionStoreSuite({
      freshLocation: () => freshDatabase(),
      open: (url, options) => openPgSessionStore(url, options),
    });
  });
});
