import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStreamClaims, openTaskStore } from '../../src/tasks/open-store.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { freshDatabase, query } from '../helpers/postgres.js';
import { eventually } from '../helpers/task-api.js';

describe('opening the store chosen by DATABASE_URL', () => {
  let dataDir: string;

  beforeEach(() => (dataDir = mkdtempSync(path.join(os.tmpdir(), 'open-store-'))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('opens SQLite in DATA_DIR when DATABASE_URL is unset', async () => {
    const store = await openTaskStore({ databaseUrl: undefined, dataDir }, capturingLogger().logger);
    try {
      const { id } = await store.create({ to: '+14155550123', from: '+14155550100' });
      expect((await store.get(id))?.id).to.equal(id);
      expect(existsSync(path.join(dataDir, 'tasks.sqlite'))).to.equal(true);
    } finally {
      await store.close();
    }
  });

  it('opens PostgreSQL when DATABASE_URL is set, logging its host and database but never its password', async () => {
    const url = await freshDatabase();
    const { password, host, pathname } = new URL(url);
    const { logger, lines, text } = capturingLogger();
    const store = await openTaskStore({ databaseUrl: url, dataDir }, logger);
    const claims = await openStreamClaims({ databaseUrl: url, dataDir }, logger);
    try {
      const { id } = await store.create({ to: '+14155550123', from: '+14155550100' });
      expect(await query(url, 'SELECT id FROM tasks')).to.deep.equal([{ id }]);
      expect(await claims.claim('ticket', Date.now() + 60_000)).to.equal(true);
      expect(await query(url, 'SELECT ticket_id FROM media_stream_claims')).to.deep.equal([{ ticket_id: 'ticket' }]);
    } finally {
      await store.close();
      await claims.close();
    }
    expect(lines.find((line) => line.message === 'task store: PostgreSQL')).to.include({ database: `${host}${pathname}` });
    expect(text()).not.to.contain(password);
  });

  it('fails to start with the host and database named, and the password nowhere, when the login is refused', async () => {
    const url = new URL(await freshDatabase());
    url.password = 'wrong-s3cret-password';
    const { logger, text } = capturingLogger();
    let refused: unknown;
    await openTaskStore({ databaseUrl: url.href, dataDir }, logger).catch((error: unknown) => (refused = error));
    expect(refused).to.be.instanceOf(Error);
    const message = (refused as Error).message;
    expect(message).to.contain(`PostgreSQL at ${url.host}${url.pathname} (DATABASE_URL)`);
    expect(message).to.match(/password authentication failed/);
    expect(message).not.to.contain('wrong-s3cret-password');
    expect(text()).not.to.contain('wrong-s3cret-password');
  });

  it('survives its idle connections being cut (a database restart): logged, replaced, the next call works', async () => {
    const url = await freshDatabase();
    const { logger, lines, text } = capturingLogger();
    const store = await openTaskStore({ databaseUrl: url, dataDir }, logger);
    try {
      const { id } = await store.create({ to: '+14155550123', from: '+14155550100' });
      await query(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'telephony-gateway tasks'");
      await eventually(() => lines.find((line) => line.message === 'an idle PostgreSQL connection broke; the pool replaces it'), 5000, 'the broken connection logged');
      expect((await store.get(id))?.id).to.equal(id);
    } finally {
      await store.close();
    }
    expect(text()).not.to.contain(new URL(url).password);
  });
});
