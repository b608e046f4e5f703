// /health/live and /health/ready as a load balancer sees them: ready only once listening and
// settled, and not while draining; live all along. Placing a call while draining is refused.
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../../src/config.js';
import { createGateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

describe('health for load balancers', () => {
  let t: TestGateway | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('is live but not ready while it has not finished starting', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'gateway-health-'));
    const config = loadConfig({ DATA_DIR: path.join(root, 'data'), RECORDINGS_DIR: path.join(root, 'recordings') });
    const gateway = await createGateway(config, { logger: silentLogger() });
    // The socket is open, but listen() has not run its start-up work (settling the last run).
    await new Promise<void>((resolve) => gateway.server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
    try {
      const ready = await fetch(`${base}/health/ready`);
      expect(ready.status).to.equal(503);
      expect(await ready.json()).to.deep.equal({ status: 'starting' });
      const live = await fetch(`${base}/health/live`);
      expect(live.status).to.equal(200);
      expect(await live.json()).to.deep.include({ status: 'ok', active_calls: 0 });
    } finally {
      await gateway.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('is ready once started, names the worker that served, and counts one worker', async () => {
    t = await startTestGateway();
    const ready = await fetch(`${t.baseUrl}/health/ready`);
    expect(ready.status).to.equal(200);
    expect(await ready.json()).to.deep.equal({ status: 'ready' });
    expect(ready.headers.get('x-gateway-worker')).to.equal(t.gateway.memberId);
    const health = await (await fetch(`${t.baseUrl}/health`)).json();
    expect(health).to.include({ status: 'ok', workers: 1, active_calls: 0 });
  });

  it('while draining: not ready (503), still live (200), and POST /api/tasks/{id}/call answers 503 draining', async () => {
    t = await startTestGateway();
    const created = await fetch(`${t.baseUrl}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: '+15550002222' }) });
    const { id } = (await created.json()) as { id: string };
    await t.gateway.drain(1000);
    const ready = await fetch(`${t.baseUrl}/health/ready`);
    expect(ready.status).to.equal(503);
    expect(await ready.json()).to.deep.equal({ status: 'draining' });
    const live = await fetch(`${t.baseUrl}/health/live`);
    expect(live.status).to.equal(200);
    expect(await live.json()).to.include({ status: 'draining' });
    const placed = await fetch(`${t.baseUrl}/api/tasks/${id}/call`, { method: 'POST' });
    expect(placed.status).to.equal(503);
    expect(await placed.json()).to.include({ error: 'draining' });
  });
});
