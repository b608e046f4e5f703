// A start that fails half-way closes what it had already opened, in reverse order, and reports
// the failure itself: nothing (a store, the fleet channel, the telemetry file) is left open
// behind a gateway that never came up.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { LocalChannel } from '../../src/fleet/channel.js';
import { createGateway } from '../../src/gateway.js';
import { openSqliteTaskStore } from '../../src/tasks/sqlite-store.js';
import { Telemetry } from '../../src/telemetry/events.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { TASKS_DB_FILE } from '../../src/db/sqlite.js';

describe('a gateway start that fails half-way', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'gateway-failed-start-'));
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('closes what it opened before the failing step, last opened first, and rejects with the failure', async () => {
    const dataDir = path.join(root, 'data');
    // The call store opens the database file in DATA_DIR: a folder in its place makes that step fail,
    // after the telemetry, the fleet channel and the (injected) task store are in the gateway's hands.
    mkdirSync(path.join(dataDir, TASKS_DB_FILE), { recursive: true });
    const config = loadConfig({ DATA_DIR: dataDir, RECORDINGS_DIR: path.join(root, 'recordings') });
    const closed: string[] = [];
    const telemetry = new Telemetry({ noisyEveryN: 1 });
    const closeTelemetry = telemetry.close.bind(telemetry);
    telemetry.close = async () => {
      closed.push('telemetry');
      await closeTelemetry();
    };
    const fleet = new LocalChannel();
    const closeFleet = fleet.close.bind(fleet);
    fleet.close = () => {
      closed.push('fleet channel');
      closeFleet();
    };
    const taskStore = await openSqliteTaskStore(path.join(root, 'elsewhere'));
    const closeStore = taskStore.close.bind(taskStore);
    taskStore.close = async () => {
      closed.push('task store');
      await closeStore();
    };

    let failure: unknown;
    try {
      await createGateway(config, { logger: silentLogger(), telemetry, fleet, taskStore });
    } catch (err) {
      failure = err;
    }
    expect(failure, 'the start fails').to.be.instanceOf(Error);
    expect(closed).to.deep.equal(['task store', 'fleet channel', 'telemetry']);
    // The store really is closed: a second close has nothing left to do, and a read is refused.
    let readAfterClose: unknown;
    try {
      await taskStore.get('t_1');
    } catch (err) {
      readAfterClose = err;
    }
    expect(readAfterClose, 'the task store refuses reads once closed').to.be.instanceOf(Error);
  });
});
