// What a restart settles, with Twilio credentials: Twilio (mocked with nock) says how each call the
// last run left ended; a call still live at Twilio, or whose recording another live process holds,
// is left alone; repaired recordings are attached to their tasks by the CallSid in their names.
import { expect } from 'chai';
import nock from 'nock';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { claimPart } from '../../src/audio/part-owner.js';
import { wavHeader } from '../../src/audio/wav-header.js';
import { loadConfig } from '../../src/config.js';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { openSqliteTaskStore } from '../../src/tasks/sqlite-store.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Telemetry } from '../../src/telemetry/events.js';

const SID = 'AC' + '0123456789abcdef'.repeat(2);
const CALLS = `/2010-04-01/Accounts/${SID}/Calls`;
const sid = (n: number) => 'CA' + String(n).repeat(32);

describe('settling what the last run left (with Twilio credentials)', () => {
  let root: string;
  let gateway: Gateway | undefined;

  before(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1/);
  });
  after(() => nock.enableNetConnect());
  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'restart-settle-'));
  });
  afterEach(async () => {
    nock.cleanAll();
    await gateway?.close();
    gateway = undefined;
    await rm(root, { recursive: true, force: true });
  });

  it('asks Twilio, closes what ended, leaves what lives, and attaches repaired recordings', async () => {
    const dataDir = path.join(root, 'data');
    const recordingsDir = path.join(root, 'recordings');
    await mkdir(recordingsDir, { recursive: true });
    // The last run: four answered calls, then the process died.
    const store = openSqliteTaskStore(dataDir);
    const ids: string[] = [];
    for (const n of [1, 2, 3, 4]) {
      const task = await store.create({ to: '+15550002222', from: '+15550001111' });
      await store.transition(task.id, 'queued', { callSid: sid(n) }, 'api');
      await store.transition(task.id, 'in-progress', {}, 'twilio-status');
      ids.push(task.id);
    }
    // Call 4's stream was held by the last run's process, under its fleet member id.
    await store.setStreamMember(ids[3]!, 'pid-1');
    await store.close();
    const audio = Buffer.concat([wavHeader(0), Buffer.alloc(8000 * 4, 1)]);
    // Call 1's recording: its writer is gone (no owner record). Call 3's: this live process holds it.
    await writeFile(path.join(recordingsDir, `20260101T000000Z_${sid(1)}_MZ1.wav.part`), audio);
    const held = path.join(recordingsDir, `20260101T000000Z_${sid(3)}_MZ3.wav.part`);
    await claimPart(held);
    await writeFile(held, audio);

    const twilio = nock('https://api.twilio.com')
      .get(`${CALLS}/${sid(1)}.json`)
      .reply(200, { sid: sid(1), status: 'completed', duration: '42' })
      .get(`${CALLS}/${sid(2)}.json`)
      .reply(200, { sid: sid(2), status: 'in-progress', duration: null })
      .get(`${CALLS}/${sid(4)}.json`)
      .reply(404, { code: 20404, message: 'The requested resource was not found', status: 404 });

    const config = loadConfig({
      DATA_DIR: dataDir,
      RECORDINGS_DIR: recordingsDir,
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: 'token',
      PUBLIC_URL: 'https://gw.example.com',
    });
    gateway = await createGateway(config, { logger: silentLogger(), telemetry: new Telemetry({ noisyEveryN: 1 }) });
    const { port } = await gateway.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${port}/api/tasks`;
    const task = async (i: number) => (await (await fetch(`${base}/${ids[i]}`)).json()) as Record<string, any>;

    expect(twilio.isDone(), 'Twilio was asked about calls 1, 2 and 4 only').to.equal(true);
    expect(await task(0)).to.include({ status: 'completed', endReason: 'gateway_restarted', durationS: 42 });
    expect((await task(0)).history.at(-1)).to.include({ status: 'completed', source: 'restart' });
    const wav = await fetch(`${base}/${ids[0]}/audio`);
    expect(wav.status).to.equal(200);
    expect((await wav.arrayBuffer()).byteLength).to.equal(audio.length);
    // Live at Twilio: its status callback will settle it.
    expect(await task(1)).to.include({ status: 'in-progress' });
    // Held by a live process: not this run's to close, its recording untouched.
    expect(await task(2)).to.include({ status: 'in-progress' });
    expect((await fetch(`${base}/${ids[2]}/audio`)).status).to.equal(404);
    // Twilio no longer knows the call: closed as the restart left it.
    expect(await task(3)).to.include({ status: 'completed', endReason: 'gateway_restarted' });
    // Settled, so no member holds its stream any more.
    const after = openSqliteTaskStore(dataDir);
    expect(await after.streamMembers()).to.deep.equal([]);
    await after.close();
  });
});
