import { expect } from 'chai';
import express from 'express';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Telemetry } from '../../src/telemetry/events.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import type { SummaryRow, TelemetryEvent } from '../../src/telemetry/events.js';
import { telemetryRoutes } from '../../src/telemetry/routes.js';

const SINCE = new Date('2026-01-01T00:00:00.000Z');

describe('telemetry routes', () => {
  let server: Server;
  let base: string;

  before(async () => {
    const telemetry = new Telemetry({ noisyEveryN: 1 });
    for (let i = 1; i <= 6; i += 1) {
      telemetry.record('twilio', i % 2 === 0 ? 'start' : 'stop', { callSid: `CA${i}` });
      telemetry.record('agent', 'first_audio', { durationMs: i * 100, callSid: `CA${i}` });
    }
    const sampled = new Telemetry({ noisyEveryN: 10 });
    for (let i = 0; i < 25; i += 1) sampled.record('twilio', 'media_event', { durationMs: 0.0123456 * (i + 1) });
    const app = express();
    app.use('/api/telemetry', telemetryRoutes(telemetry, silentLogger(), { noisyEveryN: 1, since: SINCE }));
    app.use('/api/sampled', telemetryRoutes(sampled, silentLogger(), { noisyEveryN: 10, since: SINCE }));
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/telemetry`;
  });

  after(async () => {
    server.close();
    await once(server, 'close');
  });

  async function getJson(pathAndQuery: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${base}${pathAndQuery}`);
    expect(res.headers.get('content-type')).to.match(/^application\/json/);
    return { status: res.status, body: await res.json() };
  }

  it('GET /recent returns the newest events first, 100 at most by default', async () => {
    const { status, body } = await getJson('/recent');
    expect(status).to.equal(200);
    const { events } = body as { events: TelemetryEvent[] };
    expect(events).to.have.length(12);
    expect(events[0]).to.deep.include({ component: 'agent', action: 'first_audio', duration_ms: 600, call_sid: 'CA6' });
  });

  it('GET /recent filters by component and action and honours the limit', async () => {
    const { status, body } = await getJson('/recent?component=twilio&action=start&limit=2');
    expect(status).to.equal(200);
    const { events } = body as { events: TelemetryEvent[] };
    expect(events.map((e) => [e.component, e.action, e.call_sid])).to.deep.equal([
      ['twilio', 'start', 'CA6'],
      ['twilio', 'start', 'CA4'],
    ]);
  });

  it('GET /recent treats an empty filter as no filter', async () => {
    const { body } = await getJson('/recent?component=&limit=1000');
    expect((body as { events: unknown[] }).events).to.have.length(12);
  });

  for (const limit of ['0', '1001', 'abc', '2.5', '-3', '', '1e2']) {
    it(`GET /recent?limit=${limit} is a 400 that names the field`, async () => {
      const { status, body } = await getJson(`/recent?limit=${encodeURIComponent(limit)}`);
      expect(status).to.equal(400);
      expect(body).to.deep.equal({
        error: 'invalid_request',
        message: 'the query is not valid',
        details: [{ field: 'limit', message: 'must be an integer from 1 to 1000' }],
      });
    });
  }

  it('GET /recent with a repeated parameter is a 400 for each such field', async () => {
    const { status, body } = await getJson('/recent?limit=1&limit=2&action=a&action=b');
    expect(status).to.equal(400);
    const { error, details } = body as { error: string; details: { field: string; message: string }[] };
    expect(error).to.equal('invalid_request');
    expect(details.map((d) => d.field)).to.deep.equal(['limit', 'action']);
  });

  it('GET /summary returns one row per component and action', async () => {
    const { status, body } = await getJson('/summary');
    expect(status).to.equal(200);
    const { rows, window } = body as { rows: SummaryRow[]; window: { since: string; until: string } };
    expect(window.since).to.equal(SINCE.toISOString());
    expect(Date.parse(window.until)).to.be.at.least(SINCE.getTime());
    expect(rows.map((r) => `${r.component}/${r.action}`)).to.deep.equal(['agent/first_audio', 'twilio/start', 'twilio/stop']);
    expect(rows[0]).to.deep.equal({
      component: 'agent',
      action: 'first_audio',
      count: 6,
      avg_ms: 350,
      min_ms: 100,
      max_ms: 600,
      p50_ms: 300,
      p90_ms: 600,
      p95_ms: 600,
      p99_ms: 600,
    });
    expect(rows[1]).to.include({ count: 3, avg_ms: null, p50_ms: null });
  });

  it('GET /summary says which counts are sampled and rounds every figure to microseconds', async () => {
    const res = await fetch(`${base.replace('/api/telemetry', '/api/sampled')}/summary`);
    const body = (await res.json()) as {
      sampling: { every_n: number; actions: string[] };
      rows: Array<SummaryRow & { sampled_every?: number }>;
    };
    expect(body.sampling.every_n).to.equal(10);
    expect(body.sampling.actions).to.include('media_event');
    const [row] = body.rows;
    // Events 1, 11 and 21 of 25 were kept.
    expect(row).to.deep.include({ component: 'twilio', action: 'media_event', count: 3, sampled_every: 10 });
    for (const key of ['avg_ms', 'min_ms', 'max_ms', 'p50_ms', 'p90_ms', 'p95_ms', 'p99_ms'] as const) {
      const value = row![key]!;
      expect(Math.round(value * 1000) / 1000, key).to.equal(value);
    }
    expect(row!.min_ms).to.equal(0.012);
  });
});
