import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openPgCallStore } from '../../src/calls/pg-store.js';
import { openSqliteCallStore } from '../../src/calls/sqlite-store.js';
import { freshDatabase } from '../helpers/postgres.js';
import { defineCallStoreSuite } from './lib/calls-store-suite.js';

describe('call store', () => {
  describe('on SQLite', () => {
    defineCallStoreSuite({
      freshLocation: async () => mkdtempSync(path.join(tmpdir(), 'call-store-')),
      open: async (dir, options) => openSqliteCallStore(dir, options),
      dispose: (dir) => rmSync(dir, { recursive: true, force: true }),
    });
  });

  describe('on PostgreSQL', () => {
    defineCallStoreSuite({
      freshLocation: freshDatabase,
      open: (url, options) => openPgCallStore(url, options),
    });
  });
});
