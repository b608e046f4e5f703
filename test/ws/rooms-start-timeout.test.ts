// A room session whose agent never joins (no worker took the dispatch) is failed after
// LIVEKIT_SESSION_START_TIMEOUT_S as `agent_never_joined`, its dispatch deleted (LiveKit's 404 is
// fine), its watchers told; a session whose agent joined is left alone. LiveKit's dispatch API is
// mocked with nock at its Twirp paths.
import { expect } from 'chai';
import nock from 'nock';
import type { TranscriptSocketMessage } from '../../src/rooms/schemas.js';
import { api, Watcher } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const LIVEKIT = { LIVEKIT_URL: 'http://lk.test', LIVEKIT_API_KEY: 'APIstartTimeout', LIVEKIT_API_SECRET: 'start-timeout-test-secret-long-enough-for-hs256' };
const DISPATCH = 'http://lk.test/twirp/livekit.AgentDispatchService';

async function createSession(t: TestGateway, room: string): Promise<string> {
  nock(DISPATCH).post('/CreateDispatch').reply(200, { id: `AD_${room}`, agentName: 'voice-agent', room });
  const res = await api(t, 'POST', '/session', { body: { room } });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return res.body.session_id as string;
}

describe('room sessions no agent joined', function () {
  this.timeout(30_000);
  let t: TestGateway;
  before(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1/);
  });
  afterEach(async () => {
    await t?.close();
    nock.cleanAll();
  });
  after(() => nock.enableNetConnect());

  it('are failed as agent_never_joined after LIVEKIT_SESSION_START_TIMEOUT_S, their dispatch deleted once, watchers told', async () => {
    t = await startTestGateway({ ...LIVEKIT, LIVEKIT_SESSION_START_TIMEOUT_S: '1' });
    const deleted: unknown[] = [];
    // LiveKit no longer knows the dispatch (its room closed): as good as deleted.
    nock(DISPATCH)
      .post('/DeleteDispatch')
      .reply(async (req: Request) => {
        deleted.push(await req.json());
        return [404, { code: 'not_found', msg: 'dispatch not found' }, { 'content-type': 'application/json' }];
      });
    const lonely = await createSession(t, 'room-lonely');
    const joined = await createSession(t, 'room-joined');
    await t.gateway.roomSessions!.started(joined, { participant: 'agent-1' });
    const watcher = await Watcher.openPath(t, `/ws/transcript/${lonely}`);

    const end = (await watcher.waitFor((m) => (m as { type: string }).type === 'state', 15_000)) as unknown as Extract<TranscriptSocketMessage, { type: 'state' }>;
    expect(end).to.include({ state: 'failed', reason: 'agent_never_joined' });
    const session = (await api(t, 'GET', `/session/${lonely}`)).body;
    expect(session).to.include({ state: 'failed', end_reason: 'agent_never_joined', ended_at: end.at });
    expect(Date.parse(session.ended_at) - Date.parse(session.created_at)).to.be.at.least(1000);
    expect(deleted).to.deep.equal([{ dispatchId: 'AD_room-lonely', room: 'room-lonely' }]);
    expect((await api(t, 'GET', `/session/${joined}`)).body).to.include({ state: 'active' });
    watcher.close();
  });
});
