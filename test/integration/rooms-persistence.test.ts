// The rooms and the persistence service wired together in one gateway: POST /session asks the
// service first (403 when it says no), and a session that ends reaches its ingest endpoint once,
// with the transcript the room agent reported.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import nock from 'nock';
import { FakePersistenceService } from '../helpers/persistence-service.js';
import { api } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const TOKEN = 'ingest-token-rooms';
const LIVEKIT = { LIVEKIT_URL: 'http://lk-persist.test', LIVEKIT_API_KEY: 'APIpersist', LIVEKIT_API_SECRET: 'persist-test-secret-long-enough-for-hs256' };

describe('rooms with the persistence service', function () {
  this.timeout(30_000);
  let service: FakePersistenceService;
  let root: string;
  let t: TestGateway;

  beforeEach(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1/);
    root = mkdtempSync(path.join(tmpdir(), 'rooms-persistence-'));
    service = new FakePersistenceService(TOKEN);
    await service.start();
    t = await startTestGateway({
      ...LIVEKIT,
      DATA_DIR: path.join(root, 'data'),
      RECORDINGS_DIR: path.join(root, 'recordings'),
      DJANGO_BASE_URL: service.baseUrl,
      INGEST_TOKEN: TOKEN,
      INGEST_RETRY_MIN_MS: '20',
    });
  });
  afterEach(async () => {
    await t.close();
    await service.stop();
    nock.cleanAll();
    nock.enableNetConnect();
    rmSync(root, { recursive: true, force: true });
  });

  it('asks the service before dispatching: its no is a 403 and LiveKit is never called', async () => {
    service.validate = () => ({ status: 200, json: { allowed: false, reason: 'no seats left' } });
    const dispatch = nock(LIVEKIT.LIVEKIT_URL).post('/twirp/livekit.AgentDispatchService/CreateDispatch').reply(200, { id: 'AD_never' });
    const res = await api(t, 'POST', '/session', { body: { room: 'closed-room', identity: 'alice' } });
    expect(res.status).to.equal(403);
    expect(res.body.error).to.equal('session_refused');
    expect(JSON.parse(service.to('/api/sessions/validate')[0]!.body)).to.deep.include({ room: 'closed-room', identity: 'alice' });
    expect(dispatch.isDone()).to.equal(false);
  });

  it('sends a finished session to the ingest endpoint once, with what the room agent reported', async () => {
    nock(LIVEKIT.LIVEKIT_URL).post('/twirp/livekit.AgentDispatchService/CreateDispatch').reply(200, { id: 'AD_1' });
    const created = await api(t, 'POST', '/session', { body: { room: 'open-room', identity: 'bob', metadata: { plan: 'pro' } } });
    expect(created.status).to.equal(201);
    const id = created.body.session_id as string;
    const sink = t.gateway.roomSessions!;
    await sink.started(id, { participant: 'agent-AJ_1', jobId: 'AJ_1' });
    await sink.line(id, { role: 'assistant', text: 'Hello!', atMs: 250 });
    await sink.line(id, { role: 'user', text: 'Bye.', atMs: 1900 });
    await sink.ended(id, 'participant_left');

    const delivered = await service.waitFor((r) => r.path === '/api/ingest/sessions' && r.status === 201);
    expect(delivered.headers['idempotency-key']).to.equal(`session:${id}`);
    const record = JSON.parse(delivered.body);
    expect(record).to.deep.include({ session_id: id, room: 'open-room', identity: 'bob', end_reason: 'participant_left', metadata: { plan: 'pro' } });
    expect(record.transcript.map((l: { role: string; text: string }) => [l.role, l.text])).to.deep.equal([
      ['assistant', 'Hello!'],
      ['user', 'Bye.'],
    ]);
    expect(service.to('/api/ingest/sessions')).to.have.length(1);
  });
});
