// WORKERS=2 through the real entry point: Prometheus reaches one port, each scrape lands on one
// worker, and every scrape must report the whole gateway (both workers' calls and frames).
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { parsePrometheusText, type Exposition } from '../helpers/prometheus-text.js';

/** One scrape on its own connection, so scrapes spread over the workers. */
function scrape(base: string): Promise<{ worker: string; metrics: Exposition }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/metrics`, { agent: false, headers: { connection: 'close' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET /metrics answered ${res.statusCode}: ${text}`));
        resolve({ worker: String(res.headers['x-gateway-worker']), metrics: parsePrometheusText(text) });
      });
    });
    req.on('error', reject);
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Scrapes until both workers have answered one whose figures pass `check`; returns the workers that answered. */
async function everyWorkerReports(base: string, what: string, check: (m: Exposition) => boolean): Promise<Set<string>> {
  const answered = new Set<string>();
  await until(what, async () => {
    const { worker, metrics } = await scrape(base);
    if (check(metrics)) answered.add(worker);
    return answered.size === 2 ? true : undefined;
  });
  return answered;
}

describe('GET /metrics with WORKERS=2: one scrape reports the whole gateway', function () {
  this.timeout(90_000);
  let root: string;
  let gateway: GatewayProcess;
  let base: string;
  const callers: FakeTwilioCaller[] = [];

  before(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'gateway-metrics-cluster-'));
    gateway = spawnGateway({
      AGENT_PROVIDER: 'echo',
      PORT: '0',
      HOST: '127.0.0.1',
      WORKERS: '2',
      DATA_DIR: path.join(root, 'data'),
      RECORDINGS_DIR: path.join(root, 'recordings'),
      MEDIA_MAX_LEAD_S: '600',
    });
    await until('both workers ready', async () => (/worker ready worker=worker-2 .*workers=2/.test(gateway.stdout()) ? true : undefined), 60_000);
    base = `http://127.0.0.1:${/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(gateway.stdout())![1]}`;
  });

  after(async () => {
    for (const c of callers) c.close();
    if (gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill('SIGKILL');
    await gateway.exited;
    rmSync(root, { recursive: true, force: true });
  });

  it('sums both workers\' calls and frames whichever worker a scrape lands on', async () => {
    const wsUrl = `${base.replace('http', 'ws')}/twilio/media-stream`;
    for (let i = 0; i < 2; i++) {
      const c = new FakeTwilioCaller({ url: wsUrl, speed: 8 });
      callers.push(c);
      await c.connect();
      await c.streamSilence(200 + i * 100);
    }
    const sent = callers.reduce((sum, c) => sum + c.framesSent, 0);
    // Two live calls (wherever they landed) and every frame of both, from either worker.
    const live = (m: Exposition) => m.value('gateway_calls_active') === 2 && m.value('gateway_caller_frames_in_total') === sent;
    expect([...(await everyWorkerReports(base, 'both workers to report both live calls', live))].sort()).to.deep.equal(['worker-1', 'worker-2']);

    for (const c of callers) await c.stop();
    const ended = (m: Exposition) =>
      m.value('gateway_calls_active') === 0 && m.value('gateway_calls_ended_total', { agent: 'echo', reason: 'twilio_stop' }) === 2 && m.value('gateway_caller_frames_in_total') === sent;
    await everyWorkerReports(base, 'both workers to report both ended calls', ended);
    // One set of families, not one per worker: the text stays valid for a scraper.
    const { metrics } = await scrape(base);
    expect(metrics.samples.filter((s) => s.name === 'gateway_calls_active')).to.have.length(1);
    expect(metrics.value('process_cpu_user_seconds_total')).to.be.greaterThan(0);
  });
});
