// WS /ws/transcript/{session_id}, fed through the same RoomSessionSink the room agent uses: the
// snapshot first, then each line once and in order to every watcher, a slow watcher dropped while
// the session goes on, and a watcher on another instance (PostgreSQL fleet) seeing it all too.
import type { Socket } from 'node:net';
import { expect } from 'chai';
import nock from 'nock';
import type WebSocket from 'ws';
import { openPgChannel } from '../../src/fleet/pg-channel.js';
import { openRoomSessionSink } from '../../src/rooms/index.js';
import type { RoomSessionSink } from '../../src/rooms/session-events.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import type { TranscriptSocketMessage } from '../../src/rooms/schemas.js';
import { freshDatabase } from '../helpers/postgres.js';
import { api, eventually, Watcher } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const KEY = 'watch-key';
const LIVEKIT = { LIVEKIT_URL: 'http://lk.test', LIVEKIT_API_KEY: 'APItranscripts', LIVEKIT_API_SECRET: 'transcript-test-secret-long-enough-for-hs256' };

/** A session as POST /session makes it, LiveKit's CreateDispatch answered by nock. */
async function createSession(t: TestGateway, room: string, key?: string): Promise<string> {
  nock('http://lk.test').post('/twirp/livekit.AgentDispatchService/CreateDispatch').reply(200, { id: `AD_${room}`, agentName: 'voice-agent', room });
  const res = await api(t, 'POST', '/session', { body: { room }, ...(key !== undefined && { key }) });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return res.body.session_id as string;
}

const watch = (t: TestGateway, sessionId: string, query = '') => Watcher.openPath(t, `/ws/transcript/${sessionId}${query}`);
const messages = (w: Watcher) => w.messages as unknown as TranscriptSocketMessage[];
/** What a watcher saw, in a line each: `snapshot:<lines>`, `line:<text>`, `state:<state>`. */
function story(w: Watcher): string[] {
  return messages(w).map((m) => (m.type === 'snapshot' ? `snapshot:${m.session.transcript.length}` : m.type === 'transcript' ? `line:${m.line.text}` : `state:${m.state}`));
}

describe('WS /ws/transcript/{session_id}', function () {
  this.timeout(30_000);
  let t: TestGateway;
  let sink: RoomSessionSink;
  before(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1/);
    t = await startTestGateway({ ...LIVEKIT, API_KEY: 'watch-key', CORS_ORIGINS: 'http://localhost:5173' });
    sink = t.gateway.roomSessions!;
  });
  after(async () => {
    await t.close();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('sends the snapshot, then each line and state change once, in order, to every watcher', async () => {
    const id = await createSession(t, 'room-watch', KEY);
    await sink.started(id, { participant: 'agent-1' });
    await sink.line(id, { role: 'assistant', text: 'Hello!', atMs: 250 });
    const first = await watch(t, id, '?token=watch-key');
    const second = await watch(t, id, '?token=watch-key');
    await first.waitFor((m) => m.type === 'snapshot');
    await second.waitFor((m) => m.type === 'snapshot');
    const snapshot = messages(first)[0] as Extract<TranscriptSocketMessage, { type: 'snapshot' }>;
    expect(snapshot.session).to.deep.include({ session_id: id, room: 'room-watch', state: 'active', participant: 'agent-1' });
    expect(snapshot.session.transcript).to.deep.equal([{ role: 'assistant', text: 'Hello!', at_ms: 250 }]);

    await sink.line(id, { role: 'user', text: 'I would like a table.', atMs: 1800 });
    await sink.line(id, { role: 'assistant', text: 'For how many', atMs: 3100, interrupted: true });
    await sink.line(id, { role: 'user', text: 'Four.', atMs: 3300 });
    await sink.ended(id, 'participant_left');
    for (const w of [first, second]) {
      await eventually(() => (messages(w).some((m) => m.type === 'state') ? true : undefined), 5000, 'the end');
      expect(story(w)).to.deep.equal(['snapshot:1', 'line:I would like a table.', 'line:For how many', 'line:Four.', 'state:ended']);
    }
    expect(messages(first)[2]).to.deep.equal({ type: 'transcript', line: { role: 'assistant', text: 'For how many', at_ms: 3100, interrupted: true } });
    const end = messages(first)[4] as Extract<TranscriptSocketMessage, { type: 'state' }>;
    expect(end).to.include({ type: 'state', state: 'ended', reason: 'participant_left' });
    expect(end.at).to.equal((await api(t, 'GET', `/session/${id}`, { key: 'watch-key' })).body.ended_at);
    first.close();
    second.close();
  });

  it('refuses the upgrade without the key (401), from another origin (403), for an unknown session (404)', async () => {
    const id = await createSession(t, 'room-refuse', KEY);
    expect(await Watcher.upgradeStatus(t, `/ws/transcript/${id}`)).to.equal(401);
    expect(await Watcher.upgradeStatus(t, `/ws/transcript/${id}?token=wrong`)).to.equal(401);
    expect(await Watcher.upgradeStatus(t, `/ws/transcript/${id}?token=watch-key`, { origin: 'https://evil.example' })).to.equal(403);
    expect(await Watcher.upgradeStatus(t, `/ws/transcript/${id}?token=watch-key`, { origin: 'http://localhost:5173' })).to.equal(101);
    expect(await Watcher.upgradeStatus(t, '/ws/transcript/ses_nope?token=watch-key')).to.equal(404);
    expect(await Watcher.upgradeStatus(t, `/ws/transcript/${id}`, { authorization: 'Bearer watch-key' })).to.equal(101);
  });

  it('drops a watcher that reads too slowly while the session and the other watcher go on', async () => {
    const id = await createSession(t, 'room-slow', KEY);
    // The interceptor would read the slow socket on its behalf; this test needs real backpressure.
    nock.restore();
    try {
      const fast = await watch(t, id, '?token=watch-key');
      const slow = await watch(t, id, '?token=watch-key');
      await fast.waitFor((m) => m.type === 'snapshot');
      await slow.waitFor((m) => m.type === 'snapshot');
      (slow.socket as WebSocket & { _socket: Socket })._socket.pause();
      // 160 lines of 64 KiB: about 10 MiB, far more than the socket buffers and the 1 MiB cap.
      const LINES = 160;
      const text = 'la '.repeat((64 * 1024) / 3);
      for (let i = 0; i < LINES; i++) {
        await sink.line(id, { role: 'assistant', text: `${i} ${text}`, atMs: i * 100 });
        // An agent speaks over seconds, not in one tick: the fast watcher's socket drains meanwhile.
        if (i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
      }
      await eventually(() => (messages(fast).filter((m) => m.type === 'transcript').length === LINES ? true : undefined), 15_000, 'every line at the fast watcher');
      await sink.line(id, { role: 'user', text: 'still here', atMs: 99_000 });
      await sink.ended(id, 'participant_left');
      await eventually(() => (messages(fast).some((m) => m.type === 'state') ? true : undefined), 5000, 'the end at the fast watcher');
      (slow.socket as WebSocket & { _socket: Socket })._socket.resume();
      await eventually(() => slow.closed, 5000, 'the slow watcher to be dropped');
      expect(slow.closed!.code).to.equal(1006);
      expect(messages(slow).filter((m) => m.type === 'transcript').length).to.be.lessThan(LINES);
      expect(fast.closed).to.equal(undefined);
      expect(story(fast).slice(-2)).to.deep.equal(['line:still here', 'state:ended']);
      const session = (await api(t, 'GET', `/session/${id}`, { key: 'watch-key' })).body;
      expect(session.transcript).to.have.length(LINES + 1);
      expect(session.state).to.equal('ended');
      fast.close();
    } finally {
      nock.activate();
    }
  });

  it('answers 503 without LIVEKIT_* configuration', async () => {
    const bare = await startTestGateway();
    try {
      expect(await Watcher.upgradeStatus(bare, '/ws/transcript/ses_any')).to.equal(503);
    } finally {
      await bare.close();
    }
  });
});

describe('WS /ws/transcript/{session_id} across instances (PostgreSQL)', function () {
  this.timeout(60_000);
  let url: string;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1/);
    url = await freshDatabase();
    a = await startTestGateway({ ...LIVEKIT, DATABASE_URL: url });
    b = await startTestGateway({ ...LIVEKIT, DATABASE_URL: url });
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('shows a watcher on one instance every line the agent reports on another, once, in order', async () => {
    const id = await createSession(a, 'room-fleet');
    const sinkA = a.gateway.roomSessions!;
    await sinkA.line(id, { role: 'assistant', text: 'one', atMs: 1 });
    const watcher = await watch(b, id);
    await watcher.waitFor((m) => m.type === 'snapshot');
    for (const text of ['two', 'three', 'four']) await sinkA.line(id, { role: 'user', text, atMs: 2 });
    await sinkA.ended(id, 'done');
    await eventually(() => (messages(watcher).some((m) => m.type === 'state') ? true : undefined), 10_000, 'the end on the other instance');
    expect(story(watcher)).to.deep.equal(['snapshot:1', 'line:two', 'line:three', 'line:four', 'state:ended']);
    watcher.close();
  });

  it('hears an agent outside the gateway (its own store and fleet connection) through openRoomSessionSink', async () => {
    const id = await createSession(a, 'room-outside');
    const channel = await openPgChannel(url, { memberId: `agent-${process.pid}` });
    const ended: string[] = [];
    const outside = await openRoomSessionSink({ databaseUrl: url, dataDir: 'unused' }, { logger: silentLogger(), channel, onSessionEnded: (s) => void ended.push(s.id) });
    try {
      const watcher = await watch(b, id);
      await watcher.waitFor((m) => m.type === 'snapshot');
      await outside.sink.started(id, { participant: 'agent-AJ_9', jobId: 'AJ_9' });
      await outside.sink.line(id, { role: 'assistant', text: 'Hello from the job.', atMs: 5 });
      await outside.sink.ended(id, 'job_done');
      await eventually(() => (story(watcher).includes('state:ended') ? true : undefined), 10_000, 'the end from outside');
      expect(story(watcher)).to.deep.equal(['snapshot:0', 'state:active', 'line:Hello from the job.', 'state:ended']);
      expect((await api(a, 'GET', `/session/${id}`)).body).to.deep.include({ state: 'ended', participant: 'agent-AJ_9', end_reason: 'job_done' });
      expect(ended).to.deep.equal([id]);
      // A client's DELETE after the agent's own end changes nothing, asks LiveKit nothing, and calls no hook twice.
      expect((await api(b, 'DELETE', `/session/${id}`)).body.end_reason).to.equal('job_done');
      watcher.close();
    } finally {
      await outside.close();
      await channel.close();
    }
  });
});
