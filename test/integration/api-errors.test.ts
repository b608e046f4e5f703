// What a client sees when a request is wrong, and what the operator's log makes of it: one error
// shape on every route, no long echo of the request, and a client's own mistakes logged as info.
import { once } from 'node:events';
import { expect } from 'chai';
import WebSocket from 'ws';
import { api } from '../helpers/task-api.js';
import { capturingLogger, type CapturingLogger } from '../helpers/capturing-logger.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { SIMULATED_CALLER_ID } from '../../src/tasks/model.js';

const LONG = 'x'.repeat(10_000);
const MAX_MESSAGE_CHARS = 200;

describe('API errors', function () {
  this.timeout(10_000);
  let t: TestGateway;
  let log: CapturingLogger;

  beforeEach(async () => {
    log = capturingLogger('debug');
    t = await startTestGateway({}, { logger: log.logger });
  });
  afterEach(async () => t.close());

  it('answers a JSON body of null (or any non-object) with "must be a JSON object", not "not valid JSON"', async () => {
    for (const rawBody of ['null', '[]', '"to"', '42']) {
      const res = await api(t, 'POST', '/api/tasks', { rawBody });
      expect(res.status, rawBody).to.equal(400);
      expect(res.body, rawBody).to.deep.equal({
        error: 'invalid_request',
        message: 'the task is not valid',
        details: [{ field: 'body', message: 'must be a JSON object' }],
      });
    }
    const broken = await api(t, 'POST', '/api/tasks', { rawBody: '{"to":' });
    expect(broken.status).to.equal(400);
    expect(broken.body.error).to.equal('invalid_json');
  });

  it('never echoes a 10,000-character id, cursor or path back', async () => {
    const replies = [
      await api(t, 'GET', `/api/tasks/${LONG}`),
      await api(t, 'POST', `/api/tasks/${LONG}/call`),
      // One long parameter a request: Node refuses request lines over 16 KiB by itself (431).
      await api(t, 'GET', `/api/tasks?cursor=${LONG}`),
      await api(t, 'GET', `/api/tasks?status=${LONG}`),
      await api(t, 'GET', `/api/tasks?limit=${LONG}`),
      await api(t, 'GET', `/api/telemetry/recent?limit=${LONG}`),
      await api(t, 'GET', `/no/such/route/${LONG}`),
      await api(t, 'GET', `/api/tasks/%E0%A4%A${LONG}`),
    ];
    for (const res of replies) {
      expect(res.status).to.be.within(400, 499);
      expect(res.body).to.have.property('error').that.is.a('string');
      expect(res.body).to.have.property('message').that.is.a('string');
      expect(JSON.stringify(res.body).length, JSON.stringify(res.body).slice(0, 80)).to.be.below(MAX_MESSAGE_CHARS * 2);
    }
    expect(replies[0]!.body.message).to.match(/^no task with id "x{40}…"$/);
    expect(log.text()).to.not.contain('x'.repeat(300));
  });

  it('answers /api/telemetry errors in the same {error, message, details} shape as every route', async () => {
    const res = await api(t, 'GET', '/api/telemetry/recent?limit=0');
    expect(res.status).to.equal(400);
    expect(res.body).to.deep.equal({
      error: 'invalid_request',
      message: 'the query is not valid',
      details: [{ field: 'limit', message: 'must be an integer from 1 to 1000' }],
    });
  });

  it('logs a client\'s own mistakes (400, 401, 404) at info, not as warnings', async () => {
    await t.close();
    log = capturingLogger('debug');
    t = await startTestGateway({ API_KEY: 'k' }, { logger: log.logger });
    expect((await api(t, 'GET', '/api/tasks')).status).to.equal(401);
    expect((await api(t, 'GET', '/api/tasks/task_nope', { key: 'k' })).status).to.equal(404);
    expect((await api(t, 'POST', '/api/tasks', { key: 'k', body: { to: 'nope' } })).status).to.equal(400);
    const refused = log.lines.filter((line) => line['message'] === 'api request refused');
    expect(refused.map((line) => line['status'])).to.deep.equal([401, 404, 400]);
    for (const line of refused) expect(line['level']).to.equal('info');
    // The live socket's refusals too.
    for (const [url, status] of [[`/ws/call/task_nope?token=k`, 404], ['/ws/call/task_nope', 401]] as const) {
      const ws = new WebSocket(t.baseUrl.replace('http:', 'ws:') + url);
      const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
      expect(res.statusCode).to.equal(status);
    }
    const watchers = log.lines.filter((line) => line['message'] === 'refused a live watcher');
    expect(watchers.map((line) => [line['status'], line['level']])).to.deep.equal([
      [404, 'info'],
      [401, 'info'],
    ]);
    expect(log.lines.filter((line) => line['level'] === 'warn')).to.deep.equal([]);
  });

  it('logs one line per HTTP request at debug level, without the query', async () => {
    await api(t, 'GET', '/health?token=secret-in-query');
    const lines = log.lines.filter((line) => line['message'] === 'http request');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ level: 'debug', method: 'GET', path: '/health', status: 200 });
    expect(log.text()).to.not.contain('secret-in-query');
  });

  it('makes the README\'s first task example work on the defaults, with a documented simulated caller id', async () => {
    const res = await api(t, 'POST', '/api/tasks', {
      body: { to: '+14155550123', prompt: 'Confirm the appointment on Tuesday at 3 pm', greeting: 'Hi, this is the clinic.' },
    });
    expect(res.status).to.equal(201);
    expect(res.body).to.include({ to: '+14155550123', from: SIMULATED_CALLER_ID, status: 'created' });
  });
});
