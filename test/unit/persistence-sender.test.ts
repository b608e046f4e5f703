// The outbox sender's own loop, over a real SQLite outbox: a store that fails between its reads
// (a database that went away) is logged and retried, never an unhandled rejection.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type { OutboxStore } from '../../src/persistence/outbox.js';
import { OutboxSender } from '../../src/persistence/sender.js';
import { openSqliteOutbox } from '../../src/persistence/sqlite-outbox.js';
import { Telemetry } from '../../src/telemetry/events.js';
import { capturingLogger } from '../helpers/capturing-logger.js';

describe('persistence outbox sender', () => {
  let dir: string;
  let store: OutboxStore;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sender-'));
    store = await openSqliteOutbox(dir);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs a store failure after a delivery (reading the next due time) instead of leaving an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    // Mocha's own listener would fail the run elsewhere; this test wants to see it here.
    const mochaListeners = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    process.on('unhandledRejection', onUnhandled);
    const { logger, lines } = capturingLogger();
    // The real store, whose next-due read fails once: the database dropped right after the delivery.
    let failNextDue = true;
    const flaky: OutboxStore = Object.assign(Object.create(store) as OutboxStore, {
      nextDueAt: async () => {
        if (failNextDue) {
          failNextDue = false;
          throw new Error('connection terminated');
        }
        return store.nextDueAt();
      },
    });
    let delivered!: () => void;
    const deliveredOnce = new Promise<void>((resolve) => (delivered = resolve));
    const sender = new OutboxSender({
      store: flaky,
      deliver: async () => {
        delivered();
        return { result: 'delivered', status: 201 };
      },
      retry: { minMs: 1000, maxMs: 60_000 },
      deliveryTimeoutMs: 5000,
      logger,
      telemetry: new Telemetry({ noisyEveryN: 100 }),
    });
    try {
      await store.enqueue({ kind: 'session', recordId: 'S1', body: '{}' });
      sender.start();
      await deliveredOnce;
      // Wait for the loop to log the failed read (the unhandled rejection, without the fix, comes first).
      while (!lines.some((l) => l.message === 'the persistence outbox could not be read; trying again shortly') && unhandled.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await sender.close();
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).to.deep.equal([]);
      expect((await store.find('session', 'S1'))?.state).to.equal('sent');
    } finally {
      await sender.close().catch(() => undefined);
      process.off('unhandledRejection', onUnhandled);
      for (const listener of mochaListeners) process.on('unhandledRejection', listener);
    }
  });
});
