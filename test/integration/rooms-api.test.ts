// The rooms API end to end in a test gateway on SQLite: tokens checked with LiveKit's own
// TokenVerifier, LiveKit's dispatch API mocked with nock at its Twirp paths (bodies and the
// Bearer JWT's grants asserted), the gatekeeper and the session-ended hook as small local seams.
import { expect } from 'chai';
import nock from 'nock';
import { TokenVerifier } from 'livekit-server-sdk';
import type { RoomSession } from '../../src/rooms/store.js';
import type { SessionGatekeeper } from '../../src/rooms/service.js';
import { api } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const LIVEKIT_HOST = 'https://lk.test';
const LIVEKIT = { LIVEKIT_URL: 'wss://lk.test', LIVEKIT_API_KEY: 'APIroomsTest', LIVEKIT_API_SECRET: 'rooms-test-secret-that-is-long-enough-for-hs256' };
const DISPATCH = '/twirp/livekit.AgentDispatchService';
const verifier = new TokenVerifier(LIVEKIT.LIVEKIT_API_KEY, LIVEKIT.LIVEKIT_API_SECRET);

interface SeenCall {
  body: Record<string, unknown>;
  grants: Awaited<ReturnType<TokenVerifier['verify']>>;
}

/** LiveKit's CreateDispatch, answering `dispatchId`; what it received lands in `seen`. */
function mockCreateDispatch(seen: SeenCall[], dispatchId = 'AD_test1', status = 200) {
  return nock(LIVEKIT_HOST)
    .post(`${DISPATCH}/CreateDispatch`)
    .reply(async (req: Request) => {
      seen.push(await readTwirp(req));
      if (status !== 200) return [status, { code: 'unavailable', msg: 'no agent workers' }, { 'content-type': 'application/json' }];
      const body = seen.at(-1)!.body;
      return [200, { id: dispatchId, agentName: body.agentName, room: body.room, metadata: body.metadata }];
    });
}

function mockDeleteDispatch(seen: SeenCall[], status = 200) {
  return nock(LIVEKIT_HOST)
    .post(`${DISPATCH}/DeleteDispatch`)
    .reply(async (req: Request) => {
      seen.push(await readTwirp(req));
      if (status === 404) return [404, { code: 'not_found', msg: 'dispatch not found' }, { 'content-type': 'application/json' }];
      return [status, status === 200 ? {} : { code: 'internal', msg: 'boom' }, { 'content-type': 'application/json' }];
    });
}

async function readTwirp(req: Request): Promise<SeenCall> {
  const auth = req.headers.get('authorization') ?? '';
  expect(auth).to.match(/^Bearer /);
  return { body: (await req.json()) as Record<string, unknown>, grants: await verifier.verify(auth.slice('Bearer '.length)) };
}

describe('rooms API', function () {
  this.timeout(20_000);
  before(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1/);
  });
  afterEach(() => nock.cleanAll());
  after(() => nock.enableNetConnect());

  describe('GET /token', () => {
    let t: TestGateway;
    before(async () => (t = await startTestGateway({ ...LIVEKIT, LIVEKIT_TOKEN_TTL: '10m' })));
    after(() => t.close());

    it('mints a token LiveKit accepts: the room, the identity, join, publish, subscribe and data, for LIVEKIT_TOKEN_TTL', async () => {
      const before = Math.floor(Date.now() / 1000);
      const res = await api(t, 'GET', '/token?room=support-42&identity=user_7&name=Ada%20Lovelace');
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.headers.get('cache-control')).to.equal('no-store');
      expect(res.body).to.include({ url: 'wss://lk.test', room: 'support-42', identity: 'user_7' });
      const claims = await verifier.verify(res.body.token);
      expect(claims.sub).to.equal('user_7');
      expect(claims.name).to.equal('Ada Lovelace');
      expect(claims.video).to.deep.equal({ roomJoin: true, room: 'support-42', canPublish: true, canSubscribe: true, canPublishData: true });
      expect(claims.roomConfig).to.equal(undefined);
      const exp = (claims as { exp?: number }).exp!;
      expect(exp - before).to.be.within(600, 602);
      expect(res.body.expires_at).to.equal(new Date(exp * 1000).toISOString());
    });

    it('names every bad or missing parameter in one 400', async () => {
      const cases: Array<[string, string[]]> = [
        ['/token', ['room', 'identity']],
        ['/token?room=ok', ['identity']],
        ['/token?room=has%20space&identity=ok', ['room']],
        ['/token?room=ok&identity=' + 'x'.repeat(129), ['identity']],
        ['/token?room=&identity=', ['room', 'identity']],
        ['/token?room=a&room=b&identity=%C3%A9', ['room', 'identity']],
        ['/token?room=ok&identity=ok&name=' + 'n'.repeat(129), ['name']],
        ['/token?room=ok&identity=ok&name=a%00b', ['name']],
      ];
      for (const [path, fields] of cases) {
        const res = await api(t, 'GET', path);
        expect(res.status, path).to.equal(400);
        expect(res.body.error, path).to.equal('invalid_request');
        expect(res.body.details.map((d: { field: string }) => d.field), path).to.deep.equal(fields);
      }
      const missing = await api(t, 'GET', '/token');
      expect(missing.body.details[0]).to.deep.equal({ field: 'room', message: 'is required' });
    });
  });

  it('GET /token carries the agent dispatch in the token when LIVEKIT_TOKEN_AGENT_DISPATCH is on', async () => {
    const t = await startTestGateway({ ...LIVEKIT, LIVEKIT_TOKEN_AGENT_DISPATCH: 'true', LIVEKIT_AGENT_NAME: 'front-desk' });
    try {
      const res = await api(t, 'GET', '/token?room=r1&identity=u1');
      const claims = await verifier.verify(res.body.token);
      expect(claims.roomConfig?.agents.map((a) => a.agentName)).to.deep.equal(['front-desk']);
      // The default TTL: an hour.
      expect((claims as { exp?: number }).exp! - Math.floor(Date.now() / 1000)).to.be.within(3598, 3600);
    } finally {
      await t.close();
    }
  });

  describe('sessions', () => {
    let t: TestGateway;
    let verdict: Awaited<ReturnType<SessionGatekeeper['mayStart']>> | 'throws';
    let asked: Parameters<SessionGatekeeper['mayStart']>[0][];
    let ended: RoomSession[];
    before(async () => {
      t = await startTestGateway(
        { ...LIVEKIT, LIVEKIT_AGENT_NAME: 'voice-agent' },
        {
          sessionGatekeeper: {
            async mayStart(request) {
              asked.push(request);
              if (verdict === 'throws') throw new Error('socket hang up');
              return verdict;
            },
          },
          onSessionEnded: (session) => void ended.push(session),
        },
      );
    });
    beforeEach(() => {
      verdict = 'allowed';
      asked = [];
      ended = [];
    });
    after(() => t.close());

    it('POST /session dispatches the agent with the session in its metadata, and stores the session', async () => {
      const seen: SeenCall[] = [];
      const scope = mockCreateDispatch(seen, 'AD_abc');
      const body = { room: 'room-a', identity: 'ada', system_prompt: 'You book tables.', greeting: 'Hello, Ada!', metadata: { customer: 7 } };
      const res = await api(t, 'POST', '/session', { body });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(scope.isDone()).to.equal(true);
      const session = res.body;
      expect(session.session_id).to.match(/^ses_[0-9a-f]{32}$/);
      expect(session).to.deep.include({ room: 'room-a', identity: 'ada', state: 'created', dispatch_id: 'AD_abc', system_prompt: 'You book tables.', greeting: 'Hello, Ada!', transcript: [] });
      expect(seen).to.have.length(1);
      expect(seen[0]!.body).to.deep.equal({
        agentName: 'voice-agent',
        room: 'room-a',
        metadata: JSON.stringify({ session_id: session.session_id, system_prompt: 'You book tables.', greeting: 'Hello, Ada!', metadata: { customer: 7 } }),
      });
      expect(seen[0]!.grants.video).to.include({ roomAdmin: true, room: 'room-a' });
      expect(asked).to.deep.equal([{ sessionId: session.session_id, room: 'room-a', identity: 'ada', metadata: { customer: 7 } }]);
      const read = await api(t, 'GET', `/session/${session.session_id}`);
      expect(read.status).to.equal(200);
      expect(read.body).to.deep.equal(session);
    });

    it('answers a retry with the same Idempotency-Key with the same session and no second dispatch', async () => {
      const seen: SeenCall[] = [];
      mockCreateDispatch(seen, 'AD_once');
      const headers = { 'idempotency-key': 'retry-3f9c' };
      const first = await api(t, 'POST', '/session', { body: { room: 'room-idem' }, headers });
      expect(first.status).to.equal(201);
      const again = await api(t, 'POST', '/session', { body: { room: 'room-idem' }, headers });
      expect(again.status).to.equal(200);
      expect(again.headers.get('idempotent-replayed')).to.equal('true');
      expect(again.body).to.deep.equal(first.body);
      expect(seen).to.have.length(1);
      // The key names one request: another room with it is a mistake, not a retry.
      const reused = await api(t, 'POST', '/session', { body: { room: 'room-other' }, headers });
      expect(reused.status).to.equal(409);
      expect(reused.body.error).to.equal('idempotency_key_reused');
      const bad = await api(t, 'POST', '/session', { body: { room: 'r' }, headers: { 'idempotency-key': 'has space' } });
      expect(bad.status).to.equal(400);
      expect(bad.body.details).to.deep.equal([{ field: 'Idempotency-Key', message: 'must be 1 to 255 printable ASCII characters without spaces' }]);
    });

    it('answers 502 when LiveKit refuses the dispatch, without the secret, and a retry with the key starts afresh', async () => {
      const seen: SeenCall[] = [];
      mockCreateDispatch(seen, 'unused', 503);
      const headers = { 'idempotency-key': 'after-502' };
      const res = await api(t, 'POST', '/session', { body: { room: 'room-down' }, headers });
      expect(res.status).to.equal(502);
      expect(res.body).to.deep.equal({ error: 'livekit_error', message: 'could not create the agent dispatch: LiveKit at lk.test answered 503 (unavailable)' });
      expect(JSON.stringify(res.body)).not.to.contain(LIVEKIT.LIVEKIT_API_SECRET);
      const failed = (await api(t, 'GET', '/session?state=failed')).body.sessions;
      expect(failed.map((s: { room: string; end_reason: string }) => [s.room, s.end_reason])).to.deep.include(['room-down', 'dispatch_failed']);
      mockCreateDispatch(seen, 'AD_second');
      const retry = await api(t, 'POST', '/session', { body: { room: 'room-down' }, headers });
      expect(retry.status).to.equal(201);
      expect(retry.body.dispatch_id).to.equal('AD_second');
    });

    it('refuses with 403 when the gatekeeper says no and 502 when it cannot answer, dispatching nothing', async () => {
      verdict = 'denied';
      const denied = await api(t, 'POST', '/session', { body: { room: 'room-no' } });
      expect(denied.status).to.equal(403);
      expect(denied.body.error).to.equal('session_refused');
      verdict = 'unreachable';
      const unreachable = await api(t, 'POST', '/session', { body: { room: 'room-no' } });
      expect(unreachable.status).to.equal(502);
      expect(unreachable.body.error).to.equal('persistence_unreachable');
      verdict = 'throws';
      expect((await api(t, 'POST', '/session', { body: { room: 'room-no' } })).body.error).to.equal('persistence_unreachable');
      expect(asked).to.have.length(3);
      // nock refuses any request it was not told of: none reached LiveKit.
      expect(nock.pendingMocks()).to.deep.equal([]);
    });

    it('names every bad field of a session request in one 400', async () => {
      const res = await api(t, 'POST', '/session', {
        body: { room: 'bad room', identity: 5, system_prompt: 'p'.repeat(8001), greeting: 'a\u0000b', metadata: [1], colour: 'red' },
      });
      expect(res.status).to.equal(400);
      expect(res.body.details.map((d: { field: string }) => d.field).sort()).to.deep.equal(['colour', 'greeting', 'identity', 'metadata', 'room', 'system_prompt']);
      for (const body of [null, [], 'x']) {
        const whole = await api(t, 'POST', '/session', { body });
        expect(whole.status).to.equal(400);
        expect(whole.body.details).to.deep.equal([{ field: 'body', message: 'must be a JSON object' }]);
      }
      const notJson = await api(t, 'POST', '/session', { rawBody: '{"room":', headers: { 'content-type': 'application/json' } });
      expect(notJson.status).to.equal(400);
      expect(notJson.body.error).to.equal('invalid_json');
    });

    it('DELETE /session/{id} deletes the dispatch and ends the session once; LiveKit\'s 404 means already gone', async () => {
      mockCreateDispatch([], 'AD_del');
      const { body: session } = await api(t, 'POST', '/session', { body: { room: 'room-del' } });
      const deletes: SeenCall[] = [];
      mockDeleteDispatch(deletes, 404);
      const stopped = await api(t, 'DELETE', `/session/${session.session_id}`);
      expect(stopped.status).to.equal(200);
      expect(stopped.body).to.deep.include({ state: 'ended', end_reason: 'stopped' });
      expect(deletes.map((d) => d.body)).to.deep.equal([{ dispatchId: 'AD_del', room: 'room-del' }]);
      expect(deletes[0]!.grants.video).to.include({ roomAdmin: true, room: 'room-del' });
      expect(ended.map((s) => s.id)).to.deep.equal([session.session_id]);
      // Again: the ended session, no call to LiveKit, no second hook.
      const again = await api(t, 'DELETE', `/session/${session.session_id}`);
      expect(again.status).to.equal(200);
      expect(again.body).to.deep.equal(stopped.body);
      expect(deletes).to.have.length(1);
      expect(ended).to.have.length(1);
      expect((await api(t, 'DELETE', '/session/ses_unknown')).status).to.equal(404);
    });

    it('DELETE answers 502 and leaves the session live when LiveKit fails, so the client can retry', async () => {
      mockCreateDispatch([], 'AD_keep');
      const { body: session } = await api(t, 'POST', '/session', { body: { room: 'room-keep' } });
      mockDeleteDispatch([], 500);
      const res = await api(t, 'DELETE', `/session/${session.session_id}`);
      expect(res.status).to.equal(502);
      expect(res.body.error).to.equal('livekit_error');
      expect((await api(t, 'GET', `/session/${session.session_id}`)).body.state).to.equal('created');
      mockDeleteDispatch([]);
      expect((await api(t, 'DELETE', `/session/${session.session_id}`)).body.state).to.equal('ended');
    });

    it('GET /session lists newest first with paging and a state filter, and names bad parameters', async () => {
      for (const room of ['list-1', 'list-2', 'list-3']) {
        mockCreateDispatch([], `AD_${room}`);
        expect((await api(t, 'POST', '/session', { body: { room } })).status).to.equal(201);
      }
      const first = await api(t, 'GET', '/session?limit=2');
      expect(first.status).to.equal(200);
      expect(first.body.sessions.map((s: { room: string }) => s.room)).to.deep.equal(['list-3', 'list-2']);
      expect(first.body.sessions[0]).not.to.have.property('transcript');
      const second = await api(t, 'GET', `/session?limit=1&cursor=${first.body.next_cursor}`);
      expect(second.body.sessions.map((s: { room: string }) => s.room)).to.deep.equal(['list-1']);
      const created = await api(t, 'GET', '/session?state=created&limit=200');
      expect(created.body.sessions.every((s: { state: string }) => s.state === 'created')).to.equal(true);
      const bad = await api(t, 'GET', '/session?limit=0&state=gone&cursor=');
      expect(bad.status).to.equal(400);
      expect(bad.body.details.map((d: { field: string }) => d.field)).to.deep.equal(['limit', 'cursor', 'state']);
      const badCursor = await api(t, 'GET', '/session?cursor=bm9wZQ');
      expect(badCursor.status).to.equal(400);
      expect(badCursor.body.details[0].field).to.equal('cursor');
      expect((await api(t, 'GET', '/session/ses_unknown')).body.error).to.equal('session_not_found');
    });

    it('the agent\'s reports reach the session: started, lines in order, ended once (hook included)', async () => {
      mockCreateDispatch([], 'AD_agent');
      const { body: created } = await api(t, 'POST', '/session', { body: { room: 'room-agent' } });
      const sink = t.gateway.roomSessions!;
      await sink.started(created.session_id, { participant: 'agent-AJ_1', jobId: 'AJ_1' });
      await sink.line(created.session_id, { role: 'assistant', text: 'Hello!', atMs: 300 });
      await sink.line(created.session_id, { role: 'user', text: 'Hi there.', atMs: 2100 });
      await sink.line(created.session_id, { role: 'assistant', text: 'How can', atMs: 3500, interrupted: true });
      await sink.ended(created.session_id, 'participant_left');
      await sink.ended(created.session_id, 'participant_left');
      const { body: session } = await api(t, 'GET', `/session/${created.session_id}`);
      expect(session).to.deep.include({ state: 'ended', participant: 'agent-AJ_1', end_reason: 'participant_left' });
      expect(session.started_at <= session.ended_at).to.equal(true);
      expect(session.transcript).to.deep.equal([
        { role: 'assistant', text: 'Hello!', at_ms: 300 },
        { role: 'user', text: 'Hi there.', at_ms: 2100 },
        { role: 'assistant', text: 'How can', at_ms: 3500, interrupted: true },
      ]);
      expect(ended.map((s) => [s.id, s.transcript.length])).to.deep.equal([[created.session_id, 3]]);
    });
  });

  describe('access', () => {
    it('answers 503 livekit_not_configured without LIVEKIT_*, and the rest of the gateway runs', async () => {
      const t = await startTestGateway();
      try {
        for (const [method, path] of [['GET', '/token?room=a&identity=b'], ['POST', '/session'], ['GET', '/session'], ['GET', '/session/ses_x'], ['DELETE', '/session/ses_x']] as const) {
          const res = await api(t, method, path, method === 'POST' ? { body: { room: 'a' } } : {});
          expect(res.status, `${method} ${path}`).to.equal(503);
          expect(res.body.error).to.equal('livekit_not_configured');
        }
        expect((await api(t, 'GET', '/health')).status).to.equal(200);
        expect((await api(t, 'GET', '/api/tasks')).status).to.equal(200);
        expect(t.gateway.roomSessions).to.equal(undefined);
      } finally {
        await t.close();
      }
    });

    it('needs API_KEY like /api, and lets CORS_ORIGINS preflight DELETE and Idempotency-Key', async () => {
      const t = await startTestGateway({ ...LIVEKIT, API_KEY: 'operator-key', CORS_ORIGINS: 'http://localhost:5173' });
      try {
        const open = await api(t, 'GET', '/token?room=a&identity=b');
        expect(open.status).to.equal(401);
        expect(open.body.error).to.equal('unauthorized');
        expect((await api(t, 'GET', '/session', { key: 'wrong' })).status).to.equal(401);
        expect((await api(t, 'GET', '/token?room=a&identity=b', { key: 'operator-key' })).status).to.equal(200);
        expect((await api(t, 'GET', '/session', { key: 'operator-key' })).status).to.equal(200);

        const preflight = await api(t, 'OPTIONS', '/session/ses_x', {
          headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization,idempotency-key' },
        });
        expect(preflight.status).to.equal(204);
        expect(preflight.headers.get('access-control-allow-origin')).to.equal('http://localhost:5173');
        expect(preflight.headers.get('access-control-allow-methods')).to.equal('GET, POST, DELETE');
        expect(preflight.headers.get('access-control-allow-headers')).to.contain('Idempotency-Key');
        const elsewhere = await api(t, 'OPTIONS', '/token', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
        expect(elsewhere.status).to.equal(403);
        expect(elsewhere.headers.get('access-control-allow-origin')).to.equal(null);
        const simple = await api(t, 'GET', '/token?room=a&identity=b', { key: 'operator-key', headers: { origin: 'http://localhost:5173' } });
        expect(simple.headers.get('access-control-allow-origin')).to.equal('http://localhost:5173');
      } finally {
        await t.close();
      }
    });
  });
});
