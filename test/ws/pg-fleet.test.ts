// With DATABASE_URL every gateway joins the fleet on PostgreSQL by itself: two gateways on one
// database (in this process, so each is given its member id) see each other's calls: live events
// of a call held by A reach a watcher on B, /health on B counts A's call, a stop sent to B ends
// the call on A, and a gateway that closes leaves the fleet.
import { expect } from 'chai';
import { hostname } from 'node:os';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { freshDatabase, query } from '../helpers/postgres.js';
import { api, eventually, Watcher } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');

describe('gateways on one DATABASE_URL form a fleet', function () {
  this.timeout(60_000);
  const cleanups: Array<() => Promise<unknown> | unknown> = [];

  afterEach(async () => {
    for (const clean of cleanups.splice(0).reverse()) await clean();
  });

  it('carries live events, fleet figures and a stop from one instance to the other, and a closed one leaves', async () => {
    const url = await freshDatabase();
    const a: TestGateway = await startTestGateway({ DATABASE_URL: url }, { memberId: 'host-a-1' });
    cleanups.push(() => a.close());
    const b: TestGateway = await startTestGateway({ DATABASE_URL: url, RECORDINGS_DIR: a.config.recordingsDir }, { memberId: 'host-b-2' });
    let bOpen = true;
    cleanups.push(() => bOpen && b.close());
    expect((await api(b, 'GET', '/health/live')).headers.get('x-gateway-worker')).to.equal('host-b-2');
    await eventually(async () => ((await api(a, 'GET', '/health')).body.workers === 2 ? true : undefined), 10_000, 'A to count two members');

    const taskId = (await api(a, 'POST', '/api/tasks', { body: { to: '+14155550123' } })).body.id as string;
    const onB = await Watcher.open(b, taskId);
    cleanups.push(() => onB.close());
    const caller = new FakeTwilioCaller({ url: a.wsUrl, speed: 8, customParameters: { taskId } });
    cleanups.push(() => caller.close());
    await caller.connect();
    await caller.streamAudio(speech);
    await caller.streamSilence(600);

    await onB.waitFor((m) => m.type === 'status' && (m as { status: string }).status === 'in-progress', 10_000);
    await eventually(async () => ((await api(b, 'GET', '/health')).body.active_calls === 1 ? true : undefined), 10_000, 'B to count A\'s call');
    expect(a.gateway.calls.size).to.equal(1);
    expect(b.gateway.calls.size).to.equal(0);

    const stopped = await api(b, 'POST', `/api/tasks/${taskId}/stop`);
    // 202 when A has not stored the end yet by the time B answers.
    expect(stopped.status).to.be.oneOf([200, 202]);
    const ended = await a.nextEnded(10_000);
    expect(ended.reason).to.equal('operator_stop');
    await onB.waitFor((m) => m.type === 'call_ended', 10_000);

    // B leaves: its advisory lock goes, and A sees one member again.
    await b.close();
    bOpen = false;
    await eventually(async () => ((await api(a, 'GET', '/health')).body.workers === 1 ? true : undefined), 10_000, 'A alone again');
    const locks = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2`);
    expect(locks).to.deep.equal([{ n: 1 }]);
  });

  it('names a member <host>-<pid> by default', async () => {
    const url = await freshDatabase();
    const a = await startTestGateway({ DATABASE_URL: url }, { memberId: undefined });
    cleanups.push(() => a.close());
    expect(a.gateway.memberId).to.equal(`${hostname()}-${process.pid}`);
    expect(await query(url, 'SELECT member_id FROM fleet_members')).to.deep.equal([{ member_id: `${hostname()}-${process.pid}` }]);
  });
});
