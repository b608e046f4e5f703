// GET /api/calls and GET /api/calls/{id} over a store holding known calls: filters, paging newest
// first, every bad parameter named in one 400, 404s, the API key, and views that never show a path.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { openSqliteCallStore } from '../../src/calls/sqlite-store.js';
import type { CallStore } from '../../src/calls/store.js';
import type { CallPage, CallView } from '../../src/calls/schemas.js';
import { api } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const KEY = 'calls-api-key';
const STARTED = '2026-12-03T09:00:00.000Z';

describe('calls API routes', () => {
  let dir: string;
  let store: CallStore;
  let t: TestGateway;
  let clock: Date;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'calls-routes-'));
    store = openSqliteCallStore(dir, { now: () => clock });
    const at = (iso: string) => (clock = new Date(iso));
    at('2026-12-03T10:00:00.000Z');
    await store.create({ id: 'in-1', direction: 'inbound', agent: 'deepgram', callSid: 'CA1', from: '+14155550100', startedAt: STARTED });
    await store.appendTranscript('in-1', { role: 'user', text: 'Hi', atMs: 500 });
    await store.appendEvent('in-1', { type: 'dtmf', atMs: 900.125 });
    await store.finish('in-1', { status: 'completed', endedAt: STARTED, durationMs: 3000, endReason: 'twilio_stop', recordingPath: path.join(dir, 'gone.wav'), recordingMs: 2980 });
    at('2026-12-03T11:00:00.000Z');
    await store.create({ id: 'out-1', direction: 'outbound', agent: 'deepgram', taskId: 'task_a', startedAt: STARTED });
    await store.finish('out-1', { status: 'failed', endedAt: STARTED, durationMs: 100, endReason: 'agent_error', endDetail: 'no answer from the agent' });
    at('2026-12-03T12:00:00.000Z');
    await store.create({ id: 'br-1', direction: 'browser', agent: 'echo', transcriptNote: 'no words' });
    t = await startTestGateway({ API_KEY: KEY }, { callStore: store });
    // Made after the start: a call in progress before it would be a dead process's, settled at start.
    at('2026-12-03T13:00:00.000Z');
    await store.create({ id: 'in-2', direction: 'inbound', agent: 'echo', startedAt: STARTED });
  });

  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = <T = any>(p: string) => api<T>(t, 'GET', p, { key: KEY });
  const ids = async (query: string): Promise<string[]> => {
    const res = await get<CallPage>(`/api/calls${query}`);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body.calls.map((c) => c.id);
  };

  it('needs the API key', async () => {
    expect((await api(t, 'GET', '/api/calls')).status).to.equal(401);
    expect((await api(t, 'GET', '/api/calls/in-1')).status).to.equal(401);
    expect((await api(t, 'POST', '/api/calls/browser')).status).to.equal(401);
  });

  it('pages newest first with a cursor', async () => {
    const first = await get<CallPage>('/api/calls?limit=3');
    expect(first.body.calls.map((c) => c.id)).to.deep.equal(['in-2', 'br-1', 'out-1']);
    const rest = await get<CallPage>(`/api/calls?limit=3&cursor=${first.body.nextCursor}`);
    expect(rest.body.calls.map((c) => c.id)).to.deep.equal(['in-1']);
    expect(rest.body).to.not.have.property('nextCursor');
  });

  it('filters by direction, status, agent, task and time range', async () => {
    expect(await ids('?direction=inbound')).to.deep.equal(['in-2', 'in-1']);
    expect(await ids('?status=failed')).to.deep.equal(['out-1']);
    expect(await ids('?status=pending&direction=browser')).to.deep.equal(['br-1']);
    expect(await ids('?agent=echo')).to.deep.equal(['in-2', 'br-1']);
    expect(await ids('?taskId=task_a')).to.deep.equal(['out-1']);
    expect(await ids('?since=2026-12-03T11:00:00Z&until=2026-12-03T13:00:00Z')).to.deep.equal(['br-1', 'out-1']);
    // 12:30 at UTC+1 is 11:30 UTC.
    expect(await ids('?since=2026-12-03T12:30:00%2B01:00')).to.deep.equal(['in-2', 'br-1']);
    expect(await ids('?agent=')).to.have.length(4);
  });

  it('names every bad parameter in one 400', async () => {
    const res = await get('/api/calls?limit=0&direction=sideways&status=done&since=yesterday&until=2026-13-01&stauts=failed&cursor=');
    expect(res.status).to.equal(400);
    expect(res.body.error).to.equal('invalid_request');
    expect(res.body.details.map((d: { field: string }) => d.field).sort()).to.deep.equal(['cursor', 'direction', 'limit', 'since', 'status', 'stauts', 'until']);
    // Days Date() would roll over or PostgreSQL refuse (year 0): named, not read as another day nor a 500.
    const impossible = await get('/api/calls?since=2026-02-31&until=0000-01-01T00:00:00Z');
    expect(impossible.status).to.equal(400);
    expect(impossible.body.details.map((d: { field: string }) => d.field)).to.deep.equal(['since', 'until']);
    const yearZero = await get('/api/calls?since=0000-06-01');
    expect(yearZero.status).to.equal(400);
    expect(yearZero.body.details.map((d: { field: string }) => d.field)).to.deep.equal(['since']);
    expect(await ids('?since=2024-02-29&until=2026-12-31T23:59:59Z')).to.have.length(4);
    const backwards = await get('/api/calls?since=2026-12-03T12:00:00Z&until=2026-12-03T11:00:00Z');
    expect(backwards.status).to.equal(400);
    expect(backwards.body.details).to.deep.equal([{ field: 'until', message: 'must be later than since' }]);
    const cursor = await get('/api/calls?cursor=bm90LW91cnM');
    expect(cursor.status).to.equal(400);
    expect(cursor.body.details[0].field).to.equal('cursor');
    const twice = await get('/api/calls?direction=inbound&direction=outbound');
    expect(twice.status).to.equal(400);
    expect(twice.body.details).to.deep.equal([{ field: 'direction', message: 'must be given once, as a plain value' }]);
  });

  it('shows a call with its transcript and events, its recording as a URL, never the path', async () => {
    const res = await get<CallView>('/api/calls/in-1');
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({
      id: 'in-1',
      direction: 'inbound',
      status: 'completed',
      agent: 'deepgram',
      callSid: 'CA1',
      from: '+14155550100',
      createdAt: '2026-12-03T10:00:00.000Z',
      startedAt: STARTED,
      endedAt: STARTED,
      durationMs: 3000,
      endReason: 'twilio_stop',
      audioUrl: '/api/calls/in-1/audio',
      recordingMs: 2980,
      transcriptAvailable: true,
      transcript: [{ role: 'user', text: 'Hi', atMs: 500 }],
      events: [{ type: 'dtmf', atMs: 900.125 }],
    });
    expect(JSON.stringify((await get('/api/calls')).body)).to.not.contain(dir);
    expect((await get<CallView>('/api/calls/br-1')).body).to.deep.include({ transcriptAvailable: false, transcriptNote: 'no words' });
  });

  it('answers 404 for an unknown call or a recording that is not there, 409 for analysis of a call not ended or without a transcript', async () => {
    const missing = await get('/api/calls/nope');
    expect(missing.status).to.equal(404);
    expect(missing.body).to.deep.equal({ error: 'call_not_found', message: 'no call with id "nope"' });
    const gone = await get('/api/calls/in-1/audio');
    expect(gone.status).to.equal(404);
    expect(gone.body.error).to.equal('recording_not_found');
    expect((await get('/api/calls/out-1/audio')).body.error).to.equal('recording_not_found');
    const live = await get('/api/calls/in-2/analysis');
    expect(live.status).to.equal(409);
    expect(live.body.error).to.equal('call_not_ended');
    const echo = await get('/api/calls/br-1/analysis');
    expect(echo.status).to.equal(409);
    expect(echo.body.error).to.equal('no_transcript');
  });

  it('refuses a browser-call body with fields', async () => {
    const res = await api(t, 'POST', '/api/calls/browser', { key: KEY, body: { agent: 'other' } });
    expect(res.status).to.equal(400);
    expect(res.body.error).to.equal('invalid_request');
  });
});
