// The console as the gateway serves it: the page at / (always revalidated, a strict CSP), its
// bundles built in process and served under hashed names (cached for a year), open without the
// API key while the API behind it is not, and the live socket open to the gateway's own pages.
import { expect } from 'chai';
import { api, Watcher } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const KEY = 'console-test-key';

describe('the console served at /', function () {
  this.timeout(30_000);
  let t: TestGateway;

  before(async () => {
    t = await startTestGateway({ API_KEY: KEY });
  });
  after(() => t.close());

  it('serves the page without the key, always revalidated, under a CSP that allows only this origin', async () => {
    const res = await fetch(t.baseUrl + '/');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/html/);
    expect(res.headers.get('cache-control')).to.equal('no-cache');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).to.include("default-src 'none'").and.include("script-src 'self'").and.include("frame-ancestors 'none'");
    // Sockets only to this host: a bare `ws:`/`wss:` would let a script send the key to any host.
    const host = new URL(t.baseUrl).host;
    const connect = csp.split('; ').find((directive) => directive.startsWith('connect-src '))!;
    expect(connect.split(' ').slice(1).sort()).to.deep.equal(["'self'", `ws://${host}`, `wss://${host}`].sort());
    const html = await res.text();
    expect(html).to.match(/<script type="module" src="\/console\/app-[0-9a-f]{12}\.js"><\/script>/);
    expect(html).to.match(/data-worklet="\/console\/worklet-[0-9a-f]{12}\.js"/);
    // The data is not open: the API still wants the key.
    expect((await api(t, 'GET', '/api/tasks')).status).to.equal(401);
  });

  it('serves the bundles under content-hashed names, cached for a year, and 404s any other name', async () => {
    const html = await (await fetch(t.baseUrl + '/')).text();
    const assets = [...html.matchAll(/\/console\/[\w-]+\.(?:js|css)/g)].map((m) => m[0]);
    expect(assets).to.have.length(3);
    for (const asset of assets) {
      const res = await fetch(t.baseUrl + asset);
      expect(res.status, asset).to.equal(200);
      expect(res.headers.get('cache-control')).to.equal('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type')).to.match(asset.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      expect((await res.arrayBuffer()).byteLength).to.be.greaterThan(1000);
    }
    const missing = await api(t, 'GET', '/console/app-000000000000.js');
    expect(missing.status).to.equal(404);
    expect(missing.body.error).to.equal('not_found');
  });

  it("opens a task's live socket to the gateway's own page (same origin), and still refuses other origins", async () => {
    const task = (await api(t, 'POST', '/api/tasks', { key: KEY, body: { to: '+14155550123' } })).body;
    const path = `/ws/call/${task.id}?token=${KEY}`;
    const own = new URL(t.baseUrl).host;
    expect(await Watcher.upgradeStatus(t, path, { origin: `http://${own}` })).to.equal(101);
    expect(await Watcher.upgradeStatus(t, path, { origin: 'http://evil.example.com' })).to.equal(403);
    // The key is still needed, whatever the origin.
    expect(await Watcher.upgradeStatus(t, `/ws/call/${task.id}`, { origin: `http://${own}` })).to.equal(401);
  });
});

describe("the console's CSP with PUBLIC_URL set", function () {
  this.timeout(30_000);
  let t: TestGateway;

  before(async () => {
    t = await startTestGateway({ API_KEY: KEY, PUBLIC_URL: 'https://gateway.example.com' });
  });
  after(() => t.close());

  it('lets sockets go to PUBLIC_URL too (where a browser call streams), and nowhere else', async () => {
    const res = await fetch(t.baseUrl + '/');
    const connect = res.headers.get('content-security-policy')!.split('; ').find((directive) => directive.startsWith('connect-src '))!;
    const host = new URL(t.baseUrl).host;
    expect(connect.split(' ').slice(1).sort()).to.deep.equal(["'self'", `ws://${host}`, `wss://${host}`, 'wss://gateway.example.com'].sort());
  });

  it('leaves a Host header that could end the directive out of the policy', async () => {
    const { request } = await import('node:http');
    const csp = await new Promise<string>((resolve, reject) => {
      const url = new URL(t.baseUrl);
      request({ host: url.hostname, port: url.port, path: '/', headers: { host: 'evil.example; script-src *' } }, (res) => {
        res.resume();
        resolve(String(res.headers['content-security-policy']));
      })
        .on('error', reject)
        .end();
    });
    expect(csp).to.not.include('evil');
    expect(csp).to.include("script-src 'self'");
  });
});
