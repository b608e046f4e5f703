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
import { writePcmWav } from '../../src/audio/wav-io.js';
import type { CallPage } from '../../src/calls/schemas.js';
import { openSqliteTaskStore } from '../../src/tasks/sqlite-store.js';
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

  it('makes calls of the recordings made before calls were records, once, a task\'s linked with its transcript', async function () {
    this.timeout(20_000);
    const dataDir = path.join(root, 'data');
    const recordingsDir = path.join(root, 'recordings');
    mkdirSync(recordingsDir, { recursive: true });
    const tasks = openSqliteTaskStore(dataDir);
    const task = await tasks.create({ to: '+15550002222', from: '+15550001111' });
    await tasks.update(task.id, { callSid: 'CAtask' });
    await tasks.appendTranscript(task.id, { role: 'user', text: 'Hello from before', atMs: 640 });
    await tasks.close();
    // One second of stereo audio each: two calls from 2020, one stamped after the records began, and a stranger.
    const second = { sampleRate: 8000, channels: 2, samples: new Int16Array(2 * 8000) };
    await writePcmWav(path.join(recordingsDir, '20200102T030405Z_CAinbound_MZinbound.wav'), second);
    await writePcmWav(path.join(recordingsDir, '20200102T040000Z_CAtask_MZtask.wav'), second);
    await writePcmWav(path.join(recordingsDir, '20991231T000000Z_CAlater_MZlater.wav'), second);
    await writePcmWav(path.join(recordingsDir, 'my-notes.wav'), second);

    for (let start = 0; start < 2; start++) {
      const t = await startTestGateway({ DATA_DIR: dataDir, RECORDINGS_DIR: recordingsDir });
      try {
        const calls = (await api<CallPage>(t, 'GET', '/api/calls')).body.calls;
        expect(calls.map((c) => c.id), `start ${start + 1}`).to.deep.equal(['recording-20200102T040000Z_CAtask_MZtask', 'recording-20200102T030405Z_CAinbound_MZinbound']);
        expect(calls[1]).to.deep.include({ direction: 'inbound', status: 'completed', agent: 'unknown', callSid: 'CAinbound', streamSid: 'MZinbound', startedAt: '2020-01-02T03:04:05.000Z', recordingMs: 1000 });
        const linked = (await api<CallView>(t, 'GET', `/api/calls/${calls[0]!.id}`)).body;
        expect(linked).to.deep.include({ direction: 'outbound', taskId: task.id });
        expect(linked.transcript).to.deep.equal([{ role: 'user', text: 'Hello from before', atMs: 640 }]);
        expect((await fetch(t.baseUrl + linked.audioUrl!)).status).to.equal(200);
      } finally {
        await t.close();
      }
    }
  });
});
