// What a lost fleet member leaves on the shared volume and in the shared store, as survivors
// starting on it see it: a part file whose owner record names a member no longer in the fleet is
// repaired whatever host wrote it, and attached to its task, which is settled once even when two
// survivors start at once; a part file and a task of a member still in the fleet are not touched.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { wavHeader } from '../../src/audio/wav-header.js';
import { openPgChannel } from '../../src/fleet/pg-channel.js';
import { openPgTaskStore } from '../../src/tasks/pg-store.js';
import { freshDatabase } from '../helpers/postgres.js';
import { api } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const ONE_SECOND = 8000 * 4; // stereo, 16-bit, 8 kHz

/** A part file as a recorder on `host` left it, with its owner record naming `member`. */
function leavePart(dir: string, callSid: string, host: string, member: string): string {
  const part = path.join(dir, `20261203T110000Z_${callSid}_MZ${callSid.slice(2)}.wav.part`);
  writeFileSync(part, Buffer.concat([wavHeader(0), Buffer.alloc(ONE_SECOND, 1)]));
  writeFileSync(`${part}.owner`, JSON.stringify({ host, pid: 4242, startTime: '123', member }));
  return part;
}

describe('survivors settle what a lost fleet member left', function () {
  this.timeout(30_000);
  const cleanups: Array<() => Promise<unknown> | unknown> = [];

  afterEach(async () => {
    for (const clean of cleanups.splice(0).reverse()) await clean();
  });

  it('repairs a lost member\'s recording from another host, settles its task once, and leaves a live member\'s alone', async () => {
    const url = await freshDatabase();
    const root = mkdtempSync(path.join(os.tmpdir(), 'fleet-settle-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const recordings = path.join(root, 'recordings');
    mkdirSync(recordings);

    // A member on another machine, alive (its lock held), streaming one call.
    const live = await openPgChannel(url, { memberId: 'far-host-live' });
    cleanups.push(() => live.close());
    const store = await openPgTaskStore(url);
    cleanups.push(() => store.close());
    const inCall = async (callSid: string, member: string): Promise<string> => {
      const { id } = await store.create({ to: '+15550001111', from: '+15550000000' });
      await store.transition(id, 'in-progress', { callSid }, 'media-stream');
      await store.appendTranscript(id, { role: 'user', text: 'hello', atMs: 10 });
      await store.setStreamMember(id, member);
      return id;
    };
    const lostTask = await inCall('CAlost1', 'far-host-gone');
    const lostPart = leavePart(recordings, 'CAlost1', 'far-host', 'far-host-gone');
    const liveTask = await inCall('CAlive1', 'far-host-live');
    const livePart = leavePart(recordings, 'CAlive1', 'far-host', 'far-host-live');

    // Two survivors start at once on the shared store and volume.
    const env = { DATABASE_URL: url, RECORDINGS_DIR: recordings };
    const started = await Promise.all([startTestGateway(env, { memberId: 'survivor-a' }), startTestGateway(env, { memberId: 'survivor-b' })]);
    cleanups.push(...started.map((g: TestGateway) => () => g.close()));

    const settled = (await api(started[0], 'GET', `/api/tasks/${lostTask}`)).body;
    expect(settled.status).to.equal('completed');
    expect(settled.endReason).to.equal('gateway_instance_lost: far-host-gone');
    expect(settled.history.map((h: { status: string }) => h.status)).to.deep.equal(['created', 'in-progress', 'completed']);
    expect(settled.audioUrl).to.equal(`/api/tasks/${lostTask}/audio`);
    const wavPath = lostPart.slice(0, -'.part'.length);
    const wav = readFileSync(wavPath);
    expect(wav.readUInt32LE(40)).to.equal(ONE_SECOND);
    expect(existsSync(lostPart)).to.equal(false);
    expect(existsSync(`${lostPart}.owner`)).to.equal(false);
    const audio = await fetch(`${started[1].baseUrl}/api/tasks/${lostTask}/audio`);
    expect(audio.status).to.equal(200);
    expect(Buffer.from(await audio.arrayBuffer()).equals(wav)).to.equal(true);

    // The live member's call: untouched, in the store and on the volume.
    const untouched = (await api(started[1], 'GET', `/api/tasks/${liveTask}`)).body;
    expect(untouched.status).to.equal('in-progress');
    expect(untouched.audioUrl).to.equal(undefined);
    expect(existsSync(livePart)).to.equal(true);
    expect(existsSync(`${livePart}.owner`)).to.equal(true);
    expect(await store.streamMembers()).to.deep.equal([{ taskId: liveTask, member: 'far-host-live' }]);
  });
});
