// A browser call whose stream never opens is failed as `never_connected` after
// BROWSER_CALL_CONNECT_TIMEOUT_S (its watchers told), and a stream naming it afterwards is refused.
import { expect } from 'chai';
import type { BrowserCallCreated, CallView } from '../../src/calls/schemas.js';
import { FakeTwilioCaller, randomSid } from '../../tools/twilio-caller.js';
import { scriptedAgents } from '../helpers/scripted-agent.js';
import { api, Watcher } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

describe('browser calls whose stream never opens', function () {
  this.timeout(30_000);
  let t: TestGateway | undefined;
  let caller: FakeTwilioCaller | undefined;
  afterEach(async () => {
    caller?.close();
    await t?.close();
    caller = t = undefined;
  });

  it('are failed as never_connected after BROWSER_CALL_CONNECT_TIMEOUT_S, watchers told, and their stream refused', async () => {
    t = await startTestGateway({ BROWSER_CALL_CONNECT_TIMEOUT_S: '1' });
    const { callId, customParameters } = (await api<BrowserCallCreated>(t, 'POST', '/api/calls/browser')).body;
    const watcher = await Watcher.open(t, callId);
    await watcher.waitFor((m) => m.type === 'call_status' && m.status === 'failed', 15_000);
    const call = (await api<CallView>(t, 'GET', `/api/calls/${callId}`)).body;
    expect(call).to.deep.include({ status: 'failed', endReason: 'never_connected', durationMs: 0 });
    expect(Date.parse(call.endedAt!) - Date.parse(call.createdAt)).to.be.at.least(1000);

    caller = new FakeTwilioCaller({ url: t.wsUrl, speed: 8, callSid: randomSid('CA'), customParameters });
    await caller.connect();
    const refused = await t.nextEnded();
    expect(refused.reason).to.equal('stream_refused');
    expect(refused.detail).to.match(/not a browser call waiting for its stream/);
    expect((await api<CallView>(t, 'GET', `/api/calls/${callId}`)).body).to.deep.include({ status: 'failed', endReason: 'never_connected' });
    watcher.close();
  });

  it('refuse an analysis once failed as never_connected (nobody spoke), with an agent that keeps transcripts', async () => {
    // An LLM is configured: without the refusal the analysis would start (202) on an empty call.
    t = await startTestGateway({ BROWSER_CALL_CONNECT_TIMEOUT_S: '1', LLM_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-test-never-used' }, { agentFactory: scriptedAgents().factory });
    const { callId } = (await api<BrowserCallCreated>(t, 'POST', '/api/calls/browser')).body;
    const watcher = await Watcher.open(t, callId);
    await watcher.waitFor((m) => m.type === 'call_status' && m.status === 'failed', 15_000);
    watcher.close();
    for (const method of ['GET', 'POST'] as const) {
      const analysis = await api(t, method, `/api/calls/${callId}/analysis`);
      expect(analysis.status, method).to.equal(409);
      expect(analysis.body.error, method).to.equal('no_conversation');
    }
  });
});
