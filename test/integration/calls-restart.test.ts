// Calls a dead process left in progress: ended at the next start (with the recording repaired from
// its part file), never those that still stream somewhere.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { settleDeadCalls } from '../../src/calls/restart-settle.js';
import type { CallView } from '../../src/calls/schemas.js';
import { openSqliteCallStore } from '../../src/calls/sqlite-store.js';
import type { CallStore } from '../../src/calls/store.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { api } from '../helpers/task-api.js';
import { startTestGateway } from '../helpers/test-gateway.js';

const STARTED = '2026-12-03T10:00:00.000Z';

describe('calls left in progress by a process that died', () => {
  let root: string;
  let store: CallStore | undefined;

  beforeEach(() => (root = mkdtempSync(path.join(os.tmpdir(), 'calls-restart-'))));
  afterEach(async () => {
    await store?.close();
    store = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  const inProgress = (s: CallStore, id: string, member: string) =>
    s.create({ id, direction: 'inbound', agent: 'deepgram', callSid: `CA${id}`, streamSid: `MZ${id}`, startedAt: STARTED, member });

  it('ends only the calls no live process streams, attaching a repaired recording', async () => {
    store = openSqliteCallStore(root);
    await inProgress(store, 'here', 'me');
    await inProgress(store, 'alive', 'other');
    await inProgress(store, 'writing', 'gone');
    await inProgress(store, 'dead', 'gone');
    const repaired = path.join(root, '20261203T100000Z_CAdead_MZdead.wav');
    const now = new Date('2026-12-03T10:00:30.000Z');
    const settled = await settleDeadCalls(
      { store, isStreaming: (id) => id === 'here', logger: silentLogger(), now: () => now },
      (member) => member === 'other',
      { repaired: [repaired], inUse: [path.join(root, '20261203T100000Z_CAwriting_MZwriting.wav.part')] },
    );
    expect(settled).to.deep.equal(['dead']);
    expect(await store.get('dead')).to.deep.include({ status: 'completed', endReason: 'gateway_restarted', durationMs: 30_000, recordingPath: repaired });
    expect((await store.inProgress()).map((c) => c.id).sort()).to.deep.equal(['alive', 'here', 'writing']);
  });

  it('settles at start the call a killed gateway left, with its repaired WAV served', async function () {
    this.timeout(20_000);
    const dataDir = path.join(root, 'data');
    const recordingsDir = path.join(root, 'recordings');
    mkdirSync(recordingsDir, { recursive: true });
    store = openSqliteCallStore(dataDir);
    await inProgress(store, 'killed', 'a-gateway-that-died');
    await store.close();
    store = undefined;
    // A recorder killed mid-call leaves its part file, named for the call.
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/helpers/record-then-die.ts', recordingsDir, '20261203T100000Z_CAkilled_MZkilled'], { encoding: 'utf8' });
    expect(child.signal).to.equal('SIGKILL');

    const t = await startTestGateway({ DATA_DIR: dataDir, RECORDINGS_DIR: recordingsDir });
    try {
      const call = (await api<CallView>(t, 'GET', '/api/calls/killed')).body;
      expect(call).to.deep.include({ status: 'completed', endReason: 'gateway_restarted', audioUrl: '/api/calls/killed/audio' });
      const audio = await fetch(t.baseUrl + call.audioUrl!);
      expect(audio.status).to.equal(200);
      expect(audio.headers.get('content-type')).to.equal('audio/wav');
    } finally {
      await t.close();
    }
  });
});
